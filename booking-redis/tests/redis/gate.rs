//! The hot-stock gate under real parallel buyers: it never lets more holds reach the store
//! than there are units (and so sends about as many holds as units), gives back what the
//! store refused or cancelled or refunded, gets lapsed holds back without a sweep, recovers
//! units taken by a hold that never reached the store, and is rebuilt after Redis lost it.
//! In front of the in-memory store on both deployments, and of PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{Clock, ManualClock, Timestamp};
use booking_core::ids::{EventId, StockId, UserId};
use booking_core::memory::MemoryBookingStore;
use booking_core::ports::store::{BookingStore, ItemRef, OrderRecord, StoreError};
use booking_core::testkit::fixtures::{no_rules, pending_order, stock};
use booking_core::testkit::service::World;
use booking_core::testkit::start_time;
use booking_redis::gate::GateStats;
use booking_redis::{Namespace, RedisConnection, RedisStockGate};
use booking_sqlx::PostgresStore;
use sqlx::Connection;

use crate::sections::{Deployment, backend_with};
use crate::support::{HANG, OwnRedis, PgSchema, until_ok};

const HOLD: Duration = Duration::from_secs(600);

/// A gate in front of `inner`, and a backend (the other ports on Redis) with it as its store.
fn gated<S: BookingStore>(
    inner: S,
    conn: &RedisConnection,
    ns: &Namespace,
    clock: &ManualClock,
) -> (Arc<RedisStockGate<S>>, booking_core::testkit::Backend) {
    with_gate(
        RedisStockGate::new(inner, conn.clone(), ns.clone()),
        conn,
        ns,
        clock,
    )
}

/// A backend (the other ports on Redis) with `gate` as its store.
fn with_gate<S: BookingStore>(
    gate: RedisStockGate<S>,
    conn: &RedisConnection,
    ns: &Namespace,
    clock: &ManualClock,
) -> (Arc<RedisStockGate<S>>, booking_core::testkit::Backend) {
    let gate = Arc::new(gate);
    let store: Arc<dyn BookingStore> = gate.clone();
    (gate, backend_with(conn, ns, clock.clone(), store))
}

/// An order of `units` of `stock` by a new buyer, held from `now` for [`HOLD`].
fn units_order(event: EventId, stock: StockId, units: u32, now: Timestamp) -> OrderRecord {
    let items = [ItemRef::Stock {
        stock,
        quantity: units,
    }];
    let until = now.checked_add(HOLD).unwrap();
    pending_order(event, UserId::new(), &items, 10_000, now, until)
}

/// `buyers` buyers of one unit each, all at once: how many got one. Any answer other than a
/// hold or "not enough stock" fails the test.
async fn race(
    store: Arc<dyn BookingStore>,
    event: EventId,
    stock: StockId,
    buyers: usize,
    now: Timestamp,
) -> usize {
    let tasks: Vec<_> = (0..buyers)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                match store
                    .place_order(&units_order(event, stock, 1, now), now)
                    .await
                {
                    Ok(()) => true,
                    Err(StoreError::InsufficientStock { .. }) => false,
                    Err(e) => panic!("a buyer got {e}"),
                }
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    won
}

/// What the store has available of `stock` at `now`.
async fn in_store(store: &dyn BookingStore, event: EventId, stock: StockId, now: Timestamp) -> u64 {
    let available = store.availability(event, now).await.unwrap();
    available
        .stock_available
        .iter()
        .find(|(s, _)| *s == stock)
        .map_or(0, |&(_, n)| u64::from(n))
}

fn sent_since(gate: GateStats, before: GateStats) -> (u64, u64) {
    (
        gate.sent_to_store - before.sent_to_store,
        gate.turned_away - before.turned_away,
    )
}

async fn thousand_buyers_hundred_units(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(MemoryBookingStore::new(), &conn, &ns, &clock);
    for _ in 0..3 {
        let event = EventId::new();
        let stock = stock(&backend, event, 100, 10_000).await;
        let before = gate.stats();
        let won = race(backend.store.clone(), event, stock, 1_000, clock.now()).await;
        assert_eq!(won, 100, "exactly the stock is sold");
        assert_eq!(
            sent_since(gate.stats(), before),
            (100, 900),
            "only the holds that got units reach the store"
        );
        assert_eq!(gate.stock_left(stock).await.unwrap(), Some(0));
        assert_eq!(
            in_store(&*backend.store, event, stock, clock.now()).await,
            0
        );
    }
    deployment.drop(&ns).await;
}

async fn what_the_store_refuses_does_not_come_back(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(MemoryBookingStore::new(), &conn, &ns, &clock);
    let now = clock.now();
    let event = EventId::new();
    let stock = stock(&backend, event, 10, 10_000).await;
    gate.rebuild(event, now).await.unwrap();
    // Four units go behind the gate's back: the counter says 10, the store has 6.
    gate.inner()
        .place_order(&units_order(event, stock, 4, now), now)
        .await
        .unwrap();
    let before = gate.stats();
    assert_eq!(race(backend.store.clone(), event, stock, 20, now).await, 6);
    assert_eq!(
        sent_since(gate.stats(), before),
        (10, 10),
        "the units the store refused were dropped, not given back to be refused again"
    );
    assert_eq!(gate.stock_left(stock).await.unwrap(), Some(0));

    // An order the store refuses for one stock gives the other stock its units back whole.
    let (plenty, short) = (
        self::stock(&backend, event, 5, 10_000).await,
        self::stock(&backend, event, 5, 10_000).await,
    );
    gate.rebuild(event, now).await.unwrap();
    gate.inner()
        .place_order(&units_order(event, short, 5, now), now)
        .await
        .unwrap();
    let mut both = units_order(event, plenty, 2, now);
    let mut second = units_order(event, short, 1, now).lines;
    second[0].line = booking_core::discount::LineId::new("second");
    both.lines.extend(second);
    assert!(matches!(
        backend.store.place_order(&both, now).await,
        Err(StoreError::InsufficientStock { stock, .. }) if stock == short
    ));
    assert_eq!(gate.stock_left(plenty).await.unwrap(), Some(5));
    assert_eq!(gate.stock_left(short).await.unwrap(), Some(4));
    deployment.drop(&ns).await;
}

async fn lapsed_holds_come_back_without_a_sweep(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let clock = ManualClock::new(start_time());
    // No rebuild within the test: the units come back through the holds' ends alone. (A
    // rebuild while holds are on their way to the store may count them free, letting a few
    // more holds through for the store to refuse.)
    let gate = RedisStockGate::new(MemoryBookingStore::new(), conn.clone(), ns.clone())
        .with_resync_interval(HOLD * 100);
    let (gate, backend) = with_gate(gate, &conn, &ns, &clock);
    let event = EventId::new();
    let stock = stock(&backend, event, 10, 10_000).await;
    let before = gate.stats();
    assert_eq!(
        race(backend.store.clone(), event, stock, 15, clock.now()).await,
        10
    );
    assert_eq!(sent_since(gate.stats(), before), (10, 5));

    // Every hold lapses unpaid: its units are free in the store and at the gate alike.
    clock.advance(HOLD);
    let before = gate.stats();
    assert_eq!(
        race(backend.store.clone(), event, stock, 15, clock.now()).await,
        10
    );
    assert_eq!(sent_since(gate.stats(), before), (10, 5));
    // The sweep tidies the first holds; their units were taken again, nothing changes.
    backend.store.expire_due(clock.now(), 100).await.unwrap();
    assert_eq!(gate.stock_left(stock).await.unwrap(), Some(0));
    assert_eq!(
        in_store(&*backend.store, event, stock, clock.now()).await,
        0
    );
    deployment.drop(&ns).await;
}

async fn cancelled_and_refunded_units_come_back(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(MemoryBookingStore::new(), &conn, &ns, &clock);
    let world = World::new(backend, no_rules());
    let stock = stock(&world.backend, world.event, 5, 10_000).await;
    let units = |quantity| vec![ItemRef::Stock { stock, quantity }];
    let left = || async { gate.stock_left(stock).await.unwrap() };

    let held = world
        .service
        .hold(&world.request(UserId::new(), units(3)))
        .await
        .unwrap();
    assert_eq!(left().await, Some(2));
    world
        .service
        .cancel_order(held.order.id(), "changed my mind")
        .await
        .unwrap();
    assert_eq!(
        left().await,
        Some(5),
        "a cancelled hold gives its units back"
    );

    let paid = world
        .buy(&world.request(UserId::new(), units(2)))
        .await
        .unwrap();
    assert_eq!(left().await, Some(3), "sold units stay taken");
    clock.advance(HOLD * 2);
    world
        .service
        .hold(&world.request(UserId::new(), units(1)))
        .await
        .unwrap();
    assert_eq!(
        left().await,
        Some(2),
        "a sale is not given back when its hold's end passes"
    );
    world
        .service
        .cancel_order(paid.order.id(), "refund")
        .await
        .unwrap();
    assert_eq!(left().await, Some(4), "refunded units are on sale again");
    let available = in_store(&*world.backend.store, world.event, stock, clock.now()).await;
    assert_eq!(Some(available), left().await);
    deployment.drop(&ns).await;
}

async fn counters_are_rebuilt_after_redis_lost_them() {
    let mut redis = OwnRedis::start().await;
    let conn = RedisConnection::connect(&redis.url()).await.unwrap();
    let ns = crate::support::fresh_namespace();
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(MemoryBookingStore::new(), &conn, &ns, &clock);
    let event = EventId::new();
    let stock = stock(&backend, event, 10, 10_000).await;
    assert_eq!(
        race(backend.store.clone(), event, stock, 3, clock.now()).await,
        3
    );

    redis.shutdown_nosave().await;
    redis.restart().await;
    let now = clock.now();
    // The connection comes back on its own; the counter is rebuilt from the store.
    until_ok(|| gate.stock_left(stock)).await;
    backend
        .store
        .place_order(&units_order(event, stock, 1, now), now)
        .await
        .unwrap();
    assert_eq!(gate.stock_left(stock).await.unwrap(), Some(6));
    let before = gate.stats();
    assert_eq!(race(backend.store.clone(), event, stock, 20, now).await, 6);
    assert_eq!(sent_since(gate.stats(), before), (6, 14));
    assert_eq!(in_store(&*backend.store, event, stock, now).await, 0);
}

async fn postgres_sells_exactly_the_stock_through_the_gate() {
    let (conn, ns) = Deployment::Standalone.connect().await;
    let schema = PgSchema::fresh().await;
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(PostgresStore::new(schema.pool.clone()), &conn, &ns, &clock);
    let event = EventId::new();
    let stock = stock(&backend, event, 100, 10_000).await;
    let before = gate.stats();
    assert_eq!(
        race(backend.store.clone(), event, stock, 1_000, clock.now()).await,
        100
    );
    assert_eq!(sent_since(gate.stats(), before), (100, 900));
    let listing = backend.store.stock(stock).await.unwrap();
    assert_eq!(
        listing.stock.held(),
        100,
        "no unit sold twice, none left unsold"
    );
    schema.drop().await;
    Deployment::Standalone.drop(&ns).await;
}

/// A hold that took units and never reached the store (its request died while PostgreSQL
/// kept it waiting): the units come back when the hold would have ended, and sooner through
/// a rebuild once the counter says "sold out" and was built more than the resync interval ago.
async fn units_of_a_hold_that_never_reached_the_store_come_back() {
    let (conn, ns) = Deployment::Standalone.connect().await;
    let schema = PgSchema::fresh().await;
    let clock = ManualClock::new(start_time());
    let (gate, backend) = gated(PostgresStore::new(schema.pool.clone()), &conn, &ns, &clock);
    let event = EventId::new();
    let stock = stock(&backend, event, 1, 10_000).await;
    let now = clock.now();
    gate.rebuild(event, now).await.unwrap();

    // Another transaction holds the stock's row: the hold waits inside the store.
    let mut blocker = sqlx::PgConnection::connect_with(&schema.options)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("SELECT id FROM stocks WHERE id = $1 FOR UPDATE")
        .bind(stock.as_uuid())
        .execute(&mut blocker)
        .await
        .unwrap();
    let store = backend.store.clone();
    let stuck = tokio::spawn(async move {
        store
            .place_order(&units_order(event, stock, 1, now), now)
            .await
    });
    tokio::time::timeout(HANG, async {
        while gate.stock_left(stock).await.unwrap() != Some(0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the hold takes its unit at the gate");
    // The request dies; its transaction rolls back; the store never held the unit.
    stuck.abort();
    assert!(stuck.await.is_err());
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(in_store(&*backend.store, event, stock, now).await, 1);

    // At once, the fresh counter turns buyers away: the cost of the crash, bounded…
    assert_eq!(race(backend.store.clone(), event, stock, 5, now).await, 0);
    // …by the resync interval: a sold-out counter built longer ago is rebuilt.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        race(backend.store.clone(), event, stock, 5, clock.now()).await,
        1
    );
    schema.drop().await;
    Deployment::Standalone.drop(&ns).await;
}

macro_rules! on_both {
    ($($name:ident),+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
            async fn standalone() {
                super::$name(super::Deployment::Standalone).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                no_redis_cluster_url,
                ignore = "BOOKING_TEST_REDIS_CLUSTER_URLS is not set"
            )]
            async fn cluster() {
                super::$name(super::Deployment::Cluster).await;
            }
        }
    )+};
}

on_both!(
    thousand_buyers_hundred_units,
    what_the_store_refuses_does_not_come_back,
    lapsed_holds_come_back_without_a_sweep,
    cancelled_and_refunded_units_come_back
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_server, ignore = "redis-server is not installed")]
async fn rebuilt_after_redis_lost_its_counters() {
    counters_are_rebuilt_after_redis_lost_them().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(no_redis_url, no_postgres_url),
    ignore = "needs BOOKING_TEST_REDIS_URL and BOOKING_TEST_POSTGRES_URL"
)]
async fn in_front_of_postgres_sells_exactly_the_stock() {
    postgres_sells_exactly_the_stock_through_the_gate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(no_redis_url, no_postgres_url),
    ignore = "needs BOOKING_TEST_REDIS_URL and BOOKING_TEST_POSTGRES_URL"
)]
async fn a_hold_that_never_reached_the_store_gives_its_units_back() {
    units_of_a_hold_that_never_reached_the_store_come_back().await;
}
