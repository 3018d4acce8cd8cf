//! The SQL [`BookingStore`](booking_core::ports::store::BookingStore), written once for every
//! database: [`SqlStore`].
//!
//! | file | what |
//! |---|---|
//! | `booking.rs` | the port, operation by operation: reads call the database's statement, writes run the sequence of `writes.rs` |
//! | `writes.rs` | every write as one transaction of row steps in one fixed order |
//! | `expiry.rs` | the sweep of due orders, one order per transaction |
//! | `pages.rs` | a page of a buyer's or an event's orders |
//! | `rules.rs` | the item rules every database applies alike |
//! | `gate.rs` | concurrent holds of one store for the same seats meet in the process first |
//! | `database.rs` | what a database supplies: its SQL, one trait per job |
//!
//! A backend (`sqlite/`, `postgres/`, `mysql/`) implements the traits of `database.rs`, each in
//! its file of the same name, and holds its SQL and little else.

mod booking;
pub(crate) mod database;
pub(crate) mod expiry;
pub(crate) mod gate;
pub(crate) mod pages;
pub(crate) mod rules;
pub(crate) mod writes;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use booking_core::clock::Timestamp;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::Pool;

use crate::error::locate;
use database::StoreDatabase;
use gate::HoldGate;

/// The [`BookingStore`](booking_core::ports::store::BookingStore) on the database `DB`:
/// [`SqliteStore`](crate::SqliteStore), [`PostgresStore`](crate::PostgresStore) or
/// [`MySqlStore`](crate::MySqlStore).
///
/// `DB` is `sqlx::Sqlite`, `sqlx::Postgres` or `sqlx::MySql`, each with its feature. Every
/// operation is one transaction of `DB` (see the backend's module docs for how each database
/// makes it atomic). Cloning is cheap: clones share the pool.
///
/// Clones also share one *hold gate*: while an order of distinct seats is being placed, a
/// second order for any of those seats through the same store waits for it in the process
/// instead of meeting it on the seat's row lock, then reads its seats: if any is taken it is
/// refused (`Unavailable` with those seats, or `AlreadyExists` for a stored order id) without
/// writing, otherwise it is placed as usual, so a rival that failed leaves it the seats.
/// Build the store once and clone it, so a rush for one seat costs the database one writer
/// per process (see ADR 0013).
pub struct SqlStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// Another way to place orders on the hot path, chosen when the store was built.
    placer: Option<Arc<dyn Placer>>,
    /// The hot path's orders being placed by this store and its clones, by ticket.
    gate: Arc<HoldGate>,
}

/// What a [`Placer`] answers: `None` if it does not take such an order.
pub(crate) type PlacerFuture<'a> =
    Pin<Box<dyn Future<Output = Option<Result<(), StoreError>>> + Send + 'a>>;

/// Another way to place an order on the hot path, chosen when the store is built (the
/// PostgreSQL store's group commit).
pub(crate) trait Placer: Send + Sync + fmt::Debug {
    /// Places `record` as `place_order` does; `None` if this way does not take such an order,
    /// which then goes the store's usual way.
    fn place<'a>(&'a self, record: &'a OrderRecord, now: Timestamp) -> PlacerFuture<'a>;
}

impl<DB: sqlx::Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            placer: self.placer.clone(),
            gate: Arc::clone(&self.gate),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("pool", &self.pool)
            .field("placer", &self.placer)
            .finish_non_exhaustive()
    }
}

// `StoreDatabase` is crate-private: the store exists for the databases of this crate only.
#[allow(private_bounds)]
impl<DB: StoreDatabase> SqlStore<DB> {
    /// A store over `pool`, whose database must have the tables
    /// [`migrate`](SqlStore::migrate) creates.
    pub fn new(pool: Pool<DB>) -> Self {
        SqlStore {
            pool,
            placer: None,
            gate: Arc::default(),
        }
    }

    /// Opens the database at `url` with the pool options the backend is built for (see its
    /// module docs), once a first connection showed that the database answers; run
    /// [`migrate`](SqlStore::migrate) next. An error names the backend and where it was
    /// connecting, never the password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(SqlStore::new(DB::connect(url).await?))
    }

    /// Creates or upgrades the tables of every port of the backend. Safe to run on every
    /// start, and from several processes at once on PostgreSQL and MySQL (the migrator takes
    /// a lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrated = DB::migrator().run(&self.pool).await;
        self.located(migrated.map_err(|e| StoreError::Backend {
            backend: DB::BACKEND.name(),
            source: Box::new(e),
        }))
    }

    /// The pool the store runs on; build the backend's other ports over it.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The store, placing orders the hot path takes through `placer`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn with_placer(mut self, placer: Arc<dyn Placer>) -> Self {
        self.placer = Some(placer);
        self
    }

    /// `result`, with a connection failure or a busy database told where it happened.
    fn located<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        result.map_err(|e| locate(e, DB::BACKEND, || DB::target(&self.pool)))
    }
}
