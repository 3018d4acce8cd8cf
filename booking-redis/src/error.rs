//! What went wrong with Redis, as the `source` of every port's `Backend` error.
//!
//! Each port reports a Redis failure as its own `Backend { backend: "redis", source }`
//! variant; the source is a [`RedisFailure`] that says what the caller can conclude: whether
//! the call never reached Redis (nothing changed), or reached it without an answer coming
//! back (the script ran completely or not at all: re-read before retrying).

use booking_core::ports::coupon::CouponError;
use booking_core::ports::idempotency::IdempotencyError;
use booking_core::ports::lock::LockError;
use booking_core::ports::queue::QueueError;
use redis::RedisError;

/// The `backend` name in every port error of this crate.
pub(crate) const BACKEND: &str = "redis";

/// Why a call to Redis failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisFailure {
    /// Redis could not be reached (refused connection, no connection within the connect
    /// timeout): coordination is unavailable, the call was not run and nothing changed.
    #[error("coordination unavailable: Redis could not be reached")]
    Unavailable(#[source] RedisError),
    /// The call was sent and no answer came back (the connection dropped, or the answer took
    /// longer than the response timeout). Scripts are atomic: it ran completely or not at
    /// all. Read the state again before retrying.
    #[error("Redis did not answer; the call ran completely or not at all")]
    NoAnswer(#[source] RedisError),
    /// Redis answered with an error: a script error, a full memory, a cluster that could not
    /// route the call. Nothing changed.
    #[error("Redis refused the call")]
    Refused(#[source] RedisError),
    /// Redis holds or returned a value this crate did not write (another program used the
    /// namespace, or the answer had an unexpected shape).
    #[error("unexpected value in Redis: {0}")]
    Corrupt(String),
}

impl RedisFailure {
    /// Sorts a driver error by what the caller can conclude from it.
    pub(crate) fn classify(err: RedisError) -> Self {
        if err.is_connection_refusal() {
            RedisFailure::Unavailable(err)
        } else if err.is_timeout() || err.is_connection_dropped() || err.is_io_error() {
            RedisFailure::NoAnswer(err)
        } else {
            RedisFailure::Refused(err)
        }
    }

    /// A value this crate cannot read.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        RedisFailure::Corrupt(what.into())
    }

    /// Whether the call certainly did not change anything in Redis.
    pub fn changed_nothing(&self) -> bool {
        matches!(
            self,
            RedisFailure::Unavailable(_) | RedisFailure::Refused(_)
        )
    }
}

impl From<RedisError> for RedisFailure {
    fn from(err: RedisError) -> Self {
        RedisFailure::classify(err)
    }
}

/// A port error that can carry a [`RedisFailure`] as its backend failure.
pub(crate) trait FromFailure {
    /// The port's `Backend` variant around `failure`.
    fn from_failure(failure: RedisFailure) -> Self;
}

macro_rules! backend_error {
    ($($error:ident),+) => {$(
        impl FromFailure for $error {
            fn from_failure(failure: RedisFailure) -> Self {
                $error::Backend {
                    backend: BACKEND,
                    source: Box::new(failure),
                }
            }
        }
    )+};
}

backend_error!(LockError, IdempotencyError, QueueError, CouponError);

/// Converts driver results into a port's error type.
pub(crate) trait Port<T> {
    /// The port error `E` for a failure.
    fn port<E: FromFailure>(self) -> Result<T, E>;
}

impl<T> Port<T> for Result<T, RedisError> {
    fn port<E: FromFailure>(self) -> Result<T, E> {
        self.map_err(|e| E::from_failure(RedisFailure::classify(e)))
    }
}

impl<T> Port<T> for Result<T, RedisFailure> {
    fn port<E: FromFailure>(self) -> Result<T, E> {
        self.map_err(E::from_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_and_unreachable_servers_certainly_changed_nothing() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(RedisFailure::classify(refused).changed_nothing());
        let dropped = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(!RedisFailure::classify(dropped).changed_nothing());
        assert!(!RedisFailure::corrupt("x").changed_nothing());
    }

    #[test]
    fn port_errors_name_the_backend() {
        let err: LockError = LockError::from_failure(RedisFailure::corrupt("x"));
        assert!(matches!(
            err,
            LockError::Backend {
                backend: "redis",
                ..
            }
        ));
    }
}
