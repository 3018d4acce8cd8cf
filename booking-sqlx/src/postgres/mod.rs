//! The PostgreSQL backend: [`PostgresStore`].

use booking_core::ports::store::StoreError;
use sqlx::PgPool;

use crate::error::Backend;

mod codec;
mod flow;
mod holds;
mod inventory;
mod place;
mod records;
mod store;
mod sweep;

/// The backend these modules report errors as.
const PG: Backend = Backend::Postgres;

/// The migrations that create the booking store's tables (`migrations/postgres`), embedded
/// in the binary. They create unqualified tables, so they land in the first schema of the
/// connection's `search_path`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The [`BookingStore`](booking_core::ports::store::BookingStore) on PostgreSQL.
///
/// Every operation is one transaction at the default `READ COMMITTED` isolation; its
/// correctness comes from conditions in the statements themselves (see the crate docs), so
/// no stronger isolation and no retry loop is needed. Cloning is cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A store over `pool`. The pool's database (and `search_path` schema) must have the
    /// tables [`PostgresStore::migrate`] creates.
    pub fn new(pool: PgPool) -> Self {
        PostgresStore { pool }
    }

    /// Creates or upgrades the store's tables with [`MIGRATOR`]. Safe to run on every start
    /// and from several processes at once (the migrator takes a lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend {
                backend: PG.name(),
                source: Box::new(e),
            })
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
