//! The baseline: the SSE fan-out one would write by hand with axum and a tokio broadcast
//! channel — one sender, one receiver per stream, each event serialized per stream as the
//! server does, and a stream that falls behind simply ended.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use example_server::live::Change;
use futures_util::Stream;
use tokio::sync::broadcast;

/// Buffered events per channel: the server's own figure (`example_server::live::CHANNEL`),
/// so the two differ in what surrounds the channel, not in the channel.
const CAPACITY: usize = example_server::live::CHANNEL;

/// Serves the hand-written stream at `/stream` on an ephemeral loopback port: its URL and
/// the sender that feeds it.
pub(crate) async fn serve() -> (String, broadcast::Sender<Arc<Change>>) {
    let (sender, _) = broadcast::channel(CAPACITY);
    let app = Router::new()
        .route("/stream", get(stream))
        .with_state(sender.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sender)
}

async fn stream(
    State(sender): State<broadcast::Sender<Arc<Change>>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures_util::stream::unfold(sender.subscribe(), |mut receiver| async move {
        // A lagged or closed receiver ends the stream; the bench's count shows any loss.
        let change = receiver.recv().await.ok()?;
        let data = serde_json::to_string(&*change).unwrap_or_default();
        let event = Event::default()
            .event(change.event_name())
            .id(change.position.to_string())
            .data(data);
        Some((Ok(event), receiver))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
