//! booking-redis against the redis-rs calls a user writes by hand, on the same server and the
//! same connection setup (one `RedisConnection`), in the same run, printed as one table:
//!
//! - lock acquire + release pairs/s at 1, 8 and 50 tasks (each task its own key) against a raw
//!   loop of `SET key token NX PX` and an `EVALSHA` compare-and-delete;
//! - idempotency `begin` + `complete` per second (8 tasks, fresh keys) against a raw
//!   `SET key inflight NX PX` then `SET key response PX`;
//! - waiting-room admissions per second (`admit_next(50)` over a line of joined users)
//!   against a raw script that pops 50 from a sorted set into another;
//! - the hot-stock sale: 10,000 buyers of one unit each, all at once, 100 units, PostgreSQL,
//!   with the gate in front of `PostgresStore` and without it: wall time and hold attempts
//!   that reached the database.
//!
//! Ratios are ours ÷ raw in speed (1.00x = as fast as the hand-written calls, higher is
//! better): throughput ours ÷ raw, and for the sale the time without the gate ÷ the time with
//! it. Every figure is a median over alternating rounds.
//!
//! Needs `BOOKING_TEST_REDIS_URL` (and `BOOKING_TEST_POSTGRES_URL` for the sale); without
//! them the parts print `skipped: …`. `BOOKING_BENCH_QUICK=1` runs short rounds and a smaller
//! sale (a smoke run). It works under a key prefix and a schema of its own and removes both.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use booking_benches::{Summary, median, speed_ratio, time_ratio};
use booking_core::clock::{Clock, SystemClock};
use booking_core::ids::{EventId, StockId, UserId};
use booking_core::machine::Stock;
use booking_core::money::{Currency, Money};
use booking_core::policy::TokioSleeper;
use booking_core::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyKey, IdempotencyStore, Scope, StoredOutcome,
};
use booking_core::ports::lock::{LockManager, LockOptions};
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::{BookingStore, ItemRef, StockListing, StoreError};
use booking_core::testkit::fixtures::pending_order;
use booking_redis::{
    Namespace, RedisAdmissionQueue, RedisConnection, RedisIdempotencyStore, RedisLockManager,
    RedisStockGate,
};
use booking_sqlx::PostgresStore;
use redis::AsyncCommands;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection as _};
use tokio::runtime::Runtime;

/// How long and how big each part runs.
struct Plan {
    rounds: usize,
    round: Duration,
    line: u64,
    buyers: usize,
    units: u32,
    sales: usize,
}

impl Plan {
    fn new() -> Self {
        if std::env::var_os("BOOKING_BENCH_QUICK").is_some() {
            Plan {
                rounds: 2,
                round: Duration::from_millis(300),
                line: 2_000,
                buyers: 1_000,
                units: 100,
                sales: 1,
            }
        } else {
            Plan {
                rounds: 5,
                round: Duration::from_secs(2),
                line: 20_000,
                buyers: 10_000,
                units: 100,
                sales: 3,
            }
        }
    }
}

fn rate(per_s: f64) -> String {
    format!("{per_s:.0}/s")
}

/// Operations per second of `tasks` tasks each running `op(task, i)` for `round`.
async fn throughput<F, Fut>(tasks: u64, round: Duration, op: F) -> f64
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (op, done) = (Arc::clone(&op), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = 0;
                while begin.elapsed() < round {
                    op(task, i).await;
                    i += 1;
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

/// One side of a comparison: a round that returns its rate.
type Side<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = f64> + 'a>> + 'a>;

/// The median rate of each side over alternating rounds, after a warm-up of each.
async fn alternate(plan: &Plan, sides: &[Side<'_>]) -> Vec<f64> {
    for side in sides {
        side().await;
    }
    let mut rates = vec![Vec::new(); sides.len()];
    for _ in 0..plan.rounds {
        for (side, rates) in sides.iter().zip(&mut rates) {
            rates.push(side().await);
        }
    }
    rates.into_iter().map(median).collect()
}

/// booking-redis's own lock scripts, to call them by hand: what the crate adds to its scripts.
const OUR_ACQUIRE: &str = concat!(
    include_str!("../../booking-redis/src/lua/prelude.lua"),
    "\n",
    include_str!("../../booking-redis/src/lua/tokens.lua"),
    "\n",
    include_str!("../../booking-redis/src/lua/lock_acquire.lua"),
);
const OUR_RELEASE: &str = concat!(
    include_str!("../../booking-redis/src/lua/prelude.lua"),
    "\n",
    include_str!("../../booking-redis/src/lua/lock_release.lua"),
);

/// A key of the hand-written baselines, under the bench's namespace (so that
/// `delete_namespace` removes it with the rest).
fn raw_key(ns: &Namespace, rest: &str) -> String {
    format!("{{{ns}/raw}}:{rest}")
}

/// The hand-written claim: `SET key value NX PX 30000`; whether it was set.
async fn set_nx_px(conn: &mut RedisConnection, key: &str, value: &str) -> bool {
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(conn)
        .await
        .unwrap();
    set.is_some()
}

/// The hand-written release: compare-and-delete.
const RAW_RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                           return redis.call('DEL', KEYS[1]) else return 0 end";

/// The hand-written admission: the first `n` of a waiting set into an admitted set.
const RAW_ADMIT: &str = "local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1]) \
                         for i = 1, #popped, 2 do redis.call('ZADD', KEYS[2], ARGV[2], popped[i]) end \
                         return #popped / 2";

async fn lock_rows(plan: &Plan, s: &mut Summary, conn: &RedisConnection, ns: &Namespace) {
    let locks = Arc::new(RedisLockManager::new(
        conn.clone(),
        ns.clone(),
        Arc::new(SystemClock),
        Arc::new(TokioSleeper),
    ));
    let release = Arc::new(redis::Script::new(RAW_RELEASE));
    let by_hand = Arc::new((
        redis::Script::new(OUR_ACQUIRE),
        redis::Script::new(OUR_RELEASE),
    ));
    let ttl = Duration::from_secs(30);
    for tasks in [1_u64, 8, 50] {
        let ours: Side<'_> = Box::new(|| {
            let locks = Arc::clone(&locks);
            Box::pin(throughput(tasks, plan.round, move |task, _| {
                let locks = Arc::clone(&locks);
                async move {
                    let key = format!("bench:{task}");
                    let guard = locks
                        .acquire(&[&key], &LockOptions::new(ttl))
                        .await
                        .unwrap();
                    guard.release().await.unwrap();
                }
            }))
        });
        let raw: Side<'_> = Box::new(|| {
            let (conn, release, ns) = (conn.clone(), Arc::clone(&release), ns.clone());
            Box::pin(throughput(tasks, plan.round, move |task, i| {
                let (mut conn, release) = (conn.clone(), Arc::clone(&release));
                let key = raw_key(&ns, &format!("lock:{task}"));
                async move {
                    let token = format!("{task}:{i}");
                    assert!(set_nx_px(&mut conn, &key, &token).await, "the key is free");
                    let freed: i64 = release
                        .key(&key)
                        .arg(&token)
                        .invoke_async(&mut conn)
                        .await
                        .unwrap();
                    assert_eq!(freed, 1);
                }
            }))
        });
        let hand: Side<'_> = Box::new(|| {
            let (conn, scripts, tag) = (conn.clone(), Arc::clone(&by_hand), format!("{{{ns}}}"));
            Box::pin(throughput(tasks, plan.round, move |task, _| {
                let (mut conn, scripts) = (conn.clone(), Arc::clone(&scripts));
                let (fence, key) = (format!("{tag}:fence"), format!("{tag}:lock:hand-{task}"));
                async move {
                    let now = SystemClock.now().as_nanosecond();
                    let until = now + i128::from(ttl.as_secs()) * 1_000_000_000;
                    let (granted, token): (i64, String) = scripts
                        .0
                        .key(&fence)
                        .key(&key)
                        .arg(now.to_string())
                        .arg(until.to_string())
                        .arg(30_000)
                        .arg(3_600_000)
                        .invoke_async(&mut conn)
                        .await
                        .unwrap();
                    assert_eq!(granted, 1, "the key is free");
                    let lost: i64 = scripts
                        .1
                        .key(&key)
                        .arg(token)
                        .arg(now.to_string())
                        .invoke_async(&mut conn)
                        .await
                        .unwrap();
                    assert_eq!(lost, 0);
                }
            }))
        });
        let rates = alternate(plan, &[ours, raw, hand]).await;
        let (a, b, c) = (rates[0], rates[1], rates[2]);
        s.row(
            &format!("lock acquire + release, {tasks} task(s)"),
            rate(a),
            rate(b),
            speed_ratio(a, b),
            "pairs/s; raw: SET NX PX + EVALSHA compare-and-delete (no fencing token)",
        );
        s.row(
            &format!("  the same, against our scripts called by hand, {tasks} task(s)"),
            rate(a),
            rate(c),
            speed_ratio(a, c),
            "what the crate adds to its two scripts (acquire mints the token: TIME + the scope's counter)",
        );
    }
}

async fn idempotency_row(plan: &Plan, s: &mut Summary, conn: &RedisConnection, ns: &Namespace) {
    let store = Arc::new(RedisIdempotencyStore::new(
        conn.clone(),
        ns.clone(),
        Arc::new(SystemClock),
        Duration::from_secs(3_600),
    ));
    let fp = Fingerprint::of_request("POST", "/payments", &serde_json::Value::Null);
    let round = Arc::new(AtomicU64::new(0));
    let ours: Side<'_> = Box::new(|| {
        let (store, run) = (Arc::clone(&store), round.fetch_add(1, Ordering::Relaxed));
        Box::pin(throughput(8, plan.round, move |task, i| {
            let store = Arc::clone(&store);
            async move {
                let key = IdempotencyKey::new(format!("r{run}-t{task}-{i}")).unwrap();
                let scope = Scope::user("shop", "u1");
                let begun = store.begin(&scope, &key, &fp, Duration::from_secs(30));
                let BeginOutcome::Claimed(claim) = begun.await.unwrap() else {
                    panic!("a fresh key is claimed")
                };
                let done = StoredOutcome {
                    status: 201,
                    body: b"{}".to_vec(),
                };
                store.complete(&claim, done).await.unwrap();
            }
        }))
    });
    let raw: Side<'_> = Box::new(|| {
        let (conn, ns) = (conn.clone(), ns.clone());
        let run = round.fetch_add(1, Ordering::Relaxed);
        Box::pin(throughput(8, plan.round, move |task, i| {
            let mut conn = conn.clone();
            let key = raw_key(&ns, &format!("idem:r{run}-t{task}-{i}"));
            async move {
                let claimed = set_nx_px(&mut conn, &key, "inflight").await;
                assert!(claimed, "a fresh key is claimed");
                let _: () = conn.pset_ex(&key, "201 {}", 3_600_000).await.unwrap();
            }
        }))
    });
    let rates = alternate(plan, &[ours, raw]).await;
    let (a, b) = (rates[0], rates[1]);
    s.row(
        "idempotency begin + complete, 8 tasks",
        rate(a),
        rate(b),
        speed_ratio(a, b),
        "per s, fresh keys; raw: SET NX PX then SET PX (no fingerprint, no takeover, no retention index)",
    );
}

async fn queue_row(plan: &Plan, s: &mut Summary, conn: &RedisConnection, ns: &Namespace) {
    let queue = RedisAdmissionQueue::new(conn.clone(), ns.clone());
    let admit = redis::Script::new(RAW_ADMIT);
    let now = SystemClock.now();
    let ttl = Duration::from_secs(600);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        let event = EventId::new();
        let joins: Vec<_> = (0..plan.line)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.join(event, UserId::new(), now).await.unwrap() })
            })
            .collect();
        for j in joins {
            j.await.unwrap();
        }
        let begin = Instant::now();
        let mut admitted = 0;
        loop {
            let batch = queue.admit_next(event, 50, ttl, now).await.unwrap();
            if batch.is_empty() {
                break;
            }
            admitted += batch.len();
        }
        assert_eq!(admitted as u64, plan.line);
        ours.push(admitted as f64 / begin.elapsed().as_secs_f64());

        let mut c = conn.clone();
        let (waiting, done) = (
            raw_key(ns, &format!("queue:{round}:waiting")),
            raw_key(ns, &format!("queue:{round}:admitted")),
        );
        let members: Vec<(u64, String)> =
            (0..plan.line).map(|i| (i, format!("token-{i}"))).collect();
        for chunk in members.chunks(1_000) {
            let _: () = c.zadd_multiple(&waiting, chunk).await.unwrap();
        }
        let begin = Instant::now();
        let mut admitted = 0_u64;
        loop {
            let n: u64 = admit
                .key(&waiting)
                .key(&done)
                .arg(50)
                .arg(1_000)
                .invoke_async(&mut c)
                .await
                .unwrap();
            if n == 0 {
                break;
            }
            admitted += n;
        }
        assert_eq!(admitted, plan.line);
        raw.push(admitted as f64 / begin.elapsed().as_secs_f64());
    }
    let (a, b) = (median(ours), median(raw));
    s.row(
        "waiting room: admit_next(50)",
        rate(a),
        rate(b),
        speed_ratio(a, b),
        &format!(
            "admissions/s over a line of {}; raw: ZPOPMIN 50 + ZADD in one script (no per-token record, no user index)",
            plan.line
        ),
    );
}

/// One sale: `buyers` tasks each asking `store` for one unit of a new stock of `units`, all at
/// once. Returns the wall time and how many got a unit.
async fn sale(store: Arc<dyn BookingStore>, buyers: usize, units: u32) -> (Duration, usize) {
    let event = EventId::new();
    let price = Money::new(10_000, Currency::KRW).unwrap();
    let listing = StockListing::new(Stock::new(StockId::new(), units), event, "ga", price);
    store.add_stock(&listing).await.unwrap();
    let stock = listing.stock.id();
    let now = SystemClock.now();
    let until = now.checked_add(Duration::from_secs(600)).unwrap();
    let orders: Vec<_> = (0..buyers)
        .map(|_| {
            let items = [ItemRef::Stock { stock, quantity: 1 }];
            pending_order(event, UserId::new(), &items, 10_000, now, until)
        })
        .collect();
    let begin = Instant::now();
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|order| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                match store.place_order(&order, now).await {
                    Ok(()) => true,
                    Err(StoreError::InsufficientStock { .. }) => false,
                    Err(e) => panic!("a buyer got {e}"),
                }
            })
        })
        .collect();
    let mut sold = 0;
    for t in tasks {
        sold += usize::from(t.await.unwrap());
    }
    (begin.elapsed(), sold)
}

fn main() {
    let Ok(redis_url) = std::env::var("BOOKING_TEST_REDIS_URL") else {
        println!("skipped: BOOKING_TEST_REDIS_URL is not set");
        return;
    };
    let plan = Plan::new();
    let rt = Runtime::new().unwrap();
    let ns = Namespace::new(format!("booking-bench:{}", uuid::Uuid::now_v7().simple())).unwrap();
    let mut s = Summary::new(format!(
        "redis: booking-redis vs hand-written redis-rs, same server, same connection, same run{}",
        if plan.rounds < 5 {
            " (quick: smoke figures)"
        } else {
            ""
        }
    ));
    rt.block_on(async {
        let conn = RedisConnection::connect(&redis_url).await.unwrap();
        lock_rows(&plan, &mut s, &conn, &ns).await;
        idempotency_row(&plan, &mut s, &conn, &ns).await;
        queue_row(&plan, &mut s, &conn, &ns).await;
        match std::env::var("BOOKING_TEST_POSTGRES_URL") {
            Ok(pg_url) => hot_stock_rows(&plan, &mut s, &conn, &ns, &pg_url).await,
            Err(_) => println!("skipped: the hot-stock sale needs BOOKING_TEST_POSTGRES_URL"),
        }
        booking_redis::delete_namespace([&redis_url], &ns)
            .await
            .unwrap();
    });
    s.print();
}

async fn hot_stock_rows(
    plan: &Plan,
    s: &mut Summary,
    conn: &RedisConnection,
    ns: &Namespace,
    pg_url: &str,
) {
    let options: PgConnectOptions = pg_url.parse().unwrap();
    let schema = format!("booking_bench_redis_{}", uuid::Uuid::now_v7().simple());
    let mut admin = options.connect().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options.clone().options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    let store = PostgresStore::new(pool.clone());
    store.migrate().await.unwrap();
    let gate = Arc::new(RedisStockGate::new(store.clone(), conn.clone(), ns.clone()));
    let (mut with, mut without, mut attempts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.sales {
        let sent = gate.stats().sent_to_store;
        let (took, sold) = sale(gate.clone(), plan.buyers, plan.units).await;
        assert_eq!(
            sold, plan.units as usize,
            "the gate sells exactly the stock"
        );
        with.push(took.as_secs_f64());
        attempts.push((gate.stats().sent_to_store - sent) as f64);
        let (took, sold) = sale(Arc::new(store.clone()), plan.buyers, plan.units).await;
        assert_eq!(
            sold, plan.units as usize,
            "the store sells exactly the stock"
        );
        without.push(took.as_secs_f64());
    }
    let (a, b, sent) = (median(with), median(without), median(attempts));
    s.row(
        &format!("hot-stock sale: {} buyers, {} units, PostgreSQL", plan.buyers, plan.units),
        format!("{:.0} ms", a * 1_000.0),
        format!("{:.0} ms", b * 1_000.0),
        time_ratio(a, b),
        "wall time until every buyer has an answer; ours: gate + PostgresStore; raw: PostgresStore alone",
    );
    s.row(
        "hot-stock sale: hold attempts reaching PostgreSQL",
        format!("{sent:.0}"),
        format!("{}", plan.buyers),
        "-".to_owned(),
        &format!(
            "not a speed: {:.3} of the attempts without the gate, where every buyer reaches the database",
            sent / plan.buyers as f64
        ),
    );
    pool.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
}
