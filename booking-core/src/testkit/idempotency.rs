//! The [`IdempotencyStore`](crate::ports::idempotency::IdempotencyStore) suite: one claim
//! per key, replay of completed requests, takeover of expired claims, retention.
//!
//! Leases and retention are measured on the backend's clock, which the suite moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::{Backend, IDEMPOTENCY_RETENTION};
use crate::clock::Clock;
use crate::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, Scope, StoredOutcome,
};

const LEASE: Duration = Duration::from_secs(30);

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

fn fp(body: &str) -> Fingerprint {
    Fingerprint::of_json_request("POST", "/payments", body.as_bytes()).unwrap()
}

fn stored(status: u16, body: &str) -> StoredOutcome {
    StoredOutcome {
        status,
        body: body.as_bytes().to_vec(),
    }
}

fn claimed(outcome: BeginOutcome) -> Claim {
    match outcome {
        BeginOutcome::Claimed(claim) => claim,
        other => panic!("expected a claim, got {other:?}"),
    }
}

async fn begin(b: &Backend, scope: &Scope, body: &str) -> BeginOutcome {
    b.idempotency
        .begin(scope, &key("k"), &fp(body), LEASE)
        .await
        .unwrap()
}

/// A completed request is replayed to a retry with the same request (JSON spacing aside);
/// a different request under the key is a mismatch; a completed claim cannot complete again.
pub async fn idempotency_completed_request_is_replayed(b: Backend) {
    let scope = Scope::user("shop", "u1");
    let claim = claimed(begin(&b, &scope, "{}").await);
    let response = stored(201, "{\"id\":1}");
    b.idempotency
        .complete(&claim, response.clone())
        .await
        .unwrap();
    let replay = begin(&b, &scope, "{ }").await;
    assert_eq!(replay.http_status(), Some(201));
    assert_eq!(replay, BeginOutcome::Replay(response));
    let other = begin(&b, &scope, r#"{"a":1}"#).await;
    assert_eq!(other, BeginOutcome::Mismatch);
    assert_eq!(other.http_status(), Some(422));
    assert!(matches!(
        b.idempotency.complete(&claim, stored(500, "")).await,
        Err(IdempotencyError::Lost)
    ));
    assert!(matches!(
        b.idempotency.abandon(&claim).await,
        Err(IdempotencyError::Lost)
    ));
}

/// A live claim is in flight (with the time left on its lease) until the lease ends; then a
/// retry takes it over and the first claim can neither complete nor abandon.
pub async fn idempotency_expired_claim_is_taken_over(b: Backend) {
    let scope = Scope::tenant("shop");
    let first = claimed(begin(&b, &scope, "{}").await);
    assert_eq!(
        first.lease_expires_at(),
        b.clock.now().checked_add(LEASE).unwrap()
    );
    b.clock.advance(Duration::from_secs(10));
    let busy = begin(&b, &scope, "{}").await;
    assert_eq!(
        busy,
        BeginOutcome::InFlight {
            retry_after: Duration::from_secs(20)
        }
    );
    assert_eq!(busy.http_status(), Some(409));
    assert_eq!(busy.retry_after_secs(), Some(20));
    assert_eq!(
        begin(&b, &scope, r#"{"x":2}"#).await,
        BeginOutcome::Mismatch
    );

    // The first worker crashed: once its lease ends, a retry takes over.
    b.clock.advance(Duration::from_secs(20));
    let second = claimed(begin(&b, &scope, "{}").await);
    assert_ne!(first.token(), second.token());
    assert!(matches!(
        b.idempotency.complete(&first, stored(200, "first")).await,
        Err(IdempotencyError::Lost)
    ));
    assert!(matches!(
        b.idempotency.abandon(&first).await,
        Err(IdempotencyError::Lost)
    ));
    b.idempotency
        .complete(&second, stored(200, "second"))
        .await
        .unwrap();
    assert_eq!(
        begin(&b, &scope, "{}").await,
        BeginOutcome::Replay(stored(200, "second"))
    );
}

/// Abandoning a claim frees the key for any request, even a different one; the abandoned
/// claim can neither complete nor abandon the claim that came after it.
pub async fn idempotency_abandon_frees_the_key(b: Backend) {
    let scope = Scope::tenant("shop");
    let claim = claimed(begin(&b, &scope, "{}").await);
    b.idempotency.abandon(&claim).await.unwrap();
    let next = claimed(begin(&b, &scope, r#"{"new":true}"#).await);
    assert_ne!(next.token(), claim.token());
    assert!(matches!(
        b.idempotency.complete(&claim, stored(200, "stale")).await,
        Err(IdempotencyError::Lost)
    ));
    assert!(matches!(
        b.idempotency.abandon(&claim).await,
        Err(IdempotencyError::Lost)
    ));
    b.idempotency
        .complete(&next, stored(201, "new"))
        .await
        .unwrap();
    assert_eq!(
        begin(&b, &scope, r#"{"new":true}"#).await,
        BeginOutcome::Replay(stored(201, "new"))
    );
}

/// A completed record is replayed until the retention period ends, survives a purge before
/// then, and is forgotten after (a purge counts it): the key may be used afresh.
pub async fn idempotency_records_are_forgotten_after_retention(b: Backend) {
    let scope = Scope::tenant("shop");
    let claim = claimed(begin(&b, &scope, "{}").await);
    b.idempotency
        .complete(&claim, stored(200, ""))
        .await
        .unwrap();
    b.clock
        .advance(IDEMPOTENCY_RETENTION - Duration::from_secs(1));
    assert_eq!(b.idempotency.purge_expired(10).await.unwrap(), 0);
    assert!(matches!(
        begin(&b, &scope, "{}").await,
        BeginOutcome::Replay(_)
    ));
    b.clock.advance(Duration::from_secs(1));
    assert_eq!(b.idempotency.purge_expired(10).await.unwrap(), 1);
    assert_eq!(b.idempotency.purge_expired(10).await.unwrap(), 0);
    claimed(begin(&b, &scope, r#"{"x":1}"#).await);
}

/// The same key in different scopes names different requests.
pub async fn idempotency_scopes_never_collide(b: Backend) {
    for scope in [
        Scope::tenant("a"),
        Scope::tenant("b"),
        Scope::user("a", "u1"),
        Scope::user("a", "u2"),
    ] {
        claimed(begin(&b, &scope, "{}").await);
    }
}

/// A zero lease is an invalid request.
pub async fn idempotency_zero_lease_is_refused(b: Backend) {
    let err = b
        .idempotency
        .begin(&Scope::tenant("a"), &key("k"), &fp("{}"), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Invalid { .. }));
    claimed(begin(&b, &Scope::tenant("a"), "{}").await);
}

/// Sixteen concurrent `begin`s with one key: exactly one is claimed, the rest are in flight;
/// once it completes, concurrent retries all replay. Repeated.
pub async fn idempotency_concurrent_begin_claims_once(b: Backend) {
    for round in 0..200 {
        let k = key(&format!("k-{round}"));
        let race = |k: IdempotencyKey| {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (store, k) = (b.idempotency.clone(), k.clone());
                    tokio::spawn(async move {
                        store
                            .begin(&Scope::tenant("t"), &k, &fp("{}"), LEASE)
                            .await
                            .unwrap()
                    })
                })
                .collect::<Vec<_>>();
            async move {
                let mut outcomes = Vec::new();
                for t in tasks {
                    outcomes.push(t.await.unwrap());
                }
                outcomes
            }
        };
        let mut claims = Vec::new();
        for outcome in race(k.clone()).await {
            match outcome {
                BeginOutcome::Claimed(claim) => claims.push(claim),
                BeginOutcome::InFlight { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(claims.len(), 1, "round {round}: exactly one claim");
        b.idempotency
            .complete(&claims[0], stored(200, "done"))
            .await
            .unwrap();
        for outcome in race(k).await {
            assert_eq!(outcome, BeginOutcome::Replay(stored(200, "done")));
        }
    }
}
