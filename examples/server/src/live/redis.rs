//! The live changes across processes: the relay publishes each [`Batch`] to the Redis channel
//! `{namespace}:live`, and every process subscribes and hands what it receives to its hub.
//!
//! Redis pub/sub delivers to the subscribers connected at the time, at most once. When the
//! subscription drops, the process subscribes again and resets its hub: its streams send a
//! fresh snapshot instead of trusting a ring that may have missed changes. On a Redis Cluster
//! a message published on any node reaches the subscribers of every node, so the subscription
//! connects to the first node listed.

use std::time::Duration;

use booking_redis::RedisConnection;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Batch, Live};

/// How long to wait before subscribing again after the subscription failed.
const RETRY: Duration = Duration::from_secs(1);

/// The channel of a namespace.
pub fn channel(namespace: &str) -> String {
    format!("{namespace}:live")
}

/// Publishes `batch` on `channel`.
pub async fn publish(
    conn: &RedisConnection,
    channel: &str,
    batch: &Batch,
) -> Result<(), crate::backend::BoxError> {
    let payload = serde_json::to_string(batch)?;
    let mut conn = conn.clone();
    let _receivers: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Subscribes to `channel` on the Redis at `url` and publishes every batch received to `live`
/// until `stopped` turns true; subscribes again after a failure.
pub fn subscribe(
    url: String,
    channel: String,
    live: Live,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                outcome = listen(&url, &channel, &live) => {
                    if let Err(e) = outcome {
                        tracing::warn!(error = %e, "the live changes' subscription failed");
                    }
                }
                _ = stopped.changed() => break,
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                _ = stopped.changed() => break,
            }
        }
    })
}

/// Listens until the connection drops.
async fn listen(url: &str, channel: &str, live: &Live) -> Result<(), crate::backend::BoxError> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    // Changes published while this process was not subscribed are lost to its ring.
    live.reset();
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload()?;
        match serde_json::from_str::<Batch>(&payload) {
            Ok(batch) => live.publish(&batch),
            Err(e) => tracing::warn!(error = %e, "an unreadable live batch was skipped"),
        }
    }
    Err("the connection closed".into())
}
