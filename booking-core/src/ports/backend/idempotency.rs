//! For implementors of [`IdempotencyStore`]: the lease and retention rules every store
//! applies, as pure functions of the stored record and `now` (stores differ in how they read
//! and write records atomically, never in what a record means), and the claims `begin` hands
//! out.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::policy::{add_saturating, span_between};

#[cfg(doc)]
use crate::ports::idempotency::IdempotencyStore;
use crate::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, Scope, StoredOutcome,
};

/// When a claim made at `now` lapses, and until when its record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTerms {
    /// When another request may take the key over.
    pub lease_expires_at: Timestamp,
    /// Until when the record is kept: the retention period, and never less than the lease.
    pub retain_until: Timestamp,
}

impl ClaimTerms {
    /// The terms of a claim made at `now` for `lease`, on a store keeping records for
    /// `retention`; [`IdempotencyError::Invalid`] for a zero lease or one past the clock.
    pub fn new(
        now: Timestamp,
        lease: Duration,
        retention: Duration,
    ) -> Result<Self, IdempotencyError> {
        if lease.is_zero() {
            return Err(IdempotencyError::Invalid {
                reason: "the claim lease is zero",
            });
        }
        let lease_expires_at = now
            .checked_add(lease)
            .map_err(|_| IdempotencyError::Invalid {
                reason: "the claim lease reaches past the largest timestamp",
            })?;
        Ok(ClaimTerms {
            lease_expires_at,
            retain_until: retained_until(now, retention).max(lease_expires_at),
        })
    }
}

/// Until when a record completed at `now` is kept: `now + retention`, saturating at the
/// largest timestamp (a retention of "forever").
pub fn retained_until(now: Timestamp, retention: Duration) -> Timestamp {
    add_saturating(now, retention)
}

/// Where a stored record's request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// Claimed and not yet completed.
    InFlight {
        /// When the claim's lease runs out.
        lease_expires_at: Timestamp,
    },
    /// Completed with this response.
    Done(StoredOutcome),
}

/// A stored record as [`begin_answer`] weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord<'a> {
    /// The fingerprint bytes of the request that claimed the key.
    pub fingerprint: &'a [u8],
    /// In flight or done.
    pub state: RecordState,
    /// Until when the record is kept; from then on it is as if it never was.
    pub retain_until: Timestamp,
}

/// What `begin` with `fingerprint` answers at `now`, given the record stored under the key:
/// `None` when the key may be claimed (no record, one past retention, or a claim of the same
/// request whose lease ran out, its worker presumed dead); otherwise
/// [`Mismatch`](BeginOutcome::Mismatch) for another request,
/// [`Replay`](BeginOutcome::Replay) once done, [`InFlight`](BeginOutcome::InFlight) while
/// the claim's lease runs.
pub fn begin_answer(
    record: Option<StoredRecord<'_>>,
    fingerprint: &Fingerprint,
    now: Timestamp,
) -> Option<BeginOutcome> {
    let record = record.filter(|r| r.retain_until > now)?;
    if record.fingerprint != fingerprint.as_bytes().as_slice() {
        return Some(BeginOutcome::Mismatch);
    }
    match record.state {
        RecordState::Done(outcome) => Some(BeginOutcome::Replay(outcome)),
        RecordState::InFlight { lease_expires_at } if lease_expires_at > now => {
            Some(BeginOutcome::InFlight {
                retry_after: span_between(now, lease_expires_at),
            })
        }
        RecordState::InFlight { .. } => None,
    }
}

/// The claim [`IdempotencyStore::begin`] grants on `key` of `scope` for the request with
/// `fingerprint`, until `lease_expires_at`; `token` must differ from every earlier claim of the
/// same key (it is how a taken-over claim is told apart).
pub fn claim(
    scope: Scope,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    token: u64,
    lease_expires_at: Timestamp,
) -> Claim {
    Claim::new(scope, key, fingerprint, token, lease_expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap()
    }

    fn fingerprint(body: &[u8]) -> Fingerprint {
        Fingerprint::of_json_request("POST", "/payments", body).unwrap()
    }

    #[test]
    fn a_claim_is_retained_at_least_as_long_as_its_lease() {
        let terms = ClaimTerms::new(at(0), MINUTE * 10, MINUTE).unwrap();
        assert_eq!(terms.lease_expires_at, at(600));
        assert_eq!(terms.retain_until, at(600));
        let terms = ClaimTerms::new(at(0), MINUTE, MINUTE * 10).unwrap();
        assert_eq!(terms.retain_until, at(600));
        assert_eq!(retained_until(at(0), Duration::MAX), Timestamp::MAX);
    }

    #[test]
    fn zero_and_overflowing_leases_are_invalid() {
        for (now, lease) in [(at(0), Duration::ZERO), (Timestamp::MAX, MINUTE)] {
            assert!(matches!(
                ClaimTerms::new(now, lease, MINUTE),
                Err(IdempotencyError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn begin_answers_from_a_retained_record() {
        let fp = fingerprint(b"{}");
        let in_flight = StoredRecord {
            fingerprint: fp.as_bytes(),
            state: RecordState::InFlight {
                lease_expires_at: at(30),
            },
            retain_until: at(100),
        };
        assert_eq!(begin_answer(None, &fp, at(0)), None);
        assert_eq!(
            begin_answer(Some(in_flight.clone()), &fp, at(10)),
            Some(BeginOutcome::InFlight {
                retry_after: Duration::from_secs(20)
            })
        );
        // The lease ran out: the same request takes the key over, another is refused.
        assert_eq!(begin_answer(Some(in_flight.clone()), &fp, at(30)), None);
        let other = fingerprint(b"{\"a\":1}");
        assert_eq!(
            begin_answer(Some(in_flight.clone()), &other, at(30)),
            Some(BeginOutcome::Mismatch)
        );
        // Past retention the record is forgotten.
        assert_eq!(begin_answer(Some(in_flight), &other, at(100)), None);
        let outcome = StoredOutcome {
            status: 201,
            body: b"ok".to_vec(),
        };
        let done = StoredRecord {
            fingerprint: fp.as_bytes(),
            state: RecordState::Done(outcome.clone()),
            retain_until: at(100),
        };
        assert_eq!(
            begin_answer(Some(done), &fp, at(50)),
            Some(BeginOutcome::Replay(outcome))
        );
    }
}
