//! Crash and restart: the `booking-server` binary on PostgreSQL (a schema of its own) with
//! concurrent buyers over HTTP — hold, pay with points, pay by card through the fake Toss
//! mounted in-process, cancel, abandon — `kill -9`ed mid-sale three times, then PostgreSQL
//! restarted mid-sale, then Redis restarted while the server runs with `REDIS_URL`. After each
//! event the stores are read back (see [`crate::crash_checks`] for exactly what is checked).
//!
//! Ignored in the ordinary run: it restarts PostgreSQL and Redis, which other tests use.
//! `.ci/crash-restart` runs it alone (`--ignored`), with `BOOKING_TEST_POSTGRES_URL` and
//! `BOOKING_TEST_REDIS_URL` set. PostgreSQL and Redis are started again at the end whatever
//! happens (a guard here, a trap in the script).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::crash_checks::{Report, Strictness, check};

const ADMIN: &str = "crash-restart-admin-token";
/// How long a hold lasts here: short, so holds lapse and the sweeper works during the run.
const HOLD_TTL: &str = "4s";

/// Starts PostgreSQL and Redis again if they do not answer; run when the test ends, however.
struct ServicesGuard;

impl Drop for ServicesGuard {
    fn drop(&mut self) {
        ensure_postgres();
        ensure_redis();
    }
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn postgres_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut dir| dir.next())
        .and_then(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn pg_ctl(action: &str) -> bool {
    let version = postgres_version();
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", action],
    )
}

fn ensure_postgres() {
    if !run("pg_isready", &["-h", "127.0.0.1", "-q"]) {
        pg_ctl("start");
    }
}

fn start_redis() -> bool {
    run(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )
}

fn ensure_redis() {
    if !run("redis-cli", &["-h", "127.0.0.1", "ping"]) {
        start_redis();
    }
}

/// One run of the binary.
struct Process {
    child: Child,
}

struct Setup {
    port: u16,
    data: tempfile::TempDir,
    database_url: String,
    redis_url: Option<String>,
    namespace: String,
}

impl Setup {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&self, with_redis: bool) -> Process {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("server.log"))
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_booking-server"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.port))
            .env("DATA_DIR", self.data.path())
            .env("DATABASE_URL", &self.database_url)
            .env("ADMIN_TOKEN", ADMIN)
            .env("HOLD_TTL", HOLD_TTL)
            .env("UPKEEP_EVERY", "1s")
            .env("REDIS_NAMESPACE", &self.namespace)
            .stdout(Stdio::null())
            .stderr(log);
        if with_redis {
            command.env("REDIS_URL", self.redis_url.as_deref().expect("redis URL"));
        }
        // Owned at once, so a server that never becomes ready is killed and reaped on the
        // failed assertion below.
        let process = Process {
            child: command.spawn().expect("start booking-server"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http.get(format!("{}/readyz", self.base())).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Process {
    /// `kill -9`: no shutdown, no draining, whatever was in flight is cut.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    /// A server left running by a failed check is killed and reaped with the test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the buyers did, for the report, and the switch that pauses them while the stores are
/// read.
#[derive(Default)]
struct Tally {
    paused: AtomicBool,
    busy: AtomicU64,
    holds: AtomicU64,
    paid_points: AtomicU64,
    paid_card: AtomicU64,
    cancels: AtomicU64,
    failures: AtomicU64,
}

/// One buyer: signs in, tops up, and loops over the flight's seats until told to stop.
async fn buyer(base: String, flight: String, seed: u64, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut token: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        if tally.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        tally.busy.fetch_add(1, Ordering::SeqCst);
        let outcome = async {
            let auth = match &token {
                Some(t) => t.clone(),
                None => {
                    let t = post(&http, &base, None, "/v1/auth/demo", json!({}))
                        .await?
                        .1["token"]
                        .as_str()
                        .ok_or(())?
                        .to_owned();
                    let charge = json!({ "amount": 2_000_000 });
                    post(&http, &base, Some(&t), "/v1/wallet/charge", charge).await?;
                    token = Some(t.clone());
                    t
                }
            };
            let seats = get(
                &http,
                &base,
                &auth,
                &format!("/v1/performances/{flight}/seats"),
            )
            .await?;
            let free: Vec<&Value> = seats
                .as_array()
                .ok_or(())?
                .iter()
                .filter(|s| s["available"] == true)
                .collect();
            if free.is_empty() {
                return Err(());
            }
            let seat =
                free[usize::try_from(next(free.len() as u64)).unwrap_or(0)]["ticket"].clone();
            let (status, order) = post(
                &http,
                &base,
                Some(&auth),
                "/v1/orders",
                json!({ "sale": flight, "seats": [seat] }),
            )
            .await?;
            if status != 201 {
                return Err(());
            }
            tally.holds.fetch_add(1, Ordering::Relaxed);
            let id = order["id"].as_str().ok_or(())?.to_owned();
            let paid = match next(4) {
                0 => {
                    let (s, _) = post(
                        &http,
                        &base,
                        Some(&auth),
                        &format!("/v1/orders/{id}/payments"),
                        json!({ "method": "points" }),
                    )
                    .await?;
                    let ok = s == 200;
                    if ok {
                        tally.paid_points.fetch_add(1, Ordering::Relaxed);
                    }
                    ok
                }
                1 => {
                    let (s, checkout) = post(
                        &http,
                        &base,
                        Some(&auth),
                        &format!("/v1/orders/{id}/payments"),
                        json!({ "method": "card" }),
                    )
                    .await?;
                    let url = checkout["checkoutUrl"].as_str().ok_or(())?;
                    if s != 200 {
                        return Err(());
                    }
                    let window = http.get(url).send().await.map_err(|_| ())?;
                    let success = window
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .ok_or(())?
                        .to_owned();
                    let done = http
                        .get(&success)
                        .bearer_auth(&auth)
                        .send()
                        .await
                        .map_err(|_| ())?;
                    let ok = done.status().is_success() || done.status().is_redirection();
                    if ok {
                        tally.paid_card.fetch_add(1, Ordering::Relaxed);
                    }
                    ok
                }
                2 => false,
                // Abandoned: the hold lapses and the sweeper tidies.
                _ => return Ok(()),
            };
            // Half the sales are refunded, so seats keep coming back on sale.
            if !paid || next(2) == 0 {
                let cancel = json!({ "reason": "crash-restart buyer" });
                let (s, _) = post(
                    &http,
                    &base,
                    Some(&auth),
                    &format!("/v1/orders/{id}/cancel"),
                    cancel,
                )
                .await?;
                if s == 200 {
                    tally.cancels.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }
        .await;
        tally.busy.fetch_sub(1, Ordering::SeqCst);
        if outcome.is_err() {
            tally.failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> Result<(u16, Value), ()> {
    let mut request = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.map_err(|_| ())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn get(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Result<Value, ()> {
    let response = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| ())?;
    if !response.status().is_success() {
        return Err(());
    }
    let bytes = response.bytes().await.map_err(|_| ())?;
    serde_json::from_slice(&bytes).map_err(|_| ())
}

/// Pauses the buyers and waits for the requests in flight to end, so the stores are read
/// between sales; then runs upkeep and every check.
async fn settled_check(tally: &Tally, base: &str, database_url: &str, what: &str) -> Report {
    tally.paused.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tally.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    upkeep(base).await;
    let mut db = PgConnection::connect(database_url)
        .await
        .expect("PostgreSQL answers");
    let report = check(&mut db, base, Strictness::InDoubtAllowed).await;
    eprintln!("{what}: {report}");
    tally.paused.store(false, Ordering::SeqCst);
    report
}

/// Runs the sweeper, reconciler and relay now, retrying while the server or its database
/// comes back.
async fn upkeep(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http
            .post(format!("{base}/v1/admin/upkeep"))
            .bearer_auth(ADMIN)
            .send()
            .await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "upkeep did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts PostgreSQL and Redis, which other tests use: run by .ci/crash-restart"]
async fn sales_survive_crashes_and_restarts() {
    let _guard = ServicesGuard;
    booking_toss::install_crypto_provider();
    let pg = std::env::var("BOOKING_TEST_POSTGRES_URL").expect("BOOKING_TEST_POSTGRES_URL");
    let redis = std::env::var("BOOKING_TEST_REDIS_URL").expect("BOOKING_TEST_REDIS_URL");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = format!("crash_{nanos}_{}", std::process::id());
    let mut admin = PgConnection::connect(&pg)
        .await
        .expect("PostgreSQL answers");
    // The name is a fixed prefix and digits, never input.
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    drop(admin);
    let mut database_url = Url::parse(&pg).expect("URL");
    database_url
        .query_pairs_mut()
        .append_pair("options[search_path]", &schema);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let setup = Setup {
        port,
        data: tempfile::tempdir().expect("temp dir"),
        database_url: database_url.to_string(),
        redis_url: Some(redis),
        namespace: format!("crash-{nanos}"),
    };
    let base = setup.base();

    let mut server = setup.start(false).await;
    let http = reqwest::Client::new();
    let (_, login) = post(&http, &base, None, "/v1/auth/demo", json!({}))
        .await
        .expect("login");
    let token = login["token"].as_str().expect("token").to_owned();
    let flights = get(&http, &base, &token, "/v1/flights?from=ICN&to=CJU")
        .await
        .expect("flights");
    let flight = flights[0]["id"].as_str().expect("flight").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let buyers: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(buyer(
                base.clone(),
                flight.clone(),
                i + 1,
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    let connect = || async {
        PgConnection::connect(&setup.database_url)
            .await
            .expect("PostgreSQL answers")
    };

    let url = setup.database_url.clone();
    // Three kill -9s mid-sale, each followed by a restart and the checks.
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(2_000 + 500 * round)).await;
        // While this process lives, its fake Toss can be compared with the store.
        settled_check(&tally, &base, &url, &format!("before kill -9 #{round}")).await;
        tokio::time::sleep(Duration::from_millis(400 + 300 * round)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        server = setup.start(false).await;
        settled_check(&tally, &base, &url, &format!("after kill -9 #{round}")).await;
    }

    // PostgreSQL restarted under the running server, mid-sale.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pg_ctl("restart"), "PostgreSQL restarted");
    tokio::time::sleep(Duration::from_secs(2)).await;
    settled_check(&tally, &base, &url, "after the PostgreSQL restart").await;

    // The server on Redis; Redis restarted without persistence under it, mid-sale.
    server.kill();
    server = setup.start(true).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // `shutdown` ends the connection it came on: its exit status says nothing.
    run("redis-cli", &["-h", "127.0.0.1", "shutdown", "nosave"]);
    assert!(start_redis(), "Redis started again");
    tokio::time::sleep(Duration::from_secs(3)).await;
    settled_check(&tally, &base, &url, "after the Redis restart").await;

    // The sale ends; what was in doubt is settled by the reconciler once it is stale.
    stop.store(true, Ordering::Relaxed);
    for b in buyers {
        let _ = b.await;
    }
    let deadline = Instant::now() + Duration::from_secs(200);
    let report = loop {
        upkeep(&base).await;
        let report = check(&mut connect().await, &base, Strictness::InDoubtAllowed).await;
        if report.in_doubt == 0 || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    eprintln!("at the end: {report}");
    let report = check(&mut connect().await, &base, Strictness::Settled).await;
    eprintln!(
        "buyers: {} holds, {} paid with points, {} by card, {} cancels, {} failed attempts (server down, seat taken, ...)",
        tally.holds.load(Ordering::Relaxed),
        tally.paid_points.load(Ordering::Relaxed),
        tally.paid_card.load(Ordering::Relaxed),
        tally.cancels.load(Ordering::Relaxed),
        tally.failures.load(Ordering::Relaxed),
    );
    assert!(report.paid_orders > 0, "the sale sold nothing: {report}");
    server.kill();
    let mut admin = connect().await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
}
