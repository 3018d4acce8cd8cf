//! What the SQL idempotency stores share: instants as the `*_ns` columns store them, a
//! record's row decoded into the [`StoredRecord`] booking-core's `begin` rules weigh, scopes
//! as text, and the answer of a statement on a claim's record.

use booking_core::clock::Timestamp;
use booking_core::ports::backend::idempotency::{RecordState, StoredRecord, begin_answer};
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use booking_core::ports::idempotency::Scope;
use booking_core::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyError, StoredOutcome,
};

use crate::codec::{instant, nanos};
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use crate::error::Backend;
use crate::error::DbError;

/// `at` as stored, or `Invalid` outside the years the store keeps (1678 to 2262).
pub(crate) fn stored_instant(at: Timestamp) -> Result<i64, IdempotencyError> {
    nanos(at).map_err(|_| IdempotencyError::Invalid {
        reason: "the instant is outside what the store keeps (years 1678 to 2262)",
    })
}

/// A retention end as stored: past the stored range it is the largest instant, "forever".
pub(crate) fn stored_retention(until: Timestamp) -> i64 {
    nanos(until).unwrap_or(i64::MAX)
}

#[cfg(any(feature = "sqlite", feature = "mysql"))]
/// A scope as its stored text: its JSON form, so no two scopes share a text.
pub(crate) fn scope_text(scope: &Scope, backend: Backend) -> Result<String, IdempotencyError> {
    serde_json::to_string(scope).map_err(|e| IdempotencyError::Backend {
        backend: backend.name(),
        source: Box::new(e),
    })
}

/// A claim token as its column; a token past `i64` can own no record.
pub(crate) fn token_column(token: u64) -> Result<i64, IdempotencyError> {
    i64::try_from(token).map_err(|_| IdempotencyError::Lost)
}

/// A record's row as `begin` reads it (select the columns under these names).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecordRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) status: Option<i32>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) lease_expires_ns: i64,
    pub(crate) retain_until_ns: i64,
}

impl RecordRow {
    /// The record the row stores.
    fn stored(&self) -> Result<StoredRecord<'_>, DbError> {
        let state = match self.status {
            Some(status) => RecordState::Done(StoredOutcome {
                status: u16::try_from(status)
                    .map_err(|_| DbError::corrupt("idempotency record", "status out of range"))?,
                body: self.body.clone().unwrap_or_default(),
            }),
            None => RecordState::InFlight {
                lease_expires_at: instant(self.lease_expires_ns)?,
            },
        };
        Ok(StoredRecord {
            fingerprint: &self.fingerprint,
            state,
            retain_until: instant(self.retain_until_ns)?,
        })
    }
}

/// What `begin` with `fingerprint` answers at `now` given the stored `row` (see
/// [`begin_answer`]); `None`: claim the key.
pub(crate) fn answer(
    row: Option<&RecordRow>,
    fingerprint: &Fingerprint,
    now: Timestamp,
) -> Result<Option<BeginOutcome>, DbError> {
    let record = row.map(RecordRow::stored).transpose()?;
    Ok(begin_answer(record, fingerprint, now))
}

/// The answer of a conditional statement on a claim's record that changed `changed` rows:
/// the claim owned it, or it was `Lost` (taken over or forgotten).
pub(crate) fn owned(changed: u64) -> Result<(), IdempotencyError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(IdempotencyError::Lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Option<i32>) -> RecordRow {
        let fingerprint = Fingerprint::of_json_request("POST", "/p", b"{}").unwrap();
        RecordRow {
            fingerprint: fingerprint.as_bytes().to_vec(),
            status,
            body: status.map(|_| b"ok".to_vec()),
            lease_expires_ns: 30,
            retain_until_ns: 100,
        }
    }

    #[test]
    fn rows_answer_like_the_records_they_store() {
        let fp = Fingerprint::of_json_request("POST", "/p", b"{}").unwrap();
        let at = |ns: i64| instant(ns).unwrap();
        let replay = answer(Some(&row(Some(201))), &fp, at(0)).unwrap();
        assert!(matches!(replay, Some(BeginOutcome::Replay(o)) if o.status == 201));
        let in_flight = answer(Some(&row(None)), &fp, at(10)).unwrap();
        assert!(matches!(in_flight, Some(BeginOutcome::InFlight { .. })));
        assert!(answer(Some(&row(None)), &fp, at(30)).unwrap().is_none());
        assert!(answer(None, &fp, at(0)).unwrap().is_none());
        assert!(answer(Some(&row(Some(-1))), &fp, at(0)).is_err());
    }

    #[test]
    fn retention_past_the_stored_range_is_forever() {
        assert_eq!(stored_retention(Timestamp::MAX), i64::MAX);
        assert!(stored_instant(Timestamp::MAX).is_err());
        assert_eq!(stored_retention(Timestamp::UNIX_EPOCH), 0);
    }

    #[test]
    fn only_one_changed_row_means_the_claim_owned_its_record() {
        assert!(owned(1).is_ok());
        assert!(matches!(owned(0), Err(IdempotencyError::Lost)));
    }
}
