//! What the tests share: the servers from the environment, a key prefix per test and the
//! cleanup of old ones, and a `redis-server` of the test's own for restarts and faults.
#![allow(dead_code)] // each test module uses the part it needs

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use booking_redis::{Namespace, RedisConnection, Timeouts};
use redis::AsyncCommands;

/// The standalone server every section runs on.
pub(crate) const STANDALONE_VAR: &str = "BOOKING_TEST_REDIS_URL";
/// The cluster's node URLs, comma-separated.
pub(crate) const CLUSTER_VAR: &str = "BOOKING_TEST_REDIS_CLUSTER_URLS";
/// PostgreSQL, for the tests that write through a fenced or gated SQL store.
pub(crate) const POSTGRES_VAR: &str = "BOOKING_TEST_POSTGRES_URL";

/// Every test's namespace starts with this, then its creation time in seconds.
const PREFIX: &str = "booking-test:";
/// Keys of namespaces older than this are removed by the first test of a run.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The longest a test waits for something that should happen soon: a bound that turns a hang
/// into a failure, not a timing assertion.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// The value of `var`. A test that reads one is ignored when it is unset (see `build.rs`),
/// except under CI, where an unset variable fails it here.
pub(crate) fn env_url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!("{var} must be set to run this test"),
    }
}

/// The node URLs in `var` (comma-separated), if it is set.
pub(crate) fn nodes_in(var: &str) -> Option<Vec<String>> {
    let urls = std::env::var(var).ok()?;
    Some(
        urls.split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect(),
    )
}

/// The cluster's node URLs.
pub(crate) fn cluster_urls() -> Vec<String> {
    env_url(CLUSTER_VAR);
    nodes_in(CLUSTER_VAR).unwrap_or_default()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh namespace: the prefix, the time in seconds and a UUID.
pub(crate) fn fresh_namespace() -> Namespace {
    Namespace::new(format!(
        "{PREFIX}{}:{}",
        now_secs(),
        uuid::Uuid::now_v7().simple()
    ))
    .expect("a generated namespace is valid")
}

/// Whether `key` belongs to a test namespace made more than an hour ago.
fn is_stale(key: &str) -> bool {
    let cutoff = now_secs().saturating_sub(STALE_AFTER.as_secs());
    key.find(PREFIX)
        .map(|at| &key[at + PREFIX.len()..])
        .and_then(|rest| rest.split(':').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|created| created < cutoff)
}

/// Deletes, on the node at `url`, the keys matching `pattern` for which `doomed` holds. Only
/// masters hold writable keys; a replica is skipped.
async fn delete_on_node(url: &str, pattern: &str, doomed: impl Fn(&str) -> bool) {
    let client = redis::Client::open(url).expect("a node URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} does not answer: {e}"));
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query_async(&mut conn)
        .await
        .expect("ROLE");
    if !matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
        return;
    }
    let mut keys = Vec::new();
    {
        let options = redis::ScanOptions::default()
            .with_pattern(pattern)
            .with_count(1_000);
        let mut iter: redis::AsyncIter<'_, String> =
            conn.scan_options(options).await.expect("SCAN");
        while let Some(key) = iter.next_item().await {
            let key = key.expect("a key");
            if doomed(&key) {
                keys.push(key);
            }
        }
    }
    for chunk in keys.chunks(1_000) {
        let mut unlink = redis::pipe();
        for key in chunk {
            unlink.unlink(key).ignore();
        }
        let () = unlink.query_async(&mut conn).await.expect("UNLINK");
    }
}

/// Deletes every key of `ns` on the nodes at `urls`.
pub(crate) async fn drop_namespace(urls: &[String], ns: &Namespace) {
    booking_redis::delete_namespace(urls, ns)
        .await
        .expect("delete the test's keys");
}

/// Deletes the keys of test namespaces more than an hour old, once per run and deployment.
async fn drop_stale(urls: &[String], done: &AtomicBool) {
    if done.swap(true, Ordering::SeqCst) {
        return;
    }
    for url in urls {
        delete_on_node(url, &format!("*{PREFIX}*"), is_stale).await;
    }
}

/// The tests' timeouts: the default connect timeout, and a response timeout long enough for
/// a thousand-task race on a loaded two-core machine (the tests check behaviour, not latency).
fn timeouts() -> Timeouts {
    Timeouts {
        response: Duration::from_secs(15),
        ..Timeouts::default()
    }
}

static STANDALONE_CLEANED: AtomicBool = AtomicBool::new(false);
static CLUSTER_CLEANED: AtomicBool = AtomicBool::new(false);

/// The standalone server's URL, its connection and a fresh namespace.
pub(crate) async fn standalone() -> (String, RedisConnection, Namespace) {
    let url = env_url(STANDALONE_VAR);
    drop_stale(std::slice::from_ref(&url), &STANDALONE_CLEANED).await;
    let conn = RedisConnection::connect_with(&url, timeouts())
        .await
        .unwrap_or_else(|e| panic!("Redis at {STANDALONE_VAR} does not answer: {e}"));
    (url, conn, fresh_namespace())
}

/// The cluster's node URLs, a connection to it and a fresh namespace.
pub(crate) async fn cluster() -> (Vec<String>, RedisConnection, Namespace) {
    let urls = cluster_urls();
    drop_stale(&urls, &CLUSTER_CLEANED).await;
    let conn = RedisConnection::connect_cluster_with(&urls, timeouts())
        .await
        .unwrap_or_else(|e| panic!("the cluster at {CLUSTER_VAR} does not answer: {e}"));
    (urls, conn, fresh_namespace())
}

/// A `redis-server` of the test's own, on a free port, without persistence: a server the test
/// may shut down and start again. Killed when dropped.
pub(crate) struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one (a test using it is ignored when `redis-server` is not installed, see
    /// `build.rs`).
    pub(crate) async fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "booking-redis-test-{port}-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a data directory");
        let mut server = OwnRedis {
            port,
            dir,
            child: None,
        };
        server.run().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server process on the port and waits until it answers.
    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("a URL");
        tokio::time::timeout(HANG, async {
            loop {
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                    let pong: redis::RedisResult<String> =
                        redis::cmd("PING").query_async(&mut conn).await;
                    if pong.is_ok() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("redis-server comes up");
    }

    /// `SHUTDOWN NOSAVE`: the server stops and forgets everything.
    pub(crate) async fn shutdown_nosave(&mut self) {
        let client = redis::Client::open(self.url()).expect("a URL");
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            // The server closes the connection instead of answering.
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
                .arg("NOSAVE")
                .query_async(&mut conn)
                .await;
        }
        if let Some(mut child) = self.child.take() {
            tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("wait for redis-server")
                .expect("redis-server exits");
        }
    }

    /// Starts the server again on the same port, empty.
    pub(crate) async fn restart(&mut self) {
        self.run().await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `op` until it succeeds (a connection manager reconnecting after a restart answers the
/// first calls with errors), at most for [`HANG`].
pub(crate) async fn until_ok<T, E: std::fmt::Debug, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    tokio::time::timeout(HANG, async {
        loop {
            match op().await {
                Ok(value) => return value,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the call succeeds once Redis is back")
}

/// A PostgreSQL schema of the test's own, with booking-sqlx's tables; dropped by
/// [`drop`](Self::drop).
pub(crate) struct PgSchema {
    /// A pool whose connections use the schema.
    pub(crate) pool: sqlx::PgPool,
    /// Connects with the schema first on the search path.
    pub(crate) options: sqlx::postgres::PgConnectOptions,
    name: String,
    admin: sqlx::postgres::PgConnectOptions,
}

impl PgSchema {
    /// A fresh schema (named like booking-sqlx's test schemas, so its stale cleanup finds
    /// leftovers), or `None` when PostgreSQL is not configured (outside CI).
    pub(crate) async fn fresh() -> PgSchema {
        use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};
        let url = env_url(POSTGRES_VAR);
        let admin: sqlx::postgres::PgConnectOptions = url
            .parse()
            .unwrap_or_else(|e| panic!("{POSTGRES_VAR}={url:?} is not a PostgreSQL URL: {e}"));
        let name = format!(
            "booking_test_{}_{}",
            now_secs(),
            uuid::Uuid::now_v7().simple()
        );
        let mut conn = admin
            .connect()
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {POSTGRES_VAR} does not answer: {e}"));
        // The name is made here of digits and hex, never of input.
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        conn.close().await.expect("close");
        let options = admin.clone().options([("search_path", name.as_str())]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(HANG)
            .connect_with(options.clone())
            .await
            .expect("connect the test pool");
        booking_sqlx::PostgresStore::new(pool.clone())
            .migrate()
            .await
            .expect("migrate the test schema");
        PgSchema {
            pool,
            options,
            name,
            admin,
        }
    }

    /// Drops the schema.
    pub(crate) async fn drop(self) {
        use sqlx::{AssertSqlSafe, ConnectOptions as _};
        self.pool.close().await;
        let mut conn = self.admin.connect().await.expect("connect");
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.name
        )))
        .execute(&mut conn)
        .await
        .expect("drop the test schema");
    }
}
