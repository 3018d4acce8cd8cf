//! What the SQL lock managers share: a lease's end and its instants and fencing tokens as the
//! `lock_leases` columns store them.

use std::time::Duration;

use booking_core::clock::Timestamp;
use booking_core::ports::backend::lock::lease_end;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use booking_core::ports::lock::FencingToken;
use booking_core::ports::lock::LockError;

use crate::codec::nanos;

/// `at` as stored, or `Invalid` outside the years the store keeps (1678 to 2262).
pub(crate) fn stored_instant(at: Timestamp) -> Result<i64, LockError> {
    nanos(at).map_err(|_| LockError::Invalid {
        reason: "the lease ends outside what the store keeps (years 1678 to 2262)",
    })
}

/// The end of a lease granted or extended at `now` for `ttl`, as an instant and as stored.
pub(crate) fn stored_lease_end(
    now: Timestamp,
    ttl: Duration,
) -> Result<(Timestamp, i64), LockError> {
    let end = lease_end(now, ttl)?;
    Ok((end, stored_instant(end)?))
}

#[cfg(any(feature = "sqlite", feature = "mysql"))]
/// A fencing token as its `bigint` column; no grant is ever past `i64`.
pub(crate) fn token_column(token: FencingToken) -> Result<i64, LockError> {
    i64::try_from(token.get()).map_err(|_| LockError::Invalid {
        reason: "fencing tokens are exhausted",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_fit_their_columns_or_are_refused() {
        let (end, end_ns) =
            stored_lease_end(Timestamp::UNIX_EPOCH, Duration::from_nanos(5)).unwrap();
        assert_eq!((end_ns, nanos(end).unwrap()), (5, 5));
        assert!(
            stored_lease_end(
                Timestamp::UNIX_EPOCH,
                Duration::from_secs(400 * 365 * 86_400)
            )
            .is_err()
        );
    }

    #[cfg(any(feature = "sqlite", feature = "mysql"))]
    #[test]
    fn tokens_fit_their_column_or_are_refused() {
        assert_eq!(token_column(FencingToken::new(7)).unwrap(), 7);
        assert!(token_column(FencingToken::new(u64::MAX)).is_err());
    }
}
