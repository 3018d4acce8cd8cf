//! `PostgresStore` runs booking-core's booking store conformance suite.
//!
//! Each test gets its own schema (`booking_test_<unix seconds>_<uuid>`) holding freshly
//! migrated tables, so tests run in parallel without seeing each other. The other ports of
//! the backend are booking-core's in-memory ones. Set `BOOKING_TEST_POSTGRES_URL`
//! (for example `postgres://postgres@127.0.0.1:5432/test`); without it the tests print
//! `skipped: …` and pass, except under CI (`CI` set), where they fail.
//!
//! A test cannot drop its schema when it ends (the backend has no teardown hook), so the
//! first test of each run drops the schemas of runs more than an hour old.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, ManualClock};
use booking_core::memory::{
    MemoryAdmissionQueue, MemoryCouponStore, MemoryIdempotencyStore, MemoryLockManager,
    MemoryWalletStore,
};
use booking_core::policy::ManualSleeper;
use booking_core::testkit::{Backend, BackendFactory, IDEMPOTENCY_RETENTION};
use booking_sqlx::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::support::{PREFIX, fresh_name, is_stale, server_url};

/// Where the test server is.
const URL_VAR: &str = "BOOKING_TEST_POSTGRES_URL";
/// Connections per test: enough for the races to contend, few enough for parallel tests.
const POOL_SIZE: u32 = 8;

/// Whether the first backend of this run has cleaned up stale schemas.
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Builds a [`Backend`] whose store is a [`PostgresStore`] in a fresh schema.
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

#[async_trait]
impl BackendFactory for Postgres {
    async fn backend(&self, clock: ManualClock) -> Option<Backend> {
        let url = server_url(URL_VAR)?;
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

        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await
            .expect("connect the test pool");
        let store = PostgresStore::new(pool);
        store.migrate().await.expect("migrate the test schema");

        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
        Some(Backend {
            store: Arc::new(store),
            coupons: Arc::new(MemoryCouponStore::new()),
            wallet: Arc::new(MemoryWalletStore::new()),
            queue: Arc::new(MemoryAdmissionQueue::new()),
            idempotency: Arc::new(MemoryIdempotencyStore::new(
                Arc::clone(&shared),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(MemoryLockManager::new(shared, sleeper)),
            clock,
        })
    }
}

booking_core::store_conformance_tests!(Postgres);
