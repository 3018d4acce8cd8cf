//! The ports the server runs on, built from the configuration in one place: [`build`].
//!
//! | port | embedded default | with `DATABASE_URL` | with `REDIS_URL` (booking-redis) |
//! |---|---|---|---|
//! | `BookingStore`, `WalletStore` | SQLite file under `--data-dir` | PostgreSQL, MySQL or SQLite (booking-sqlx) | the same store behind a hot-stock gate |
//! | `CouponStore` | SQLite | the database | Redis |
//! | `AdmissionQueue`, `IdempotencyStore`, `LockManager` | in memory (booking-core) | in memory | Redis |
//!
//! With Redis, several server processes share one waiting room, one set of idempotency keys
//! and one lock per background job (so only one process sweeps, reconciles or admits at a
//! time), and a flash sale's burst is turned away at the gate once the stock is gone instead
//! of reaching the database. `REDIS_URL` takes one URL, or several separated by commas for the
//! nodes of a Redis Cluster; keys live under `--redis-namespace`.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::Clock;
use booking_core::memory::{MemoryAdmissionQueue, MemoryIdempotencyStore, MemoryLockManager};
use booking_core::policy::TokioSleeper;
use booking_core::ports::coupon::CouponStore;
use booking_core::ports::idempotency::IdempotencyStore;
use booking_core::ports::lock::LockManager;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::BookingStore;
use booking_core::ports::wallet::WalletStore;
use booking_redis::{
    Namespace, RedisAdmissionQueue, RedisConnection, RedisCouponStore, RedisIdempotencyStore,
    RedisLockManager, RedisStockGate,
};
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
    /// Locks: one holder at a time for each background job.
    pub locks: Arc<dyn LockManager>,
    /// The database behind the store.
    pub database: Database,
    /// Redis, when configured.
    pub redis: Option<RedisConnection>,
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

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        match self {
            Database::Sqlite(pool) => pool.options().get_max_connections(),
            Database::Postgres(pool) => pool.options().get_max_connections(),
            Database::MySql(pool) => pool.options().get_max_connections(),
        }
    }

    /// Closes the pool, waiting for its connections to be returned.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
            Database::MySql(pool) => pool.close().await,
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

/// Redis, when configured: the connection and this server's key namespace.
struct Redis {
    conn: RedisConnection,
    namespace: Namespace,
}

/// Connects to `REDIS_URL` (several comma-separated URLs: a cluster's nodes).
async fn connect_redis(config: &Config) -> Result<Option<Redis>, BoxError> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let nodes: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let conn = match nodes.as_slice() {
        [] => return Err("REDIS_URL: no URL given".into()),
        [one] => RedisConnection::connect(one).await?,
        many => RedisConnection::connect_cluster(many.iter().copied()).await?,
    };
    let namespace = Namespace::new(config.redis_namespace.as_str())
        .map_err(|e| format!("--redis-namespace: {e}"))?;
    Ok(Some(Redis { conn, namespace }))
}

/// `store`, behind the hot-stock gate when Redis is configured.
fn gated<S: BookingStore>(store: S, redis: Option<&Redis>) -> Arc<dyn BookingStore> {
    match redis {
        Some(r) => Arc::new(RedisStockGate::new(
            store,
            r.conn.clone(),
            r.namespace.clone(),
        )),
        None => Arc::new(store),
    }
}

/// Connects to the configured database (creating and migrating it) and to Redis when
/// configured, and builds every port.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Backend, BoxError> {
    let redis = connect_redis(config).await?;
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
                gated(store, redis.as_ref()),
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
                gated(store, redis.as_ref()),
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
                gated(store, redis.as_ref()),
                Arc::new(MySqlCouponStore::new(pool.clone())),
                Arc::new(MySqlWalletStore::new(pool.clone())),
                Database::MySql(pool),
            )
        }
        other => return Err(format!("DATABASE_URL: unsupported scheme {other:?}").into()),
    };
    let sleeper = Arc::new(TokioSleeper);
    let backend = match redis {
        None => Backend {
            store,
            coupons,
            wallet,
            queue: Arc::new(MemoryAdmissionQueue::new()),
            idempotency: Arc::new(MemoryIdempotencyStore::new(
                clock.clone(),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(MemoryLockManager::new(clock, sleeper)),
            database,
            redis: None,
        },
        Some(Redis { conn, namespace }) => Backend {
            store,
            coupons: Arc::new(RedisCouponStore::new(conn.clone(), namespace.clone())),
            wallet,
            queue: Arc::new(RedisAdmissionQueue::new(conn.clone(), namespace.clone())),
            idempotency: Arc::new(RedisIdempotencyStore::new(
                conn.clone(),
                namespace.clone(),
                clock.clone(),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(RedisLockManager::new(
                conn.clone(),
                namespace,
                clock,
                sleeper,
            )),
            database,
            redis: Some(conn),
        },
    };
    Ok(backend)
}
