//! The SQLite backend: every port of booking-core in one database file.
//!
//! [`SqliteStore`] (the booking store), [`SqliteCouponStore`], [`SqliteWalletStore`],
//! [`SqliteIdempotencyStore`], [`SqliteAdmissionQueue`] and [`SqliteLockManager`] share one
//! pool and one schema, created by [`MIGRATOR`] ([`SqliteStore::migrate`]).
//! [`SqliteStore::connect`] opens a file (`sqlite://booking.db?mode=rwc`) or an in-memory
//! database (`sqlite::memory:`) with the pool options the backend is built for.
//!
//! # Schema
//!
//! Ids are 16-byte BLOBs (UUIDs), instants INTEGER nanoseconds since the Unix epoch, the rest
//! of a record JSON TEXT. `tickets`, `stocks`, `stock_holds`, `orders`, `payments` and
//! `outbox` hold the booking store (as on PostgreSQL); `coupon_campaigns` and `coupons` the
//! coupons; `wallet_ledger` the wallets (a balance is its wallet's latest `balance_after`);
//! `idempotency_keys` the idempotency records; `queue_rooms` and `queue_tokens` the waiting
//! rooms; `lock_leases` the locks; `counters` the lock and idempotency token counters.
//!
//! # Atomicity: one writer at a time
//!
//! SQLite lets one transaction write at a time, database-wide. Every operation that writes
//! runs in one transaction opened with `BEGIN IMMEDIATE`, which takes that write lock at its
//! start rather than at its first write. So the reads, checks and writes of one operation
//! (load the order at the expected version, run the state machines, write the rows back)
//! happen with no other writer in between, in this process or any other process using the
//! file, and two transactions never both read and then deadlock on upgrading to write. Any
//! failure drops the transaction, which rolls every change back. Reads outside a
//! transaction see the last committed state (WAL lets them run beside the writer).
//!
//! A writer waits for the lock up to the connection's `busy_timeout`; if that runs out the
//! operation fails with `SQLITE_BUSY`, reported as [`StoreError::Busy`] (nothing was done,
//! retry), or as the port's `Backend` error for ports without a busy variant.
//!
//! Per operation: a hold reads its tickets and stocks, runs the machines (a lapsed hold is
//! free, lapsed stock holds are reclaimed first) and writes them; stock counts are also
//! guarded by `CHECK (held + sold <= capacity)`. Orders and payments are compare-and-set
//! (`UPDATE … WHERE id = ? AND version = ?`). Coupon issuance is a conditional
//! `UPDATE … SET issued = issued + 1 WHERE issued < budget`. A wallet movement reads the
//! wallet's latest balance and appends an entry whose reference is `UNIQUE`. An idempotency
//! `begin`, an admission and a lock acquisition each read and write their rows inside the
//! one write transaction.
//!
//! # What this does not give
//!
//! - No row locks and no `SKIP LOCKED`: writers of unrelated rows still wait for each other,
//!   and sweepers on several processes run one order at a time in turn (each claims an order
//!   in its own transaction after re-checking that it is still due, so an order is expired
//!   once). Throughput is one writer's.
//! - [`SqliteLockManager`]'s leases are rows of the same file: they coordinate the processes
//!   that share that file (one host, a local file system), nothing beyond.
//! - An in-memory database lives in one connection; [`SqliteStore::connect`] gives it a pool
//!   of one.

use std::str::FromStr;
use std::time::Duration;

use booking_core::ports::store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::{Backend, Db};

mod coupon;
mod flow;
mod idempotency;
mod inventory;
mod lock;
mod place;
mod queue;
mod records;
mod rows;
mod steps;
mod store;
mod sweep;
mod wallet;

pub use coupon::SqliteCouponStore;
pub use idempotency::SqliteIdempotencyStore;
pub use lock::SqliteLockManager;
pub use queue::SqliteAdmissionQueue;
pub use wallet::SqliteWalletStore;

/// The backend these modules report errors as.
const SQ: Backend = Backend::Sqlite;

/// How long a writer waits for another's write lock before failing busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections of a file database's pool from [`SqliteStore::connect`]: readers run beside
/// the one writer.
const POOL_SIZE: u32 = 8;

/// The migrations that create every port's tables (`migrations/sqlite`), embedded in the
/// binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Opens a write transaction: `BEGIN IMMEDIATE` takes the database's write lock now, so
/// everything the transaction reads stays as read until it commits.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// The connect options [`SqliteStore::connect`] uses for `url`: WAL journal, foreign keys,
/// `synchronous = NORMAL` (durable at checkpoints, never corrupt) and [`BUSY_TIMEOUT`].
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT))
}

/// The [`BookingStore`](booking_core::ports::store::BookingStore) on SQLite.
///
/// Every writing operation is one `BEGIN IMMEDIATE` transaction (see the module docs).
/// Cloning is cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// A store over `pool`, whose database must have the tables [`SqliteStore::migrate`]
    /// creates. Give its connections a `busy_timeout` (as [`connect_options`] does), or
    /// concurrent writers fail busy at once.
    pub fn new(pool: SqlitePool) -> Self {
        SqliteStore { pool }
    }

    /// Opens the database at `url` (`sqlite://booking.db?mode=rwc` creates the file,
    /// `sqlite::memory:` is private to the pool) with [`connect_options`]; an in-memory
    /// database gets a pool of one connection that is never closed, a file one of eight.
    /// Run [`SqliteStore::migrate`] next.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
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
        };
        let pool = pool.connect_with(options).await.db(SQ)?;
        Ok(SqliteStore { pool })
    }

    /// Creates or upgrades the tables of every SQLite port with [`MIGRATOR`]. Safe to run on
    /// every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend {
                backend: SQ.name(),
                source: Box::new(e),
            })
    }

    /// The pool the store runs on; build the other SQLite ports over it.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
