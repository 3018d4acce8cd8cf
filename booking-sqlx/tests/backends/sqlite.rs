//! The SQLite backend runs booking-core's whole conformance suite: every port.
//!
//! Each test gets a fresh database file in the system's temp dir, named
//! `booking_test_<unix seconds>_<uuid>.db` and migrated by `SqliteStore::migrate`; every
//! port is built over the same pool. SQLite needs no server, so these tests always run.
//!
//! The backend has no teardown hook, so a test cannot delete its own file when it ends: the
//! first test of each run deletes the files (and their WAL and shared-memory files) of runs
//! more than an hour old.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, ManualClock};
use booking_core::policy::ManualSleeper;
use booking_core::testkit::{Backend, BackendFactory, IDEMPOTENCY_RETENTION};
use booking_sqlx::sqlite::connect_options;
use booking_sqlx::{
    SqliteAdmissionQueue, SqliteCouponStore, SqliteIdempotencyStore, SqliteLockManager,
    SqliteStore, SqliteWalletStore,
};
use sqlx::sqlite::SqlitePoolOptions;

use super::support::{PREFIX, fresh_name, is_stale};

/// Connections per test: enough for readers beside the writer and for writers to contend
/// for the write lock.
const POOL_SIZE: u32 = 4;

/// Whether the first backend of this run has deleted stale database files.
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Builds a [`Backend`] whose every port is SQLite, over a fresh database file.
#[derive(Debug, Clone, Copy)]
struct Sqlite;

/// Deletes the test databases of runs older than an hour from `dir`.
fn delete_stale_files(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PREFIX) && is_stale(&name) {
            // Another run may be deleting the same file: losing that race is fine.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[async_trait]
impl BackendFactory for Sqlite {
    async fn backend(&self, clock: ManualClock) -> Backend {
        let dir = std::env::temp_dir();
        if !CLEANED.swap(true, Ordering::SeqCst) {
            delete_stale_files(&dir);
        }
        let path = dir.join(format!("{}.db", fresh_name()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let options = connect_options(&url).expect("a SQLite URL");
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(options)
            .await
            .expect("open the test database");
        let store = SqliteStore::new(pool.clone());
        store.migrate().await.expect("migrate the test database");

        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
        Backend {
            store: Arc::new(store),
            coupons: Arc::new(SqliteCouponStore::new(pool.clone())),
            wallet: Arc::new(SqliteWalletStore::new(pool.clone())),
            queue: Arc::new(SqliteAdmissionQueue::new(pool.clone())),
            idempotency: Arc::new(SqliteIdempotencyStore::new(
                pool.clone(),
                Arc::clone(&shared),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(SqliteLockManager::new(pool, shared, sleeper)),
            clock,
        }
    }
}

booking_core::conformance_tests!(Sqlite);

/// `SqliteStore::connect` opens an in-memory database whose one connection keeps the tables
/// `migrate` created (a pool of several would give each connection its own empty database).
#[tokio::test]
async fn an_in_memory_store_keeps_its_tables() {
    use booking_core::ids::OrderId;
    use booking_core::ports::store::{BookingStore, StoreError};

    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("open an in-memory database");
    store.migrate().await.expect("migrate it");
    for _ in 0..3 {
        let missing = store.order(OrderId::new()).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
}

/// Rows written in the previous stored form (before it was versioned, before refunds kept
/// their answers) read as the records they stand for; the next write stores the current form.
#[tokio::test]
async fn sqlite_reads_rows_of_the_previous_stored_form() {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("open an in-memory database");
    store.migrate().await.expect("migrate it");
    super::legacy_rows::check_legacy_rows!(
        store.pool(),
        &store,
        "INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        "INSERT INTO payments (id, order_id, order_ref, state, version, record)
         VALUES (?, ?, ?, ?, 0, ?)",
        "SELECT record FROM orders WHERE id = ?",
    );
}

/// A file SQLite cannot open is refused at once, and the message says which file and why.
#[tokio::test]
async fn sqlite_connect_names_the_file_it_could_not_open() {
    let err = SqliteStore::connect("sqlite:///nonexistent-dir/x.db?mode=rwc")
        .await
        .expect_err("the directory does not exist");
    let message = err.to_string();
    assert!(
        message
            .starts_with("sqlite store failed: cannot reach database file /nonexistent-dir/x.db: "),
        "{message}"
    );
    assert!(
        message.contains("unable to open database file"),
        "{message}"
    );
}
