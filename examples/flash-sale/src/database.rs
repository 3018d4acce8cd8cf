//! Where the sale keeps its records: `--database memory|sqlite://…|postgres://…|mysql://…`,
//! and where it coordinates: the same database, or Redis (`--redis`, see `coordination.rs`).
//!
//! Every run is a sale of its own, so it gets empty tables: the default is a new SQLite file in
//! the temp dir (removed afterwards); a PostgreSQL run creates a schema and a MySQL run a
//! database named `flash_sale_<uuid>`, dropped when the sale ends; a SQLite file named on the
//! command line must not exist yet and is kept for inspection. On Redis the sale's keys live
//! under a namespace of their own, deleted when it ends.

use std::error::Error;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use booking_core::clock::Clock;
use booking_core::memory::{
    MemoryAdmissionQueue, MemoryBookingStore, MemoryCouponStore, MemoryLockManager,
    MemoryWalletStore,
};
use booking_core::policy::Sleeper;
use booking_core::ports::coupon::CouponStore;
use booking_core::ports::lock::LockManager;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::BookingStore;
use booking_core::ports::wallet::WalletStore;
use booking_sqlx::{
    MySqlAdmissionQueue, MySqlCouponStore, MySqlLockManager, MySqlStore, MySqlWalletStore,
    PostgresAdmissionQueue, PostgresCouponStore, PostgresLockManager, PostgresStore,
    PostgresWalletStore, SqliteAdmissionQueue, SqliteCouponStore, SqliteLockManager, SqliteStore,
    SqliteWalletStore,
};

use crate::coordination::{Gate, Redis};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Connections a server pool opens: the buyers are hundreds of tasks, the machine has few
/// cores.
const POOL_SIZE: u32 = 16;

/// The database named by `--database`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Database {
    /// booking-core's in-memory ports.
    Memory,
    /// A new SQLite file in the temp dir, removed after the sale (the default).
    #[default]
    SqliteTemp,
    /// A SQLite file that must not exist yet, kept after the sale.
    Sqlite(PathBuf),
    /// A PostgreSQL server: the sale runs in a schema of its own.
    Postgres(String),
    /// A MySQL or MariaDB server: the sale runs in a database of its own.
    MySql(String),
}

impl FromStr for Database {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url == "memory" {
            return Ok(Database::Memory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err("sqlite:// needs a file path, e.g. sqlite://sale.db".to_owned());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            return Ok(Database::MySql(url.replacen("mariadb://", "mysql://", 1)));
        }
        Err(format!(
            "{url:?} is not memory, sqlite://FILE, postgres://… or mysql://…"
        ))
    }
}

/// The ports the sale uses, and how to clean up after it.
#[derive(Debug)]
pub(crate) struct Stores {
    pub(crate) store: Arc<dyn BookingStore>,
    pub(crate) coupons: Arc<dyn CouponStore>,
    pub(crate) wallet: Arc<dyn WalletStore>,
    pub(crate) queue: Arc<dyn AdmissionQueue>,
    pub(crate) locks: Arc<dyn LockManager>,
    /// The hot-stock gate in front of the store, when coordinating on Redis.
    pub(crate) gate: Option<Arc<dyn Gate>>,
    /// Where the records are, for the report.
    pub(crate) label: String,
    pub(crate) teardown: Teardown,
}

/// What the sale created for itself and removes at the end.
#[derive(Debug)]
pub(crate) struct Teardown {
    database: Cleanup,
    redis: Option<Redis>,
}

/// What [`Stores::open`] created in the database.
#[derive(Debug)]
enum Cleanup {
    /// Nothing to remove.
    Keep,
    /// A temporary SQLite file (and its WAL files).
    RemoveFile(PathBuf),
    /// The sale's PostgreSQL schema.
    DropSchema(PgPool, String),
    /// The sale's MySQL database.
    DropDatabase(MySqlPool, String),
}

/// One database's ports, before the sale decides where it coordinates.
struct Local<S> {
    store: S,
    coupons: Arc<dyn CouponStore>,
    wallet: Arc<dyn WalletStore>,
    queue: Arc<dyn AdmissionQueue>,
    locks: Arc<dyn LockManager>,
    label: String,
    cleanup: Cleanup,
}

impl<S: BookingStore> Local<S> {
    /// The ports on the database, or with the locks, the waiting room, the coupons and the
    /// gate in front of the store on `redis`.
    fn coordinated(self, redis: Option<Redis>, time: &Time) -> Stores {
        let Some(redis) = redis else {
            return Stores {
                store: Arc::new(self.store),
                coupons: self.coupons,
                wallet: self.wallet,
                queue: self.queue,
                locks: self.locks,
                gate: None,
                label: self.label,
                teardown: Teardown {
                    database: self.cleanup,
                    redis: None,
                },
            };
        };
        let gate = redis.gate(self.store);
        Stores {
            store: gate.clone(),
            coupons: redis.coupons(),
            wallet: self.wallet,
            queue: redis.queue(),
            locks: redis.locks(Arc::clone(&time.clock), Arc::clone(&time.sleeper)),
            gate: Some(gate),
            label: format!(
                "{}; locks, waiting room, coupons and hot-stock gate on {}",
                self.label,
                redis.label()
            ),
            teardown: Teardown {
                database: self.cleanup,
                redis: Some(redis),
            },
        }
    }
}

/// The sale's clock and how its locks wait.
#[derive(Debug, Clone)]
pub(crate) struct Time {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
}

/// A fresh name for a schema or database: letters, digits and underscores only.
fn fresh_name() -> String {
    format!("flash_sale_{}", uuid::Uuid::now_v7().simple())
}

impl Stores {
    /// Opens `database` with empty tables, migrated, coordinating on `redis` if given.
    pub(crate) async fn open(
        database: &Database,
        redis: Option<Redis>,
        time: &Time,
    ) -> Result<Stores, Box<dyn Error>> {
        match database {
            Database::Memory => Ok(Local {
                store: MemoryBookingStore::new(),
                coupons: Arc::new(MemoryCouponStore::new()),
                wallet: Arc::new(MemoryWalletStore::new()),
                queue: Arc::new(MemoryAdmissionQueue::new()),
                locks: Arc::new(MemoryLockManager::new(
                    Arc::clone(&time.clock),
                    Arc::clone(&time.sleeper),
                )),
                label: "in memory".to_owned(),
                cleanup: Cleanup::Keep,
            }
            .coordinated(redis, time)),
            Database::SqliteTemp => {
                let path = std::env::temp_dir().join(format!("{}.db", fresh_name()));
                let mut local = Self::sqlite(&path, time).await?;
                local.cleanup = Cleanup::RemoveFile(path);
                Ok(local.coordinated(redis, time))
            }
            Database::Sqlite(path) => {
                if path.exists() {
                    return Err(format!(
                        "{} exists: each sale needs a new SQLite file",
                        path.display()
                    )
                    .into());
                }
                Ok(Self::sqlite(path, time).await?.coordinated(redis, time))
            }
            Database::Postgres(url) => {
                Ok(Self::postgres(url, time).await?.coordinated(redis, time))
            }
            Database::MySql(url) => Ok(Self::mysql(url, time).await?.coordinated(redis, time)),
        }
    }

    async fn sqlite(
        path: &std::path::Path,
        time: &Time,
    ) -> Result<Local<SqliteStore>, Box<dyn Error>> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqliteStore::connect(&url).await?;
        store.migrate().await?;
        let pool = store.pool().clone();
        Ok(Local {
            coupons: Arc::new(SqliteCouponStore::new(pool.clone())),
            wallet: Arc::new(SqliteWalletStore::new(pool.clone())),
            queue: Arc::new(SqliteAdmissionQueue::new(pool.clone())),
            locks: Arc::new(SqliteLockManager::new(
                pool,
                Arc::clone(&time.clock),
                Arc::clone(&time.sleeper),
            )),
            store,
            label: format!("SQLite file {}", path.display()),
            cleanup: Cleanup::Keep,
        })
    }

    async fn postgres(url: &str, time: &Time) -> Result<Local<PostgresStore>, Box<dyn Error>> {
        let options = PgConnectOptions::from_str(url)?;
        let schema = fresh_name();
        let mut admin = options
            .connect()
            .await
            .map_err(|e| format!("PostgreSQL at {}: {e}", server(url)))?;
        // The name is made of letters, digits and underscores above, never of input.
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await?;
        let store = PostgresStore::new(pool.clone());
        store.migrate().await?;
        Ok(Local {
            coupons: Arc::new(PostgresCouponStore::new(pool.clone())),
            wallet: Arc::new(PostgresWalletStore::new(pool.clone())),
            queue: Arc::new(PostgresAdmissionQueue::new(pool.clone())),
            locks: Arc::new(PostgresLockManager::new(
                pool.clone(),
                Arc::clone(&time.clock),
                Arc::clone(&time.sleeper),
            )),
            store,
            label: format!("PostgreSQL schema {schema}"),
            cleanup: Cleanup::DropSchema(pool, schema),
        })
    }

    async fn mysql(url: &str, time: &Time) -> Result<Local<MySqlStore>, Box<dyn Error>> {
        let options = MySqlConnectOptions::from_str(url)?;
        let database = fresh_name();
        let mut admin = options
            .connect()
            .await
            .map_err(|e| format!("MySQL at {}: {e}", server(url)))?;
        // As above: a generated name.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options.database(&database))
            .await?;
        let store = MySqlStore::new(pool.clone());
        store.migrate().await?;
        Ok(Local {
            coupons: Arc::new(MySqlCouponStore::new(pool.clone())),
            wallet: Arc::new(MySqlWalletStore::new(pool.clone())),
            queue: Arc::new(MySqlAdmissionQueue::new(pool.clone())),
            locks: Arc::new(MySqlLockManager::new(
                pool.clone(),
                Arc::clone(&time.clock),
                Arc::clone(&time.sleeper),
            )),
            store,
            label: format!("MySQL database {database}"),
            cleanup: Cleanup::DropDatabase(pool, database),
        })
    }
}

impl Teardown {
    /// Removes what the sale created for itself.
    pub(crate) async fn run(&self) -> Result<(), Box<dyn Error>> {
        if let Some(redis) = &self.redis {
            redis.teardown().await?;
        }
        match &self.database {
            Cleanup::Keep => {}
            Cleanup::RemoveFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            Cleanup::DropSchema(pool, schema) => {
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                    .execute(pool)
                    .await?;
                pool.close().await;
            }
            Cleanup::DropDatabase(pool, database) => {
                sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{database}`")))
                    .execute(pool)
                    .await?;
                pool.close().await;
            }
        }
        Ok(())
    }
}

/// The host, port and database a server URL names, without the user and password.
fn server(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['?', '#']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_without_its_password() {
        assert_eq!(
            server("postgres://bob:s3cret@db.example:5433/shop?sslmode=require"),
            "db.example:5433/shop"
        );
        assert_eq!(
            server("mysql://root@127.0.0.1:3306/test"),
            "127.0.0.1:3306/test"
        );
        assert_eq!(server("postgres://localhost/x"), "localhost/x");
    }

    #[test]
    fn urls_name_their_database() {
        assert_eq!("memory".parse(), Ok(Database::Memory));
        assert_eq!(
            "sqlite://sale.db?mode=rwc".parse(),
            Ok(Database::Sqlite(PathBuf::from("sale.db")))
        );
        assert!(matches!(
            "postgres://u@h/db".parse(),
            Ok(Database::Postgres(_))
        ));
        assert_eq!(
            "mariadb://root@h/test".parse(),
            Ok(Database::MySql("mysql://root@h/test".to_owned()))
        );
        for bad in ["", "sqlite://", "sqlite://:memory:", "redis://h", "sale.db"] {
            assert!(bad.parse::<Database>().is_err(), "{bad}");
        }
    }
}
