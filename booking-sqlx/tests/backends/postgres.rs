//! Every PostgreSQL port runs booking-core's whole conformance suite.
//!
//! Each test gets its own schema (`booking_test_<unix seconds>_<uuid>`) holding freshly
//! migrated tables, so tests run in parallel without seeing each other; the fault tests
//! (`postgres_faults`) build their schemas with the same [`TestSchema`]. Set `BOOKING_TEST_POSTGRES_URL`
//! (for example `postgres://postgres@127.0.0.1:5432/test`); without it the tests are ignored
//! with that reason, except under CI (`CI` set), where they fail.
//!
//! A conformance case's schema is dropped when the case drops its backend (its lock port
//! owns a [`Teardown`]); the first test of each run also drops the schemas of runs more than
//! an hour old, which an interrupted run leaves behind.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, ManualClock};
use booking_core::policy::ManualSleeper;
use booking_core::testkit::{Backend, BackendFactory, IDEMPOTENCY_RETENTION};
use booking_sqlx::{
    PostgresAdmissionQueue, PostgresCouponStore, PostgresIdempotencyStore, PostgresLockManager,
    PostgresStore, PostgresWalletStore,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row};

use super::support::{PREFIX, Teardown, dropped_after, fresh_name, is_stale, server_url};

/// Where the test server is.
const URL_VAR: &str = "BOOKING_TEST_POSTGRES_URL";
/// Connections per test: enough for the races to contend, few enough for parallel tests.
const POOL_SIZE: u32 = 8;

/// Whether the first backend of this run has cleaned up stale schemas.
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Builds a [`Backend`] of every PostgreSQL port in a fresh schema.
#[derive(Debug, Clone, Copy)]
struct Postgres;

/// Drops the test schemas of runs older than an hour.
async fn drop_stale_schemas(admin: &mut PgConnection) {
    let rows = sqlx::query("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)")
        .bind(PREFIX)
        .fetch_all(&mut *admin)
        .await
        .expect("list test schemas");
    for row in rows {
        let name: String = row.get("nspname");
        if is_stale(&name) {
            // The name matched the prefix and a number: it is one of ours, quoted anyway.
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            )))
            .execute(&mut *admin)
            .await
            .expect("drop a stale test schema");
        }
    }
}

/// One test's schema on the test server, with its tables.
#[derive(Debug, Clone)]
pub(crate) struct TestSchema {
    /// Connects to the server with the schema first on the `search_path`.
    pub(crate) options: PgConnectOptions,
    /// Connects to the server as given.
    admin: PgConnectOptions,
    /// The schema's name.
    name: String,
}

impl TestSchema {
    /// A new schema with every port's tables.
    pub(crate) async fn fresh() -> TestSchema {
        let url = server_url(URL_VAR);
        let options = PgConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("{URL_VAR}={url:?} is not a PostgreSQL URL: {e}"));
        let mut admin = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {URL_VAR}={url:?} does not answer: {e}"));
        if !CLEANED.swap(true, Ordering::SeqCst) {
            drop_stale_schemas(&mut admin).await;
        }
        let schema = fresh_name();
        // The name is built here from digits and hex, never from input.
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        admin.close().await.expect("close the admin connection");
        let admin = options.clone();
        let options = options.options([("search_path", schema.as_str())]);
        let schema = TestSchema {
            options,
            admin,
            name: schema,
        };
        let migrating = schema.pool(PgPoolOptions::new().max_connections(1)).await;
        PostgresStore::new(migrating.clone())
            .migrate()
            .await
            .expect("migrate the test schema");
        migrating.close().await;
        schema
    }

    /// A pool of the schema, built by `options`.
    pub(crate) async fn pool(&self, options: PgPoolOptions) -> PgPool {
        options
            .connect_with(self.options.clone())
            .await
            .expect("connect the test pool")
    }

    /// Drops the schema when dropped.
    pub(crate) fn teardown(&self) -> Teardown {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        Teardown::new(move || async move {
            let mut conn = PgConnection::connect_with(&admin)
                .await
                .map_err(|e| e.to_string())?;
            // The name was made by `fresh_name`: digits, letters and underscores.
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            )))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    }

    /// The pool the conformance suite runs on.
    pub(crate) async fn suite_pool(&self) -> PgPool {
        let options = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(60));
        self.pool(options).await
    }
}

/// Every port on PostgreSQL over `pool`, on `clock`'s time.
pub(crate) fn backend_on(pool: &PgPool, clock: ManualClock) -> Backend {
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    Backend {
        store: Arc::new(PostgresStore::new(pool.clone())),
        coupons: Arc::new(PostgresCouponStore::new(pool.clone())),
        wallet: Arc::new(PostgresWalletStore::new(pool.clone())),
        queue: Arc::new(PostgresAdmissionQueue::new(pool.clone())),
        idempotency: Arc::new(PostgresIdempotencyStore::new(
            pool.clone(),
            Arc::clone(&shared),
            IDEMPOTENCY_RETENTION,
        )),
        locks: Arc::new(PostgresLockManager::new(pool.clone(), shared, sleeper)),
        clock,
    }
}

#[async_trait]
impl BackendFactory for Postgres {
    async fn backend(&self, clock: ManualClock) -> Backend {
        let schema = TestSchema::fresh().await;
        dropped_after(
            backend_on(&schema.suite_pool().await, clock),
            schema.teardown(),
        )
    }
}

booking_core::conformance_tests!(
    #[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
    Postgres
);

/// The store with group commit ([`PostgresStore::group_commit`]): the store and service
/// sections of the suite again, with one batch at a time so that concurrent holds queue up
/// and are placed together.
mod group_commit {
    use super::*;
    use booking_sqlx::postgres::GroupCommit;

    /// Every port as [`Postgres`] builds them, the store batching its holds.
    #[derive(Debug, Clone, Copy)]
    struct Grouped;

    #[async_trait]
    impl BackendFactory for Grouped {
        async fn backend(&self, clock: ManualClock) -> Backend {
            let schema = TestSchema::fresh().await;
            let pool = schema.suite_pool().await;
            let mut backend = backend_on(&pool, clock);
            backend.store = Arc::new(
                PostgresStore::new(pool).group_commit(GroupCommit::new().batches_in_flight(1)),
            );
            dropped_after(backend, schema.teardown())
        }
    }

    booking_core::conformance_sections!(
        #[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
        Grouped; store, service
    );
}

/// Rows written in the previous stored form (before it was versioned, before refunds kept
/// their answers) read as the records they stand for; the next write stores the current form.
#[tokio::test]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_reads_rows_of_the_previous_stored_form() {
    let schema = TestSchema::fresh().await;
    let _dropped = schema.teardown();
    let pool = schema.suite_pool().await;
    super::legacy_rows::check_legacy_rows!(
        &pool,
        &PostgresStore::new(pool.clone()),
        "INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8::json)",
        "INSERT INTO payments (id, order_id, order_ref, state, version, record)
         VALUES ($1, $2, $3, $4, 0, $5::json)",
        "SELECT record::text FROM orders WHERE id = $1",
    );
}

/// Entries whose transactions commit in the reverse order of their inserts reach a relay
/// that paged between the commits, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_outbox_delivers_entries_committed_out_of_order() {
    let schema = TestSchema::fresh().await;
    let _dropped = schema.teardown();
    let pool = schema.suite_pool().await;
    super::outbox_relay::check_reverse_commit!(
        &pool,
        &PostgresStore::new(pool.clone()),
        "INSERT INTO outbox (event, recorded_ns) VALUES ($1::json, $2)",
    );
}

/// Two relays paging while many writers commit each receive every entry once, in one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_outbox_relays_race_writers() {
    let schema = TestSchema::fresh().await;
    let pool = schema.pool(PgPoolOptions::new().max_connections(12)).await;
    super::outbox_relay::check_relays_race_writers!(
        &pool,
        Arc::new(PostgresStore::new(pool.clone())),
        "INSERT INTO outbox (event, recorded_ns) VALUES ($1::json, $2)",
    );
}

/// `PostgresStore::connect` to a server that is not there fails at once, naming the backend and
/// where it was connecting, never the password. No server needed.
#[tokio::test]
async fn postgres_connect_names_where_it_failed_and_not_the_password() {
    let err = PostgresStore::connect("postgres://booker:s3cret@127.0.0.1:1/shop")
        .await
        .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(
        message.starts_with("postgres store failed: cannot reach 127.0.0.1:1/shop: "),
        "{message}"
    );
    assert!(!format!("{message} {err:?}").contains("s3cret"), "{err:?}");
}

/// A conformance backend's schema is gone once the backend is dropped, as at the end of its
/// case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
async fn postgres_test_schema_is_dropped_with_its_backend() {
    let schema = TestSchema::fresh().await;
    let clock = ManualClock::new(booking_core::testkit::start_time());
    let backend = dropped_after(
        backend_on(&schema.suite_pool().await, clock),
        schema.teardown(),
    );
    let mut admin = PgConnection::connect_with(&schema.admin)
        .await
        .expect("connect");
    let exists = "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)";
    let before: bool = sqlx::query_scalar(exists)
        .bind(&schema.name)
        .fetch_one(&mut admin)
        .await
        .expect("look the schema up");
    assert!(before);
    drop(backend);
    let after: bool = sqlx::query_scalar(exists)
        .bind(&schema.name)
        .fetch_one(&mut admin)
        .await
        .expect("look the schema up");
    assert!(!after, "schema {} left behind", schema.name);
}
