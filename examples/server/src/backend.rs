//! The ports the server runs on, built from the configuration in one place: [`build`].
//!
//! | port | embedded default | with `DATABASE_URL` |
//! |---|---|---|
//! | `BookingStore`, `CouponStore`, `WalletStore` | SQLite file under `--data-dir` | PostgreSQL, MySQL or SQLite (booking-sqlx) |
//! | `AdmissionQueue`, `IdempotencyStore` | in memory (booking-core) | in memory |
//!
//! `REDIS_URL` is accepted and reported; this build keeps the waiting room, idempotency keys
//! and coupons where the table says. Wiring Redis means changing [`build`] only.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::Clock;
use booking_core::memory::{MemoryAdmissionQueue, MemoryIdempotencyStore};
use booking_core::ports::coupon::CouponStore;
use booking_core::ports::idempotency::IdempotencyStore;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::BookingStore;
use booking_core::ports::wallet::WalletStore;
use booking_sqlx::{
    MySqlCouponStore, MySqlStore, MySqlWalletStore, PostgresCouponStore, PostgresStore,
    PostgresWalletStore, SqliteCouponStore, SqliteStore, SqliteWalletStore,
};

use crate::config::{Config, database_kind};

/// A setup error, with what failed said in its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long an idempotency record is kept after its request completed.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The ports, and the database for readiness checks.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Inventory, orders, payments, the outbox.
    pub store: Arc<dyn BookingStore>,
    /// Coupon campaigns.
    pub coupons: Arc<dyn CouponStore>,
    /// Point wallets.
    pub wallet: Arc<dyn WalletStore>,
    /// The waiting room.
    pub queue: Arc<dyn AdmissionQueue>,
    /// Idempotency-Key records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The database behind the store.
    pub database: Database,
}

/// The database pool, for `/readyz`.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// MySQL or MariaDB.
    MySql(sqlx::MySqlPool),
}

impl Database {
    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        const PING: &str = "SELECT 1";
        match self {
            Database::Sqlite(pool) => sqlx::query(PING).execute(pool).await.map(drop),
            Database::Postgres(pool) => sqlx::query(PING).execute(pool).await.map(drop),
            Database::MySql(pool) => sqlx::query(PING).execute(pool).await.map(drop),
        }
    }

    /// `sqlite`, `postgres` or `mysql`.
    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
            Database::MySql(_) => "mysql",
        }
    }
}

/// The ports a database provides, and its pool.
type SqlPorts = (
    Arc<dyn BookingStore>,
    Arc<dyn CouponStore>,
    Arc<dyn WalletStore>,
    Database,
);

/// Connects to the configured database (creating and migrating it) and builds every port.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Backend, BoxError> {
    let url = config.database_url();
    let (store, coupons, wallet, database): SqlPorts = match database_kind(&url) {
        "sqlite" => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                format!("creating data directory {}: {e}", config.data_dir.display())
            })?;
            let store = SqliteStore::connect(&url).await?;
            store.migrate().await?;
            let pool = store.pool().clone();
            (
                Arc::new(store),
                Arc::new(SqliteCouponStore::new(pool.clone())),
                Arc::new(SqliteWalletStore::new(pool.clone())),
                Database::Sqlite(pool),
            )
        }
        "postgres" | "postgresql" => {
            let store = PostgresStore::connect(&url).await?;
            store.migrate().await?;
            let pool = store.pool().clone();
            (
                Arc::new(store),
                Arc::new(PostgresCouponStore::new(pool.clone())),
                Arc::new(PostgresWalletStore::new(pool.clone())),
                Database::Postgres(pool),
            )
        }
        "mysql" | "mariadb" => {
            let store = MySqlStore::connect(&url).await?;
            store.migrate().await?;
            let pool = store.pool().clone();
            (
                Arc::new(store),
                Arc::new(MySqlCouponStore::new(pool.clone())),
                Arc::new(MySqlWalletStore::new(pool.clone())),
                Database::MySql(pool),
            )
        }
        other => return Err(format!("DATABASE_URL: unsupported scheme {other:?}").into()),
    };
    if config.redis_url.is_some() {
        tracing::warn!(
            "REDIS_URL is set; this build keeps the waiting room and idempotency keys in memory"
        );
    }
    Ok(Backend {
        store,
        coupons,
        wallet,
        queue: Arc::new(MemoryAdmissionQueue::new()),
        idempotency: Arc::new(MemoryIdempotencyStore::new(clock, IDEMPOTENCY_RETENTION)),
        database,
    })
}
