//! What the SQL store needs of SQLite: its migrations, how it connects, and `BEGIN IMMEDIATE`
//! write transactions.

use std::str::FromStr;
use std::time::Duration;

use booking_core::ports::store::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{MIGRATOR, SQ};
use crate::error::{Backend, Db, unreachable};
use crate::store::database::StoreDatabase;

/// How long a writer waits for another's write lock before failing busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections of a file database's pool from
/// [`SqliteStore::connect`](crate::SqliteStore::connect): readers run beside the one writer.
///
/// Only one of them writes at a time; the others that want to write wait in SQLite's busy
/// handler, which sleeps 1, 2, 5, 10 … ms between tries, so a waiting writer is often asleep
/// when the lock comes free. More connections mean more such sleepers: the flash sale of the
/// README (1,000 buyers) took 2.3 s with eight connections and 1.2 s with four (release
/// build; three: 1.3 s, one: 1.7 s).
const POOL_SIZE: u32 = 4;

/// Opens a write transaction: `BEGIN IMMEDIATE` takes the database's write lock now, so
/// everything the transaction reads stays as read until it commits.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// The connect options [`SqliteStore::connect`](crate::SqliteStore::connect) uses for `url`:
/// WAL journal, foreign keys, `synchronous = NORMAL` (durable at checkpoints, never corrupt)
/// and [`BUSY_TIMEOUT`].
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT))
}

/// Where `options` open the database, for errors.
fn file(options: &SqliteConnectOptions) -> String {
    format!("database file {}", options.get_filename().display())
}

impl StoreDatabase for Sqlite {
    const BACKEND: Backend = SQ;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// A file (`sqlite://booking.db?mode=rwc` creates it) gets a pool of four connections; an
    /// in-memory database (`sqlite::memory:`, private to the pool) one connection that is never
    /// closed, since its tables live in that connection.
    async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
        let options = connect_options(url).db(SQ)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(POOL_SIZE)
        }
        // A file or memory database has no peer to lose: pinging a connection before handing
        // it out only costs a round trip to its worker thread on every read.
        .test_before_acquire(false);
        let target = file(&options);
        // Opening a file fails at once (SQLite has no server to wait for), with its reason.
        pool.connect_with(options)
            .await
            .map_err(|e| unreachable(SQ, target, e))
    }

    fn target(pool: &SqlitePool) -> String {
        file(&pool.connect_options())
    }

    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        begin_write(pool).await
    }
}
