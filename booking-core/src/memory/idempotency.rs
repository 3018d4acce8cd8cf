//! [`MemoryIdempotencyStore`]: idempotency records in process memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::ports::backend::idempotency::{
    ClaimTerms, RecordState, StoredRecord, begin_answer, claim, retained_until,
};
use crate::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};

use super::sync::{Mutex, PoisonError};

#[derive(Debug, Clone)]
enum State {
    InFlight {
        token: u64,
        lease_expires_at: Timestamp,
    },
    Done(StoredOutcome),
}

#[derive(Debug, Clone)]
struct Record {
    fingerprint: Fingerprint,
    state: State,
    retain_until: Timestamp,
}

impl Record {
    /// The record as the shared `begin` rules weigh it.
    fn stored(&self) -> StoredRecord<'_> {
        StoredRecord {
            fingerprint: self.fingerprint.as_bytes(),
            state: match &self.state {
                State::InFlight {
                    lease_expires_at, ..
                } => RecordState::InFlight {
                    lease_expires_at: *lease_expires_at,
                },
                State::Done(outcome) => RecordState::Done(outcome.clone()),
            },
            retain_until: self.retain_until,
        }
    }
}

/// The records. Every operation takes `now` explicitly, so the loom models drive it without
/// a clock.
#[derive(Debug)]
pub(crate) struct IdempotencyTable {
    /// Per scope, so lookups borrow the caller's scope and key instead of cloning them.
    records: HashMap<Scope, HashMap<IdempotencyKey, Record>>,
    last_token: u64,
    retention: Duration,
}

impl IdempotencyTable {
    pub(crate) fn new(retention: Duration) -> Self {
        IdempotencyTable {
            records: HashMap::new(),
            last_token: 0,
            retention,
        }
    }

    pub(crate) fn begin(
        &mut self,
        now: Timestamp,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        let terms = ClaimTerms::new(now, lease, self.retention)?;
        let existing = self.records.get(scope).and_then(|keys| keys.get(key));
        if let Some(answer) = begin_answer(existing.map(Record::stored), fingerprint, now) {
            return Ok(answer);
        }
        let token = self
            .last_token
            .checked_add(1)
            .ok_or(IdempotencyError::Invalid {
                reason: "claim tokens are exhausted",
            })?;
        self.last_token = token;
        let record = Record {
            fingerprint: *fingerprint,
            state: State::InFlight {
                token,
                lease_expires_at: terms.lease_expires_at,
            },
            retain_until: terms.retain_until,
        };
        match self.records.get_mut(scope) {
            Some(keys) => {
                keys.insert(key.clone(), record);
            }
            None => {
                self.records
                    .insert(scope.clone(), HashMap::from([(key.clone(), record)]));
            }
        }
        Ok(BeginOutcome::Claimed(claim(
            scope.clone(),
            key.clone(),
            *fingerprint,
            token,
            terms.lease_expires_at,
        )))
    }

    /// The record `claim` still owns, if any. A claim past its lease that nobody took over
    /// still owns its record: no other request has acted on the key.
    fn owned(&mut self, now: Timestamp, claim: &Claim) -> Result<&mut Record, IdempotencyError> {
        self.records
            .get_mut(claim.scope())
            .and_then(|keys| keys.get_mut(claim.key()))
            .filter(|r| {
                r.retain_until > now
                    && matches!(r.state, State::InFlight { token, .. } if token == claim.token())
            })
            .ok_or(IdempotencyError::Lost)
    }

    pub(crate) fn complete(
        &mut self,
        now: Timestamp,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let retain_until = retained_until(now, self.retention);
        let record = self.owned(now, claim)?;
        record.state = State::Done(outcome);
        record.retain_until = retain_until;
        Ok(())
    }

    pub(crate) fn abandon(
        &mut self,
        now: Timestamp,
        claim: &Claim,
    ) -> Result<(), IdempotencyError> {
        self.owned(now, claim)?;
        if let Some(keys) = self.records.get_mut(claim.scope()) {
            keys.remove(claim.key());
            if keys.is_empty() {
                self.records.remove(claim.scope());
            }
        }
        Ok(())
    }

    pub(crate) fn purge_expired(&mut self, now: Timestamp, limit: usize) -> usize {
        let mut purged = 0;
        for keys in self.records.values_mut() {
            keys.retain(|_, r| {
                let forget = purged < limit && r.retain_until <= now;
                purged += usize::from(forget);
                !forget
            });
        }
        self.records.retain(|_, keys| !keys.is_empty());
        purged
    }
}

/// An in-process [`IdempotencyStore`]. Clones share the same records.
#[derive(Clone)]
pub struct MemoryIdempotencyStore {
    table: Arc<Mutex<IdempotencyTable>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryIdempotencyStore")
            .finish_non_exhaustive()
    }
}

impl MemoryIdempotencyStore {
    /// Records kept for `retention` after completion, on `clock`'s time.
    pub fn new(clock: Arc<dyn Clock>, retention: Duration) -> Self {
        MemoryIdempotencyStore {
            table: Arc::new(Mutex::new(IdempotencyTable::new(retention))),
            clock,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut IdempotencyTable, Timestamp) -> R) -> R {
        let now = self.clock.now();
        f(
            &mut self.table.lock().unwrap_or_else(PoisonError::into_inner),
            now,
        )
    }
}

#[async_trait::async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        self.with(|t, now| t.begin(now, scope, key, fingerprint, lease))
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        self.with(|t, now| t.complete(now, claim, outcome))
    }

    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError> {
        self.with(|t, now| t.abandon(now, claim))
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError> {
        Ok(self.with(|t, now| t.purge_expired(now, limit)))
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    //! What this store does beyond the port's contract; the contract itself is checked by the
    //! conformance suite (`testkit::idempotency`).
    use super::*;
    use crate::clock::ManualClock;

    const LEASE: Duration = Duration::from_secs(30);
    const RETENTION: Duration = Duration::from_secs(24 * 3600);

    fn store() -> (ManualClock, MemoryIdempotencyStore) {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        (
            clock.clone(),
            MemoryIdempotencyStore::new(Arc::new(clock), RETENTION),
        )
    }

    async fn claim(store: &MemoryIdempotencyStore, scope: &Scope) -> Claim {
        let key = IdempotencyKey::new("k").unwrap();
        let fp = Fingerprint::of_json_request("POST", "/payments", b"{}").unwrap();
        match store.begin(scope, &key, &fp, LEASE).await.unwrap() {
            BeginOutcome::Claimed(claim) => claim,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    /// No other request acted on the key, so the late worker's outcome is still the one.
    #[tokio::test]
    async fn a_claim_past_its_lease_that_nobody_took_can_still_complete() {
        let (clock, store) = store();
        let claim = claim(&store, &Scope::tenant("shop")).await;
        clock.advance(LEASE * 2);
        let outcome = StoredOutcome {
            status: 200,
            body: Vec::new(),
        };
        store.complete(&claim, outcome).await.unwrap();
    }

    /// Purging is the only way this store frees space, so it counts exactly and stops at
    /// its limit.
    #[tokio::test]
    async fn purging_stops_at_the_limit() {
        let (clock, store) = store();
        for tenant in ["a", "b", "c"] {
            claim(&store, &Scope::tenant(tenant)).await;
        }
        clock.advance(RETENTION);
        assert_eq!(store.purge_expired(2).await.unwrap(), 2);
        assert_eq!(store.purge_expired(2).await.unwrap(), 1);
        assert_eq!(store.purge_expired(2).await.unwrap(), 0);
    }
}
