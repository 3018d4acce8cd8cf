//! The example server on PostgreSQL under concurrent HTTP clients over loopback, printed as
//! one table next to what the same database does without the server:
//!
//! - hold requests per second (`POST /v1/orders` of one seat, each by a signed-in user) at 8,
//!   32 and 64 clients, with p50/p99 latency, against the hand-written single-statement hold (an
//!   autocommitted conditional `UPDATE` of the seat row) at the same concurrency on a pool of
//!   the server's size — target ≥ 0.5×;
//! - the seat-availability read (`GET /v1/performances/{id}/seats`) and the flight search
//!   (`GET /v1/flights?from=&to=`) at 64 and 256 connections: p50/p95/p99 — target p95 < 10 ms.
//!
//! The server runs in this process on an ephemeral port (`example_server::app`, the router the
//! binary serves), on a database of its own that the bench creates and drops. The load comes
//! from the same two cores, so the figures are what one machine does serving and loading at
//! once. Rows of one kind alternate between the server and the baseline, and each figure is a
//! median over rounds.
//!
//! Needs `BOOKING_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`); without
//! it the bench prints `skipped: …`. `BOOKING_BENCH_QUICK=1` runs short rounds (a smoke run).
//! Run: `cargo bench -p booking-benches --bench server_load`.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use booking_benches::{
    Summary, format_ns, median, percentile_ns, raw_pg_hold, speed_ratio, time_ratio,
};
use booking_core::clock::{Clock, SystemClock};
use booking_core::ids::{EventId, TicketId};
use booking_core::machine::Ticket;
use booking_core::money::{Currency, Money};
use booking_core::ports::store::{BookingStore, TicketListing};
use example_server::catalog::Seat;
use example_server::{AppState, Config};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tokio::runtime::Runtime;

/// How long and how big each part runs.
struct Plan {
    rounds: usize,
    round: Duration,
    /// Seats of the bench flight the server's side holds.
    seats: usize,
    /// Seats the raw statement's side holds (it goes several times faster).
    raw_seats: usize,
}

impl Plan {
    fn new() -> Self {
        if std::env::var_os("BOOKING_BENCH_QUICK").is_some() {
            Plan {
                rounds: 1,
                round: Duration::from_millis(500),
                seats: 20_000,
                raw_seats: 40_000,
            }
        } else {
            Plan {
                rounds: 3,
                round: Duration::from_secs(3),
                seats: 60_000,
                raw_seats: 300_000,
            }
        }
    }
}

/// Seats handed out one at a time to whichever client asks next.
struct Seats {
    ids: Vec<TicketId>,
    next: AtomicUsize,
}

impl Seats {
    fn take(&self) -> TicketId {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        *self.ids.get(i).expect("the bench listed enough seats")
    }
}

/// What one round measured: completed operations, wall time, each operation's latency.
struct Round {
    done: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Round {
    fn per_s(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `op` in `tasks` concurrent loops for `length`, timing each call.
async fn round<F, Fut>(tasks: usize, length: Duration, op: F) -> Round
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let deadline = started + length;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    op(task).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Round {
        done: latencies.len(),
        elapsed,
        latencies,
    }
}

/// The server under test, its address and the state it was built from.
struct Server {
    base: String,
    state: AppState,
    client: reqwest::Client,
}

impl Server {
    /// A signed-in demo user's bearer token.
    async fn sign_in(&self) -> String {
        let answer: serde_json::Value = self
            .client
            .post(format!("{}/v1/auth/demo", self.base))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/orders` of one seat of `sale`; asserts the 201.
    async fn hold(&self, token: &str, sale: EventId, seat: TicketId) {
        let response = self
            .client
            .post(format!("{}/v1/orders", self.base))
            .bearer_auth(token)
            .json(&serde_json::json!({ "sale": sale.to_string(), "seats": [seat.to_string()] }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(
            status.as_u16(),
            201,
            "hold refused: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// A GET of `path` with `token`; asserts the 200 and reads the body.
    async fn read(&self, token: &str, path: &str) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.bytes().await.unwrap();
    }
}

/// Lists `n` seats of `sale` directly in the store, for the raw statement's side.
async fn list_seats(store: &dyn BookingStore, sale: EventId, n: usize) -> Arc<Seats> {
    let price = Money::new(70_000, Currency::KRW).unwrap();
    let listings: Vec<TicketListing> = (0..n)
        .map(|_| TicketListing::new(Ticket::new(TicketId::new()), sale, "Y", price).tagged(["Y"]))
        .collect();
    for chunk in listings.chunks(5_000) {
        store.add_tickets(chunk).await.unwrap();
    }
    Arc::new(Seats {
        ids: listings.iter().map(|l| l.ticket.id()).collect(),
        next: AtomicUsize::new(0),
    })
}

/// The hand-written hold of one seat, asserting it took the seat.
async fn raw_hold(pool: &PgPool, seat: TicketId) {
    let now = SystemClock.now();
    let until = now + Duration::from_secs(600);
    assert_eq!(
        raw_pg_hold(pool, &[seat], now, until).await,
        1,
        "the raw hold took the seat"
    );
}

/// The URL of database `name` on the server of `url`.
fn database_url(url: &str, name: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("BOOKING_TEST_POSTGRES_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

fn main() {
    let Ok(url) = std::env::var("BOOKING_TEST_POSTGRES_URL") else {
        println!("skipped: BOOKING_TEST_POSTGRES_URL is not set");
        return;
    };
    let plan = Plan::new();
    let rt = Runtime::new().unwrap();
    let name = format!("booking_bench_server_{}", uuid::Uuid::now_v7().simple());
    let admin = rt
        .block_on(
            PgPoolOptions::new()
                .max_connections(1)
                .connect_with(PgConnectOptions::from_str(&url).unwrap()),
        )
        .unwrap();
    let data_dir = std::env::temp_dir().join(&name);
    let mut s = Summary::new(format!(
        "server_load: example server on PostgreSQL over loopback HTTP vs the raw statement, same run{}",
        if plan.rounds < 2 {
            " (quick: smoke figures)"
        } else {
            ""
        }
    ));
    rt.block_on(async {
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&admin)
            .await
            .unwrap();
        // The demo catalog plus a bench flight of `plan.seats` seats for the server's side
        // of the hold rows (an order names seats of its sale's catalog).
        let mut catalog = example_server::seed::demo_catalog(SystemClock.now()).unwrap();
        let mut bench_flight = catalog.flights[0].clone();
        bench_flight.id = EventId::new();
        bench_flight.number = "BENCH1".to_owned();
        bench_flight.from = "BNA".to_owned();
        bench_flight.to = "BNB".to_owned();
        bench_flight.seats = (0..plan.seats)
            .map(|i| Seat {
                ticket: TicketId::new(),
                label: format!("B{i}"),
                class: "Y".to_owned(),
                price: 70_000,
            })
            .collect();
        catalog.flights.push(bench_flight);
        std::fs::create_dir_all(&data_dir).unwrap();
        catalog.save(&data_dir.join("catalog.json")).unwrap();
        let mut config = Config::with_data_dir(&data_dir);
        config.database_url = Some(database_url(&url, &name));
        // Background upkeep would compete with the load: once a minute is plenty here.
        config.upkeep_every = Duration::from_secs(60);
        let state = AppState::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = example_server::app(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let server = Arc::new(Server {
            base,
            state,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1_024)
                .build()
                .unwrap(),
        });
        hold_rows(&plan, &server, &mut s).await;
        read_rows(&plan, &server, &mut s).await;
        server.state.backend.database.close().await;
    });
    rt.block_on(async {
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE \"{name}\" WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
    });
    let _ = std::fs::remove_dir_all(&data_dir);
    s.print();
}

/// Hold rows: the server's `POST /v1/orders` against the raw statement, clients alternating.
async fn hold_rows(plan: &Plan, server: &Arc<Server>, s: &mut Summary) {
    let bench = server.state.catalog.flights.last().unwrap();
    let flight = bench.id;
    let ours = Arc::new(Seats {
        ids: bench.seats.iter().map(|seat| seat.ticket).collect(),
        next: AtomicUsize::new(0),
    });
    let store = server.state.backend.store.clone();
    let raw = list_seats(&*store, flight, plan.raw_seats).await;
    let pool_size = server.state.backend.database.max_connections();
    let raw_pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(&server.state.config.database_url())
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..64 {
        tokens.push(server.sign_in().await);
    }
    let tokens = Arc::new(tokens);
    for clients in [8_usize, 32, 64] {
        let (mut a, mut b, mut lat) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..plan.rounds {
            let (srv, seats, tokens) = (server.clone(), ours.clone(), tokens.clone());
            let r = round(clients, plan.round, move |task| {
                let (srv, seats, tokens) = (srv.clone(), seats.clone(), tokens.clone());
                async move { srv.hold(&tokens[task], flight, seats.take()).await }
            })
            .await;
            a.push(r.per_s());
            lat.push((
                percentile_ns(&r.latencies, 50),
                percentile_ns(&r.latencies, 99),
            ));
            let (pool, seats) = (raw_pool.clone(), raw.clone());
            let r = round(clients, plan.round, move |_| {
                let (pool, seats) = (pool.clone(), seats.clone());
                async move { raw_hold(&pool, seats.take()).await }
            })
            .await;
            b.push(r.per_s());
        }
        let (a, b) = (median(a), median(b));
        let p50 = median(lat.iter().map(|l| l.0).collect());
        let p99 = median(lat.iter().map(|l| l.1).collect());
        s.row(
            &format!("hold 1 seat over HTTP, {clients} clients"),
            format!("{a:.0}/s"),
            format!("{b:.0}/s"),
            speed_ratio(a, b),
            &format!(
                "POST /v1/orders p50 {} p99 {}; raw: conditional UPDATE, pool of {pool_size} (target ≥ 0.5)",
                format_ns(p50),
                format_ns(p99)
            ),
        );
    }
    raw_pool.close().await;
}

/// Read rows: seat availability and flight search at 64 and 256 connections.
async fn read_rows(plan: &Plan, server: &Arc<Server>, s: &mut Summary) {
    let token: Arc<str> = server.sign_in().await.into();
    let performance = server
        .state
        .catalog
        .performances
        .iter()
        .find(|p| !p.seats.is_empty())
        .unwrap()
        .id;
    let flight = &server.state.catalog.flights[0];
    let reads = [
        (
            "seat availability",
            format!("/v1/performances/{performance}/seats"),
        ),
        (
            "flight search",
            format!("/v1/flights?from={}&to={}", flight.from, flight.to),
        ),
    ];
    for (what, path) in reads {
        for connections in [64_usize, 256] {
            let (mut rate, mut p50, mut p95, mut p99) = (vec![], vec![], vec![], vec![]);
            for _ in 0..plan.rounds {
                let (srv, token, path) = (server.clone(), token.clone(), path.clone());
                let r = round(connections, plan.round, move |_| {
                    let (srv, token, path) = (srv.clone(), token.clone(), path.clone());
                    async move { srv.read(&token, &path).await }
                })
                .await;
                rate.push(r.per_s());
                p50.push(percentile_ns(&r.latencies, 50));
                p95.push(percentile_ns(&r.latencies, 95));
                p99.push(percentile_ns(&r.latencies, 99));
            }
            let p95 = median(p95);
            s.row(
                &format!("{what}, {connections} connections: p95"),
                format_ns(p95),
                "10.00 ms".to_owned(),
                time_ratio(p95, 10_000_000.0),
                &format!(
                    "GET {path}: {:.0}/s, p50 {} p99 {}; baseline = the target",
                    median(rate),
                    format_ns(median(p50)),
                    format_ns(median(p99))
                ),
            );
        }
    }
}
