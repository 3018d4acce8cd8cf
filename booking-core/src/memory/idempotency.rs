//! [`MemoryIdempotencyStore`]: idempotency records in process memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::policy::{add_saturating, span_between};
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
        let existing = self.records.get(scope).and_then(|keys| keys.get(key));
        if let Some(record) = existing.filter(|r| r.retain_until > now) {
            if record.fingerprint != *fingerprint {
                return Ok(BeginOutcome::Mismatch);
            }
            match &record.state {
                State::Done(outcome) => return Ok(BeginOutcome::Replay(outcome.clone())),
                State::InFlight {
                    lease_expires_at: live,
                    ..
                } if *live > now => {
                    return Ok(BeginOutcome::InFlight {
                        retry_after: span_between(now, *live),
                    });
                }
                // A claim whose lease ran out: its worker is presumed dead, take it over.
                State::InFlight { .. } => {}
            }
        }
        let token = self
            .last_token
            .checked_add(1)
            .ok_or(IdempotencyError::Invalid {
                reason: "claim tokens are exhausted",
            })?;
        self.last_token = token;
        let retain_until = add_saturating(now, self.retention).max(lease_expires_at);
        let record = Record {
            fingerprint: *fingerprint,
            state: State::InFlight {
                token,
                lease_expires_at,
            },
            retain_until,
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
        Ok(BeginOutcome::Claimed(Claim::new(
            scope.clone(),
            key.clone(),
            *fingerprint,
            token,
            lease_expires_at,
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
        let retain_until = add_saturating(now, self.retention);
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
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::new(k).unwrap()
    }

    fn fp(body: &str) -> Fingerprint {
        Fingerprint::of_json_request("POST", "/payments", body.as_bytes()).unwrap()
    }

    fn claimed(outcome: BeginOutcome) -> Claim {
        match outcome {
            BeginOutcome::Claimed(claim) => claim,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    async fn claim(store: &MemoryIdempotencyStore, scope: &Scope, body: &str) -> Claim {
        claimed(
            store
                .begin(scope, &key("k"), &fp(body), LEASE)
                .await
                .unwrap(),
        )
    }

    fn stored(status: u16, body: &str) -> StoredOutcome {
        StoredOutcome {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn a_completed_request_is_replayed_and_a_different_one_is_a_mismatch() {
        let (_, store) = store();
        let scope = Scope::user("shop", "u1");
        let claim = claim(&store, &scope, "{}").await;
        let response = StoredOutcome {
            status: 201,
            body: b"{\"id\":1}".to_vec(),
        };
        store.complete(&claim, response.clone()).await.unwrap();
        let replay = store
            .begin(&scope, &key("k"), &fp("{ }"), LEASE)
            .await
            .unwrap();
        assert_eq!(replay.http_status(), Some(201));
        assert_eq!(replay, BeginOutcome::Replay(response));
        let other = store
            .begin(&scope, &key("k"), &fp(r#"{"a":1}"#), LEASE)
            .await
            .unwrap();
        assert_eq!(other, BeginOutcome::Mismatch);
        assert_eq!(other.http_status(), Some(422));
        // A completed claim cannot complete twice.
        assert!(matches!(
            store.complete(&claim, stored(500, "")).await,
            Err(IdempotencyError::Lost)
        ));
    }

    #[tokio::test]
    async fn a_live_claim_is_in_flight_until_its_lease_ends_then_taken_over() {
        let (clock, store) = store();
        let scope = Scope::tenant("shop");
        let first = claim(&store, &scope, "{}").await;
        clock.advance(Duration::from_secs(10));
        let busy = store
            .begin(&scope, &key("k"), &fp("{}"), LEASE)
            .await
            .unwrap();
        assert_eq!(
            busy,
            BeginOutcome::InFlight {
                retry_after: Duration::from_secs(20)
            }
        );
        assert_eq!(busy.http_status(), Some(409));
        assert_eq!(busy.retry_after_secs(), Some(20));
        let almost = BeginOutcome::InFlight {
            retry_after: Duration::from_millis(1),
        };
        assert_eq!(almost.retry_after_secs(), Some(1));
        // The first worker crashed: once its lease ends, a retry takes over.
        clock.advance(Duration::from_secs(20));
        let second = claim(&store, &scope, "{}").await;
        assert_ne!(first.token(), second.token());
        let late = stored(200, "first");
        assert!(matches!(
            store.complete(&first, late).await,
            Err(IdempotencyError::Lost)
        ));
        assert!(matches!(
            store.abandon(&first).await,
            Err(IdempotencyError::Lost)
        ));
        store
            .complete(&second, stored(200, "second"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_claim_past_its_lease_that_nobody_took_can_still_complete() {
        let (clock, store) = store();
        let scope = Scope::tenant("shop");
        let claim = claim(&store, &scope, "{}").await;
        clock.advance(LEASE * 2);
        store.complete(&claim, stored(200, "")).await.unwrap();
    }

    #[tokio::test]
    async fn abandon_frees_the_key_for_any_request() {
        let (_, store) = store();
        let scope = Scope::tenant("shop");
        let claim = claim(&store, &scope, "{}").await;
        store.abandon(&claim).await.unwrap();
        claimed(
            store
                .begin(&scope, &key("k"), &fp(r#"{"new":true}"#), LEASE)
                .await
                .unwrap(),
        );
    }

    #[tokio::test]
    async fn records_are_forgotten_after_retention() {
        let (clock, store) = store();
        let scope = Scope::tenant("shop");
        let claim = claim(&store, &scope, "{}").await;
        store.complete(&claim, stored(200, "")).await.unwrap();
        clock.advance(RETENTION - Duration::from_secs(1));
        assert!(matches!(
            store
                .begin(&scope, &key("k"), &fp("{}"), LEASE)
                .await
                .unwrap(),
            BeginOutcome::Replay(_)
        ));
        assert_eq!(store.purge_expired(10).await.unwrap(), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(store.purge_expired(10).await.unwrap(), 1);
        claimed(
            store
                .begin(&scope, &key("k"), &fp(r#"{"x":1}"#), LEASE)
                .await
                .unwrap(),
        );
    }

    #[tokio::test]
    async fn purging_stops_at_the_limit() {
        let (clock, store) = store();
        for tenant in ["a", "b", "c"] {
            claim(&store, &Scope::tenant(tenant), "{}").await;
        }
        clock.advance(RETENTION);
        assert_eq!(store.purge_expired(2).await.unwrap(), 2);
        assert_eq!(store.purge_expired(2).await.unwrap(), 1);
        assert_eq!(store.purge_expired(2).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn scopes_never_collide() {
        let (_, store) = store();
        for scope in [
            Scope::tenant("a"),
            Scope::tenant("b"),
            Scope::user("a", "u1"),
            Scope::user("a", "u2"),
        ] {
            claimed(
                store
                    .begin(&scope, &key("same"), &fp("{}"), LEASE)
                    .await
                    .unwrap(),
            );
        }
    }

    #[tokio::test]
    async fn a_zero_lease_is_refused() {
        let (_, store) = store();
        let err = store
            .begin(&Scope::tenant("a"), &key("k"), &fp("{}"), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::Invalid { .. }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn exactly_one_of_many_parallel_begins_claims() {
        let store = MemoryIdempotencyStore::new(Arc::new(crate::clock::SystemClock), RETENTION);
        let store: Arc<dyn IdempotencyStore> = Arc::new(store);
        for round in 0..200 {
            let claims = Arc::new(AtomicUsize::new(0));
            let k = key(&format!("k-{round}"));
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (store, claims, k) = (Arc::clone(&store), Arc::clone(&claims), k.clone());
                    tokio::spawn(async move {
                        let outcome = store
                            .begin(&Scope::tenant("t"), &k, &fp("{}"), LEASE)
                            .await
                            .unwrap();
                        match outcome {
                            BeginOutcome::Claimed(_) => {
                                claims.fetch_add(1, Ordering::SeqCst);
                            }
                            BeginOutcome::InFlight { .. } => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(claims.load(Ordering::SeqCst), 1, "round {round}");
        }
    }
}
