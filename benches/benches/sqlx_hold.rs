//! `PostgresStore` on its hot paths against the statements a user writes by hand, on the same
//! server and pool sizes, in the same run, printed as one table:
//!
//! - hold throughput (one seat per order) at 1, 8, 32 and 64 connections against an
//!   autocommitted conditional `UPDATE` of the seat row;
//! - a hot seat: 64 tasks race for one seat, exactly one wins; the losers' p50/p99 latency
//!   against the same race of raw `UPDATE`s — through one store (its hold gate answers the
//!   losers in the process), with group commit, and through eight stores built apart on the
//!   pool (eight gates, as eight processes would have);
//! - a 4-seat order against a raw 4-row conditional `UPDATE`;
//! - `expire_due` sweeping expired holds against a raw batched `UPDATE … WHERE id IN (SELECT …
//!   FOR UPDATE SKIP LOCKED LIMIT n)` over an indexed table of holds;
//! - hold latency with 1,000,000 seats listed against 10,000 seats.
//!
//! A second table puts `MySqlStore` next to a raw MySQL conditional `UPDATE` the same way:
//! hold throughput at 1, 8, 32 and 64 connections and the 4-seat hold.
//!
//! Ratio = ours ÷ raw in speed (raw time ÷ our time, or our throughput ÷ raw throughput):
//! 1.00 = as fast as the hand-written statement, higher is better. The one exception is the
//! last PostgreSQL row, the latency at the large listing ÷ the latency at the small one (lower
//! is better). Every figure is a median over alternating rounds.
//!
//! Needs a PostgreSQL server: `BOOKING_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); without it the bench prints `skipped: …`. The
//! MySQL table needs `BOOKING_TEST_MYSQL_URL` (for example `mysql://root@127.0.0.1:3306/test`)
//! and is skipped without it.
//! `BOOKING_BENCH_QUICK=1` runs short rounds and smaller listings (a smoke run).
//! `BOOKING_BENCH_ONLY=sweep` runs the sweep row alone (and no MySQL table). It works in
//! schemas of its own and drops them at the end.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use booking_benches::{Summary, format_ns, median, percentile_ns, raw_pg_hold};
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, TicketId, UserId};
use booking_core::machine::Ticket;
use booking_core::money::{Currency, Money};
use booking_core::ports::store::{BookingStore, ItemRef, StoreError, TicketListing};
use booking_core::testkit::fixtures::pending_order;
use booking_sqlx::PostgresStore;
use booking_sqlx::postgres::GroupCommit;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

#[path = "sqlx_hold/mysql.rs"]
mod mysql;

/// How long and how big each part runs.
struct Plan {
    rounds: usize,
    round: Duration,
    seats: usize,
    race_rounds: usize,
    latency_holds: usize,
    sweep_holds: usize,
    sweep_batch: u32,
    big_listing: usize,
    /// Only the sweep row (`BOOKING_BENCH_ONLY=sweep`).
    sweep_only: bool,
}

impl Plan {
    fn new() -> Self {
        let sweep_only = std::env::var("BOOKING_BENCH_ONLY").is_ok_and(|only| only == "sweep");
        if std::env::var_os("BOOKING_BENCH_QUICK").is_some() {
            Plan {
                rounds: 2,
                round: Duration::from_millis(300),
                seats: 2_000,
                race_rounds: 4,
                latency_holds: 100,
                sweep_holds: 5_000,
                sweep_batch: 1_000,
                big_listing: 100_000,
                sweep_only,
            }
        } else {
            Plan {
                rounds: 5,
                round: Duration::from_secs(2),
                seats: 10_000,
                race_rounds: 30,
                latency_holds: 1_000,
                sweep_holds: 100_000,
                sweep_batch: 1_000,
                big_listing: 1_000_000,
                sweep_only,
            }
        }
    }
}

/// A start instant far from the manual clocks of the tests.
fn start() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap()
}

/// Hands out `n` seats at a time round-robin, with a strictly later instant each time, so every
/// hold lands on seats whose previous hold lapsed a moment before (holds last one nanosecond).
struct Seats {
    event: EventId,
    ids: Vec<TicketId>,
    next: AtomicU64,
}

impl Seats {
    fn take(&self, n: usize) -> (Vec<TicketId>, Timestamp, Timestamp) {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let first = usize::try_from(k).unwrap() * n;
        let seats = (first..first + n)
            .map(|i| self.ids[i % self.ids.len()])
            .collect();
        let now = start().checked_add(Duration::from_nanos(k)).unwrap();
        (
            seats,
            now,
            now.checked_add(Duration::from_nanos(1)).unwrap(),
        )
    }
}

/// Lists `n` new seats of a new event, 5,000 per statement (MySQL takes at most 65,535
/// parameters in one).
async fn list_seats(store: &dyn BookingStore, n: usize) -> Arc<Seats> {
    let event = EventId::new();
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let listings: Vec<TicketListing> = (0..(n - ids.len()).min(5_000))
            .map(|_| {
                let price = Money::new(10_000, Currency::KRW).unwrap();
                TicketListing::new(Ticket::new(TicketId::new()), event, "seat", price)
            })
            .collect();
        store.add_tickets(&listings).await.unwrap();
        ids.extend(listings.iter().map(|l| l.ticket.id()));
    }
    Arc::new(Seats {
        event,
        ids,
        next: AtomicU64::new(0),
    })
}

/// The store's hold: an order for `seats`, placed at `now`, lapsing at `until`.
async fn store_hold(
    store: &dyn BookingStore,
    event: EventId,
    seats: &[TicketId],
    now: Timestamp,
    until: Timestamp,
) -> Result<(), StoreError> {
    let items: Vec<ItemRef> = seats
        .iter()
        .map(|&ticket| ItemRef::Ticket { ticket })
        .collect();
    let record = pending_order(event, UserId::new(), &items, 10_000, now, until);
    store.place_order(&record, now).await
}

/// Which side of a row an operation measures.
#[derive(Clone)]
enum Side {
    Store(Arc<dyn BookingStore>),
    Raw(PgPool),
    RawMy(MySqlPool),
}

impl Side {
    /// Holds `n` seats of `seats` (lapsed-reuse), asserting the hold took them all.
    async fn hold(&self, seats: &Seats, n: usize) {
        let (ids, now, until) = seats.take(n);
        assert!(self.try_hold(seats.event, &ids, now, until).await);
    }

    /// Holds `ids` at `now` until `until`: whether it took them (all of them).
    async fn try_hold(
        &self,
        event: EventId,
        ids: &[TicketId],
        now: Timestamp,
        until: Timestamp,
    ) -> bool {
        let n = ids.len() as u64;
        match self {
            Side::Store(store) => match store_hold(&**store, event, ids, now, until).await {
                Ok(()) => true,
                Err(StoreError::Unavailable { .. }) => false,
                Err(e) => panic!("a hold failed: {e}"),
            },
            Side::Raw(pool) => raw_pg_hold(pool, ids, now, until).await == n,
            Side::RawMy(pool) => mysql::raw_hold(pool, ids, now, until).await == n,
        }
    }
}

/// Holds per second of `tasks` tasks holding one seat each for `round` on `side`.
async fn throughput(side: &Side, seats: &Arc<Seats>, tasks: usize, round: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (side, seats, done) = (side.clone(), Arc::clone(seats), Arc::clone(&done));
            tokio::spawn(async move {
                while begin.elapsed() < round {
                    side.hold(&seats, 1).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / begin.elapsed().as_secs_f64()
}

/// The median holds/s of each side, rounds alternating between them; `seats[i]` is the
/// listing side `i` holds from.
async fn throughput_row(
    plan: &Plan,
    sides: &[&Side],
    seats: &[&Arc<Seats>],
    tasks: usize,
) -> Vec<f64> {
    // Warm-up: every connection prepares its statements.
    for (side, seats) in sides.iter().zip(seats) {
        throughput(side, seats, tasks, plan.round / 4).await;
    }
    let mut rates = vec![Vec::new(); sides.len()];
    for _ in 0..plan.rounds {
        for ((side, seats), rates) in sides.iter().zip(seats).zip(&mut rates) {
            rates.push(throughput(side, seats, tasks, plan.round).await);
        }
    }
    rates.into_iter().map(median).collect()
}

/// Latencies of the losers of `rounds` races of 64 tasks for one fresh seat each, task `i`
/// holding through `sides[i % sides.len()]`; asserts that exactly one task wins every race.
async fn race(sides: &[&Side], seats: &Seats, rounds: usize) -> Vec<Duration> {
    const RACERS: usize = 64;
    let mut losers = Vec::new();
    for round in 0..rounds {
        let seat = seats.ids[round];
        let now = start();
        let until = now.checked_add(Duration::from_secs(600)).unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let side = sides[i % sides.len()].clone();
                let (barrier, event) = (Arc::clone(&barrier), seats.event);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let begin = Instant::now();
                    let won = side.try_hold(event, &[seat], now, until).await;
                    (won, begin.elapsed())
                })
            })
            .collect();
        let mut winners = 0;
        for h in handles {
            let (won, took) = h.await.unwrap();
            if won {
                winners += 1;
            } else {
                losers.push(took);
            }
        }
        assert_eq!(winners, 1, "exactly one racer must win the seat");
    }
    losers.sort_unstable();
    losers
}

/// Median latency of single-task holds of `n` seats each, ours and raw in alternating blocks.
async fn latency_row(
    plan: &Plan,
    sides: [&Side; 2],
    seats: [&Arc<Seats>; 2],
    n: usize,
) -> [f64; 2] {
    let mut times = [Vec::new(), Vec::new()];
    for block in 0..10 {
        for (i, (side, seats)) in sides.iter().zip(seats).enumerate() {
            for _ in 0..plan.latency_holds / 10 {
                let begin = Instant::now();
                side.hold(seats, n).await;
                if block > 0 {
                    times[i].push(begin.elapsed().as_nanos() as f64);
                }
            }
        }
    }
    let [a, b] = times;
    [median(a), median(b)]
}

/// Rows/s of `expire_due` sweeping `plan.sweep_holds` lapsed one-seat orders, and of the raw
/// batched sweep of as many lapsed holds.
async fn sweep_row(plan: &Plan, store: &PostgresStore, pool: &PgPool) -> (f64, f64) {
    let seats = list_seats(store, plan.sweep_holds).await;
    let placing: Vec<_> = (0..32)
        .map(|_| {
            let (store, seats) = (store.clone(), Arc::clone(&seats));
            let per_task = plan.sweep_holds / 32 + 1;
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let k = seats.next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seat) = seats.ids.get(usize::try_from(k).unwrap()) else {
                        return;
                    };
                    let until = start().checked_add(Duration::from_secs(60)).unwrap();
                    store_hold(&store, seats.event, &[seat], start(), until)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for h in placing {
        h.await.unwrap();
    }
    let later = start().checked_add(Duration::from_secs(3_600)).unwrap();
    let begin = Instant::now();
    let mut released = 0_u64;
    loop {
        let sweep = store.expire_due(later, plan.sweep_batch).await.unwrap();
        if sweep.expired.is_empty() {
            break;
        }
        released += u64::from(sweep.tickets_released);
    }
    let ours = released as f64 / begin.elapsed().as_secs_f64();
    assert_eq!(released, plan.sweep_holds as u64);
    // Released, not merely lapsed: the seats are back on sale as stored.
    for &seat in [seats.ids[0], seats.ids[seats.ids.len() - 1]].iter() {
        let listing = store.ticket(seat).await.unwrap();
        assert_eq!(
            listing.ticket.state(),
            booking_core::machine::TicketState::Available
        );
    }

    // The hand-written sweep: its own table of holds, indexed on the lapsed ones.
    for sql in [
        "CREATE TABLE raw_holds (id uuid PRIMARY KEY, state text NOT NULL, hold_id uuid,
                                 expires_ns bigint, version bigint NOT NULL)",
        "CREATE INDEX raw_holds_lapsing ON raw_holds (expires_ns) WHERE state = 'Held'",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO raw_holds SELECT gen_random_uuid(), 'Held', gen_random_uuid(), $2, 1
         FROM generate_series(1, $1)",
    )
    .bind(i64::try_from(plan.sweep_holds).unwrap())
    .bind(nanos(start()))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE raw_holds")
        .execute(pool)
        .await
        .unwrap();
    let begin = Instant::now();
    let mut released = 0_u64;
    loop {
        let n = sqlx::query(
            "UPDATE raw_holds SET state = 'Available', hold_id = NULL, expires_ns = NULL,
                                  version = version + 1
             WHERE id IN (SELECT id FROM raw_holds WHERE state = 'Held' AND expires_ns <= $1
                          ORDER BY expires_ns LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(nanos(later))
        .bind(i64::from(plan.sweep_batch))
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
        if n == 0 {
            break;
        }
        released += n;
    }
    let raw = released as f64 / begin.elapsed().as_secs_f64();
    (ours, raw)
}

/// Median single-seat hold latency on a store with `small` seats listed and on one with
/// `big`, in alternating blocks; each hold takes a seat never held before.
async fn listing_row(plan: &Plan, small: &PostgresStore, big: &PostgresStore) -> (f64, f64) {
    let small_seats = list_seats(small, plan.seats).await;
    let big_seats = list_seats(big, plan.big_listing).await;
    for pool in [small.pool(), big.pool()] {
        sqlx::query("ANALYZE").execute(pool).await.unwrap();
    }
    let stride = |seats: &Seats, k: usize| {
        // A prime stride visits seats all over the listing, each at most once.
        let i = (k * 7_919) % seats.ids.len();
        seats.ids[i]
    };
    let mut times = [Vec::new(), Vec::new()];
    let now = start();
    let until = now.checked_add(Duration::from_secs(600)).unwrap();
    let mut k = 0;
    for block in 0..10 {
        for _ in 0..plan.latency_holds / 10 {
            for (i, (store, seats)) in [(small, &small_seats), (big, &big_seats)]
                .into_iter()
                .enumerate()
            {
                let seat = stride(seats, k);
                let begin = Instant::now();
                store_hold(store, seats.event, &[seat], now, until)
                    .await
                    .unwrap();
                if block > 0 {
                    times[i].push(begin.elapsed().as_nanos() as f64);
                }
            }
            k += 1;
        }
    }
    let [a, b] = times;
    (median(a), median(b))
}

fn rate(per_s: f64) -> String {
    format!("{per_s:.0}/s")
}

fn speed(ours_time: f64, base_time: f64) -> String {
    format!("{:.2}", base_time / ours_time)
}

/// A throughput row: ours and raw per second, and ours ÷ raw.
fn rate_row(s: &mut Summary, what: &str, ours: f64, raw: f64, note: &str) {
    s.row(
        what,
        rate(ours),
        rate(raw),
        format!("{:.2}", ours / raw),
        note,
    );
}

/// Creates schema `name` and a migrated store of `size` connections in it.
async fn store_in(
    options: &PgConnectOptions,
    admin: &PgPool,
    name: &str,
    size: u32,
) -> PostgresStore {
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{name}\""
    )))
    .execute(admin)
    .await
    .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.clone().options([("search_path", name)]))
        .await
        .unwrap();
    let store = PostgresStore::new(pool);
    store.migrate().await.unwrap();
    store
}

fn main() {
    let Ok(url) = std::env::var("BOOKING_TEST_POSTGRES_URL") else {
        println!("skipped: BOOKING_TEST_POSTGRES_URL is not set");
        return;
    };
    let plan = Plan::new();
    let rt = Runtime::new().unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    // Main figures, the sweep, and the two listings each get a schema: the sweep expires every
    // due order it finds, and the listing row compares table sizes.
    let schemas = ["", "_sweep", "_big", "_small"].map(|part| format!("booking_bench{part}_{tag}"));
    let admin = rt.block_on(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone()),
    );
    let admin = admin.unwrap();
    let mut s = Summary::new(format!(
        "sqlx_hold: PostgresStore vs hand-written sqlx, same server, same run{}",
        if plan.rounds < 5 {
            " (quick: smoke figures)"
        } else {
            ""
        }
    ));
    rt.block_on(async {
        if !plan.sweep_only {
            let store = store_in(&options, &admin, &schemas[0], 1).await;
            let ours = list_seats(&store, plan.seats).await;
            let raw = list_seats(&store, plan.seats).await;
            store.pool().close().await;
            for size in [1_u32, 8, 32, 64] {
                let store = store_in(&options, &admin, &schemas[0], size).await;
                let pool = store.pool().clone();
                let tasks = usize::try_from(size).unwrap();
                let (store_side, raw_side) = (Side::Store(Arc::new(store.clone())), Side::Raw(pool.clone()));
                let grouped = Side::Store(Arc::new(store.clone().group_commit(GroupCommit::new())));
                let rates = throughput_row(
                    &plan,
                    &[&store_side, &grouped, &raw_side],
                    &[&ours, &ours, &raw],
                    tasks,
                )
                .await;
                let [a, g, b] = rates[..] else { unreachable!() };
                rate_row(
                    &mut s,
                    &format!("hold 1 seat, {size} connection(s)"),
                    a,
                    b,
                    "holds/s: place_order (order row, hold, outbox; one statement) vs autocommitted conditional UPDATE",
                );
                rate_row(
                    &mut s,
                    &format!("hold 1 seat, {size} connection(s), group commit"),
                    g,
                    b,
                    "the same holds through PostgresStore::group_commit(GroupCommit::new()): concurrent holds placed by one statement per batch",
                );
                if size == 64 {
                    let race_raw = list_seats(&store, plan.race_rounds).await;
                    let b = race(&[&raw_side], &race_raw, plan.race_rounds).await;
                    // Eight stores built apart on the pool, as eight processes would be: each
                    // has its own hold gate, so eight racers meet at the database.
                    let apart: Vec<Side> = (0..8)
                        .map(|_| Side::Store(Arc::new(PostgresStore::new(pool.clone()))))
                        .collect();
                    let apart: Vec<&Side> = apart.iter().collect();
                    for (sides, how) in [
                        (vec![&store_side], ""),
                        (vec![&grouped], ", group commit"),
                        (apart, ", 8 stores (a gate each)"),
                    ] {
                        let race_ours = list_seats(&store, plan.race_rounds).await;
                        let a = race(&sides, &race_ours, plan.race_rounds).await;
                        for p in [50, 99] {
                            let (x, y) = (percentile_ns(&a, p), percentile_ns(&b, p));
                            s.row(
                                &format!("hot seat, 64 racers: losers' p{p}{how}"),
                                format_ns(x),
                                format_ns(y),
                                speed(x, y),
                                &format!("{} races, one winner each (asserted)", plan.race_rounds),
                            );
                        }
                    }
                }
                pool.close().await;
            }
            let store = store_in(&options, &admin, &schemas[0], 8).await;
            let pool = store.pool().clone();
            let sides = [&Side::Store(Arc::new(store.clone())), &Side::Raw(pool.clone())];
            let [a, b] = latency_row(&plan, sides, [&ours, &raw], 4).await;
            s.row(
                "hold 4 seats, latency",
                format_ns(a),
                format_ns(b),
                speed(a, b),
                "median: place_order of 4 tickets vs raw 4-row conditional UPDATE",
            );
            pool.close().await;
        }
        let store = store_in(&options, &admin, &schemas[1], 8).await;
        let pool = store.pool().clone();
        let (a, b) = sweep_row(&plan, &store, &pool).await;
        rate_row(
            &mut s,
            &format!("sweep {} lapsed holds", plan.sweep_holds),
            a,
            b,
            &format!(
                "rows/s: expire_due({}) (order, ticket, outbox per order) vs raw UPDATE … IN (SELECT … SKIP LOCKED LIMIT {})",
                plan.sweep_batch, plan.sweep_batch
            ),
        );
        if !plan.sweep_only {
            let big = store_in(&options, &admin, &schemas[2], 8).await;
            let small = store_in(&options, &admin, &schemas[3], 8).await;
            let (a, b) = listing_row(&plan, &small, &big).await;
            s.row(
                &format!("hold latency, {} vs {} seats listed", plan.big_listing, plan.seats),
                format_ns(b),
                format_ns(a),
                format!("{:.2}", b / a),
                "median single-seat place_order; ratio = large ÷ small (target ≤ 1.3)",
            );
            for p in [big.pool(), small.pool()] {
                p.close().await;
            }
        }
        store.pool().close().await;
        for name in &schemas {
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    });
    s.print();
    if plan.sweep_only {
        return;
    }
    if let Ok(url) = std::env::var("BOOKING_TEST_MYSQL_URL") {
        rt.block_on(mysql::table(&plan, &url, &tag)).print();
    } else {
        println!("MySQL table skipped: BOOKING_TEST_MYSQL_URL is not set");
    }
}
