//! Holding one seat with `PostgresStore::place_order` against the statement a user writes by
//! hand: one conditional `UPDATE` of the seat row on the same pool, in the same run.
//!
//! Needs a PostgreSQL server: `BOOKING_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Without it the bench prints `skipped: …`.
//! It works in its own schema and drops it at the end.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use booking_benches::{Summary, criterion, timed};
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, TicketId, UserId};
use booking_core::machine::Ticket;
use booking_core::money::{Currency, Money};
use booking_core::ports::store::{BookingStore, ItemRef, TicketListing};
use booking_core::testkit::fixtures::pending_order;
use booking_sqlx::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

/// Seats per contender set; a seat is used again once its previous hold has lapsed.
const SEATS: usize = 10_000;
/// Connections in the pool both contenders share.
const POOL: u32 = 8;

/// Hands out seats round-robin with a strictly later instant each time, so every hold lands
/// on a seat whose previous hold lapsed a moment before (holds last one nanosecond).
struct Seats {
    ids: Vec<TicketId>,
    next: AtomicU64,
    start: Timestamp,
}

impl Seats {
    fn take(&self) -> (TicketId, Timestamp, Timestamp) {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let seat = self.ids[usize::try_from(k).unwrap() % self.ids.len()];
        let now = self.start.checked_add(Duration::from_nanos(k)).unwrap();
        (seat, now, now.checked_add(Duration::from_nanos(1)).unwrap())
    }
}

async fn list_seats(store: &PostgresStore, event: EventId, start: Timestamp) -> Arc<Seats> {
    let mut ids = Vec::with_capacity(SEATS);
    for _ in 0..SEATS / 1_000 {
        let listings: Vec<TicketListing> = (0..1_000)
            .map(|_| TicketListing {
                ticket: Ticket::new(TicketId::new()),
                event,
                item: "seat".to_owned(),
                tags: BTreeSet::new(),
                price: Money::new(10_000, Currency::KRW).unwrap(),
            })
            .collect();
        store.add_tickets(&listings).await.unwrap();
        ids.extend(listings.iter().map(|l| l.ticket.id()));
    }
    Arc::new(Seats {
        ids,
        next: AtomicU64::new(0),
        start,
    })
}

/// The hand-written hold: one conditional update, autocommitted, checked for its row count.
async fn raw_hold(pool: &PgPool, seats: &Seats) {
    let (seat, now, until) = seats.take();
    let nanos = |t: Timestamp| i64::try_from(t.as_nanosecond()).unwrap();
    let held = sqlx::query(
        "UPDATE tickets SET state = 'Held', order_id = $2, hold_id = $3, expires_ns = $4,
                            version = version + 1
         WHERE id = $1 AND (state = 'Available' OR (state = 'Held' AND expires_ns <= $5))",
    )
    .bind(seat.as_uuid())
    .bind(OrderId::new().as_uuid())
    .bind(HoldId::new().as_uuid())
    .bind(nanos(until))
    .bind(nanos(now))
    .execute(pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(held, 1);
}

/// The store's hold: an order for one seat, placed.
async fn store_hold(store: &PostgresStore, event: EventId, seats: &Seats) {
    let (seat, now, until) = seats.take();
    let items = [ItemRef::Ticket { ticket: seat }];
    let record = pending_order(event, UserId::new(), &items, 10_000, now, until);
    store.place_order(&record, now).await.unwrap();
}

fn main() {
    let Ok(url) = std::env::var("BOOKING_TEST_POSTGRES_URL") else {
        println!("skipped: BOOKING_TEST_POSTGRES_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap();
    let schema = format!("booking_bench_{}", uuid::Uuid::now_v7().simple());
    let (store, pool, store_seats, raw_seats, event) = rt.block_on(async {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&admin)
            .await
            .unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(POOL)
            .connect_with(options.clone().options([("search_path", schema.as_str())]))
            .await
            .unwrap();
        let store = PostgresStore::new(pool.clone());
        store.migrate().await.unwrap();
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let event = EventId::new();
        let store_seats = list_seats(&store, event, start).await;
        let raw_seats = list_seats(&store, EventId::new(), start).await;
        (store, pool, store_seats, raw_seats, event)
    });

    let mut c = criterion();
    let mut g = c.benchmark_group("sqlx_hold");
    for tasks in [1_u64, 8] {
        let (s, seats) = (store.clone(), Arc::clone(&store_seats));
        g.bench_function(format!("store_{tasks}"), |b| {
            b.iter_custom(|iters| {
                let (s, seats) = (s.clone(), Arc::clone(&seats));
                timed(&rt, iters, tasks, move || {
                    let (s, seats) = (s.clone(), Arc::clone(&seats));
                    async move { store_hold(&s, event, &seats).await }
                })
            });
        });
        let (p, seats) = (pool.clone(), Arc::clone(&raw_seats));
        g.bench_function(format!("raw_update_{tasks}"), |b| {
            b.iter_custom(|iters| {
                let (p, seats) = (p.clone(), Arc::clone(&seats));
                timed(&rt, iters, tasks, move || {
                    let (p, seats) = (p.clone(), Arc::clone(&seats));
                    async move { raw_hold(&p, &seats).await }
                })
            });
        });
    }
    g.finish();

    rt.block_on(async {
        pool.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(&admin)
            .await
            .unwrap();
    });

    let mut s = Summary::new("sqlx_hold (PostgreSQL, pool of 8, time per hold)");
    for tasks in [1, 8] {
        s.criterion_row(
            &format!("hold 1 seat, {tasks} task(s)"),
            "sqlx_hold",
            &format!("store_{tasks}"),
            &format!("raw_update_{tasks}"),
            "place_order (order row, outbox, one transaction) vs one autocommitted conditional UPDATE",
        );
    }
    s.print();
}
