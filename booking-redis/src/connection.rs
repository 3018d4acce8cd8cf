//! [`RedisConnection`]: one handle for standalone Redis and for Redis Cluster.
//!
//! Every port of this crate runs its scripts through a `RedisConnection`. On a standalone
//! server it is a [`ConnectionManager`] (one multiplexed connection that reconnects in the
//! background after a drop); on a cluster it is a [`ClusterConnection`] (which routes each
//! script to the node serving its keys' slot and follows `MOVED` and `ASK` redirections).
//! Cloning is cheap: clones share the connection.
//!
//! Both are built with short timeouts ([`Timeouts`]) so that an unreachable Redis is an error
//! within about a second, not a request hanging for minutes: a sale in front of which Redis
//! went down answers "try again" at once instead of piling requests up.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::error::RedisFailure;

/// How long a connection waits before it calls Redis unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One attempt to open a connection.
    pub connect: Duration,
    /// One command or script, from sending it to its answer.
    pub response: Duration,
}

impl Default for Timeouts {
    /// 500 ms to connect, 2 s for an answer: far above a healthy Redis's latency, short
    /// enough that a caller facing an outage hears about it within seconds.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_secs(2),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No URL was given for a cluster.
    #[error("a Redis Cluster needs at least one node URL")]
    NoNodes,
    /// The URL is malformed or Redis did not answer.
    #[error("could not connect to Redis at {target}")]
    Redis {
        /// The server or cluster nodes asked for, without credentials.
        target: String,
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
}

/// A connection to standalone Redis or to a Redis Cluster; see the [module docs](self).
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: say only which kind of connection this is.
        f.debug_struct("RedisConnection")
            .field("cluster", &self.is_cluster())
            .finish_non_exhaustive()
    }
}

/// `url` with any password replaced, for error messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl RedisConnection {
    /// Connects to the standalone server at `url` (`redis://host:port/db`) with the default
    /// [`Timeouts`].
    ///
    /// # Errors
    /// [`ConnectError::Redis`] if the URL is malformed or the server does not answer.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, Timeouts::default()).await
    }

    /// Connects to the standalone server at `url` with `timeouts`. After a dropped
    /// connection the manager reconnects in the background, trying twice before it reports
    /// the server unreachable to the waiting calls.
    ///
    /// # Errors
    /// [`ConnectError::Redis`] if the URL is malformed or the server does not answer.
    pub async fn connect_with(url: &str, timeouts: Timeouts) -> Result<Self, ConnectError> {
        let failed = |source| ConnectError::Redis {
            target: redacted(url),
            source,
        };
        let client = redis::Client::open(url).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_number_of_retries(2)
            .set_max_delay(timeouts.connect);
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(failed)?;
        Ok(Self::from_manager(manager))
    }

    /// Connects to the Redis Cluster reachable at any of `nodes` (`redis://host:port` each)
    /// with the default [`Timeouts`].
    ///
    /// # Errors
    /// [`ConnectError::NoNodes`] for an empty list; [`ConnectError::Redis`] if no node
    /// answers or the cluster's slots are not all served.
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self, ConnectError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::connect_cluster_with(nodes, Timeouts::default()).await
    }

    /// Connects to the Redis Cluster reachable at any of `nodes` with `timeouts`.
    ///
    /// # Errors
    /// As [`connect_cluster`](Self::connect_cluster).
    pub async fn connect_cluster_with<I, S>(
        nodes: I,
        timeouts: Timeouts,
    ) -> Result<Self, ConnectError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(ConnectError::NoNodes);
        }
        let failed = |source| ConnectError::Redis {
            target: nodes
                .iter()
                .map(|n| redacted(n))
                .collect::<Vec<_>>()
                .join(", "),
            source,
        };
        let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .connection_timeout(timeouts.connect)
            .response_timeout(timeouts.response)
            .build()
            .map_err(failed)?;
        let connection = client.get_async_connection().await.map_err(failed)?;
        Ok(Self::from_cluster(connection))
    }

    /// Wraps a connection manager the application built itself.
    pub fn from_manager(manager: ConnectionManager) -> Self {
        RedisConnection {
            inner: Inner::Standalone(manager),
        }
    }

    /// Wraps a cluster connection the application built itself.
    pub fn from_cluster(connection: ClusterConnection) -> Self {
        RedisConnection {
            inner: Inner::Cluster(connection),
        }
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }

    /// Sends `PING` (on a cluster, to one node): whether Redis answers now, for readiness
    /// checks.
    ///
    /// # Errors
    /// The [`RedisFailure`] saying why it did not answer.
    pub async fn ping(&self) -> Result<(), RedisFailure> {
        let mut conn = self.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Standalone(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Standalone(c) => c.get_db(),
            Inner::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("redis://user:secret@db.internal:6379/0"),
            "redis://…@db.internal:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
