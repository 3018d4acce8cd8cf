//! The PostgreSQL backend: every port of booking-core.
//!
//! | port | type | file |
//! |---|---|---|
//! | `BookingStore` | [`PostgresStore`] | `store.rs` and the files it uses |
//! | `CouponStore` | [`PostgresCouponStore`] | `coupon.rs` |
//! | `WalletStore` | [`PostgresWalletStore`] | `wallet.rs` |
//! | `IdempotencyStore` | [`PostgresIdempotencyStore`] | `idempotency.rs` |
//! | `AdmissionQueue` | [`PostgresAdmissionQueue`] | `queue.rs` |
//! | `LockManager` | [`PostgresLockManager`] | `lock.rs` |
//!
//! All of them run on one [`PgPool`] whose schema has the tables of [`MIGRATOR`]; each file's
//! docs say which statements make its operations atomic.

use booking_core::ports::store::StoreError;
use sqlx::PgPool;

use crate::error::Backend;

mod codec;
mod coupon;
mod flow;
mod holds;
mod idempotency;
mod inventory;
mod lock;
mod place;
mod queue;
mod records;
mod steps;
mod store;
mod sweep;
mod wallet;

pub use coupon::PostgresCouponStore;
pub use idempotency::PostgresIdempotencyStore;
pub use lock::PostgresLockManager;
pub use queue::PostgresAdmissionQueue;
pub use wallet::PostgresWalletStore;

/// The backend these modules report errors as.
const PG: Backend = Backend::Postgres;

/// The migrations that create the tables of every port (`migrations/postgres`), embedded
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
