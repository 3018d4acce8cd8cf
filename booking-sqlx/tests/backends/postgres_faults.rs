//! What the PostgreSQL backend does when the database misbehaves: a backend connection
//! killed mid-transaction, an exhausted pool, a statement past its `lock_timeout`, and an
//! idempotency claim whose worker crashed. Each test gets its own schema from
//! [`TestSchema`], like the conformance suite; they are ignored and fail under the same rules.
#![allow(clippy::unwrap_used)] // the helpers too report a failure by panicking

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{Clock, ManualClock};
use booking_core::ids::{EventId, TicketId, UserId};
use booking_core::machine::TicketState;
use booking_core::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};
use booking_core::ports::store::{BookingStore, ItemRef, OrderRecord, StoreError};
use booking_core::testkit::fixtures::{pending_order, seats};
use booking_core::testkit::{Backend, IDEMPOTENCY_RETENTION, start_time};
use booking_sqlx::{PostgresIdempotencyStore, PostgresStore};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

use super::postgres::{TestSchema, backend_on};

/// The longest a test waits for something that should happen at once: a bound that turns a
/// hang into a failure, not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

/// A fresh backend of every port in its own schema, and the schema.
async fn fresh() -> (TestSchema, Backend) {
    let schema = TestSchema::fresh().await;
    let backend = backend_on(&schema.suite_pool().await, ManualClock::new(start_time()));
    (schema, backend)
}

/// A pending order of a new user for `tickets`, expiring in ten minutes.
fn order_for(backend: &Backend, event: EventId, tickets: &[TicketId]) -> OrderRecord {
    let items: Vec<ItemRef> = tickets
        .iter()
        .map(|&ticket| ItemRef::Ticket { ticket })
        .collect();
    let now = backend.clock.now();
    let expires = now.checked_add(Duration::from_secs(600)).unwrap();
    pending_order(event, UserId::new(), &items, 10_000, now, expires)
}

/// A connection that holds `ticket`'s row lock in an open transaction until it rolls back.
async fn blocker(schema: &TestSchema, ticket: TicketId) -> PgConnection {
    let mut conn = PgConnection::connect_with(&schema.options).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
        .bind(ticket.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// The backends `blocker` (by its pid) keeps waiting, once there is one.
async fn blocked_by(blocker: &mut PgConnection) -> Vec<i32> {
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *blocker)
        .await
        .unwrap();
    tokio::time::timeout(HANG, async {
        loop {
            // The blocker's open transaction keeps one snapshot of the activity statistics
            // unless told to drop it, and the store may start waiting after the first poll.
            sqlx::query("SELECT pg_stat_clear_snapshot()")
                .execute(&mut *blocker)
                .await
                .unwrap();
            let waiting: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            )
            .bind(pid)
            .fetch_all(&mut *blocker)
            .await
            .unwrap();
            if !waiting.is_empty() {
                return waiting;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the store's transaction waits for the blocker")
}

/// Every ticket of `tickets` is available and `order` was never stored.
async fn nothing_held(store: &dyn BookingStore, tickets: &[TicketId], order: &OrderRecord) {
    for &ticket in tickets {
        let listing = store.ticket(ticket).await.unwrap();
        assert_eq!(listing.ticket.state(), TicketState::Available, "{ticket}");
    }
    assert!(matches!(
        store.order(order.order.id()).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Placing `order` on `store` is `Busy`; once `cause_gone` ran, nothing is held and placing
/// it again succeeds.
async fn busy_until(
    store: &PostgresStore,
    order: &OrderRecord,
    tickets: &[TicketId],
    b: &Backend,
    cause_gone: impl Future<Output = ()>,
) {
    let outcome = tokio::time::timeout(HANG, store.place_order(order, b.clock.now())).await;
    assert!(
        matches!(outcome, Ok(Err(StoreError::Busy(_)))),
        "{outcome:?}"
    );
    cause_gone.await;
    nothing_held(store, tickets, order).await;
    store.place_order(order, b.clock.now()).await.unwrap();
}

/// The connection running `place_order` is terminated while its transaction waits for a row
/// lock: the call fails with a typed error, holds nothing, and the store goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_killed_connection_mid_transaction_is_a_typed_error() {
    let (schema, b) = fresh().await;
    let event = EventId::new();
    let tickets = seats(&b, event, 2, 10_000).await;
    let mut lock = blocker(&schema, tickets[1]).await;
    let order = order_for(&b, event, &tickets);
    let placing = {
        let (store, order, now) = (Arc::clone(&b.store), order.clone(), b.clock.now());
        tokio::spawn(async move { store.place_order(&order, now).await })
    };
    for pid in blocked_by(&mut lock).await {
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut lock)
            .await
            .unwrap();
        assert!(killed);
    }
    let outcome = tokio::time::timeout(HANG, placing).await.unwrap();
    let err = outcome
        .expect("no panic")
        .expect_err("the killed transaction fails");
    assert!(
        matches!(
            err,
            StoreError::Backend {
                backend: "postgres",
                ..
            } | StoreError::Busy(_)
        ),
        "{err:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    nothing_held(b.store.as_ref(), &tickets, &order).await;
    // A fresh connection replaces the dead one.
    let again = order_for(&b, event, &tickets);
    b.store.place_order(&again, b.clock.now()).await.unwrap();
}

/// With the pool's one connection taken, a store call is `Busy` after the acquire timeout,
/// and works once the connection is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_exhausted_pool_is_busy() {
    let (schema, b) = fresh().await;
    let event = EventId::new();
    let tickets = seats(&b, event, 1, 10_000).await;
    let tiny = schema
        .pool(
            PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_millis(200)),
        )
        .await;
    let store = PostgresStore::new(tiny.clone());
    let held = tiny.acquire().await.unwrap();
    let order = order_for(&b, event, &tickets);
    busy_until(&store, &order, &tickets, &b, async { drop(held) }).await;
}

/// A statement that waits for a row lock longer than the connection's `lock_timeout` is
/// `Busy`, rolled back whole; once the lock is gone the same call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_lock_timeout_is_busy() {
    let (schema, b) = fresh().await;
    let event = EventId::new();
    let tickets = seats(&b, event, 2, 10_000).await;
    let impatient = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(schema.options.clone().options([("lock_timeout", "200ms")]))
        .await
        .unwrap();
    let store = PostgresStore::new(impatient);
    let mut lock = blocker(&schema, tickets[1]).await;
    let order = order_for(&b, event, &tickets);
    let rollback = async move {
        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    };
    busy_until(&store, &order, &tickets, &b, rollback).await;
}

/// A worker claims a key and dies (its pool is gone) without completing: once the lease ran
/// out on the clock, another process's `begin` takes the key over, and the dead worker's
/// late `complete` is `Lost` while the new one's outcome is replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_crashed_idempotency_claim_is_taken_over() {
    let (schema, b) = fresh().await;
    let lease = Duration::from_secs(30);
    let (scope, key) = (Scope::tenant("shop"), IdempotencyKey::new("pay-1").unwrap());
    let fingerprint = Fingerprint::of_json_request("POST", "/payments", b"{}").unwrap();
    let clock: Arc<dyn Clock> = Arc::new(b.clock.clone());
    let crashed_pool = schema.pool(PgPoolOptions::new().max_connections(1)).await;
    let crashed = PostgresIdempotencyStore::new(
        crashed_pool.clone(),
        Arc::clone(&clock),
        IDEMPOTENCY_RETENTION,
    );
    let BeginOutcome::Claimed(old) = crashed
        .begin(&scope, &key, &fingerprint, lease)
        .await
        .unwrap()
    else {
        panic!("the first begin claims the key");
    };
    crashed_pool.close().await;

    assert!(matches!(
        b.idempotency
            .begin(&scope, &key, &fingerprint, lease)
            .await
            .unwrap(),
        BeginOutcome::InFlight { .. }
    ));
    b.clock.advance(lease);
    let BeginOutcome::Claimed(new) = b
        .idempotency
        .begin(&scope, &key, &fingerprint, lease)
        .await
        .unwrap()
    else {
        panic!("the lapsed claim is taken over");
    };
    assert_ne!(new.token(), old.token());
    let late = StoredOutcome {
        status: 200,
        body: b"late".to_vec(),
    };
    assert!(matches!(
        b.idempotency.complete(&old, late).await,
        Err(IdempotencyError::Lost)
    ));
    let done = StoredOutcome {
        status: 201,
        body: b"new".to_vec(),
    };
    b.idempotency.complete(&new, done.clone()).await.unwrap();
    assert_eq!(
        b.idempotency
            .begin(&scope, &key, &fingerprint, lease)
            .await
            .unwrap(),
        BeginOutcome::Replay(done)
    );
}
