//! Where the sale keeps its records: `--database memory|sqlite://…|postgres://…|mysql://…`.
//!
//! Every run is a sale of its own, so it gets empty tables: the default is a new SQLite file in
//! the temp dir (removed afterwards); a PostgreSQL run creates a schema and a MySQL run a
//! database named `flash_sale_<uuid>`, dropped when the sale ends; a SQLite file named on the
//! command line must not exist yet and is kept for inspection.

use std::error::Error;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use booking_core::memory::{
    MemoryAdmissionQueue, MemoryBookingStore, MemoryCouponStore, MemoryWalletStore,
};
use booking_core::ports::coupon::CouponStore;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::BookingStore;
use booking_core::ports::wallet::WalletStore;
use booking_sqlx::{
    MySqlAdmissionQueue, MySqlCouponStore, MySqlStore, MySqlWalletStore, PostgresAdmissionQueue,
    PostgresCouponStore, PostgresStore, PostgresWalletStore, SqliteAdmissionQueue,
    SqliteCouponStore, SqliteStore, SqliteWalletStore,
};
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

/// The ports the sale uses, on one database, and how to clean up after it.
#[derive(Debug)]
pub(crate) struct Stores {
    pub(crate) store: Arc<dyn BookingStore>,
    pub(crate) coupons: Arc<dyn CouponStore>,
    pub(crate) wallet: Arc<dyn WalletStore>,
    pub(crate) queue: Arc<dyn AdmissionQueue>,
    /// Where the records are, for the report.
    pub(crate) label: String,
    pub(crate) teardown: Teardown,
}

/// What [`Stores::open`] created and the end of the sale removes.
#[derive(Debug)]
pub(crate) enum Teardown {
    /// Nothing to remove.
    Keep,
    /// A temporary SQLite file (and its WAL files).
    RemoveFile(PathBuf),
    /// The sale's PostgreSQL schema.
    DropSchema(PgPool, String),
    /// The sale's MySQL database.
    DropDatabase(MySqlPool, String),
}

/// A fresh name for a schema or database: letters, digits and underscores only.
fn fresh_name() -> String {
    format!("flash_sale_{}", uuid::Uuid::now_v7().simple())
}

impl Stores {
    /// Opens `database` with empty tables, migrated.
    pub(crate) async fn open(database: &Database) -> Result<Stores, Box<dyn Error>> {
        match database {
            Database::Memory => Ok(Stores {
                store: Arc::new(MemoryBookingStore::new()),
                coupons: Arc::new(MemoryCouponStore::new()),
                wallet: Arc::new(MemoryWalletStore::new()),
                queue: Arc::new(MemoryAdmissionQueue::new()),
                label: "in memory".to_owned(),
                teardown: Teardown::Keep,
            }),
            Database::SqliteTemp => {
                let path = std::env::temp_dir().join(format!("{}.db", fresh_name()));
                let mut stores = Stores::sqlite(&path).await?;
                stores.teardown = Teardown::RemoveFile(path);
                Ok(stores)
            }
            Database::Sqlite(path) => {
                if path.exists() {
                    return Err(format!(
                        "{} exists: each sale needs a new SQLite file",
                        path.display()
                    )
                    .into());
                }
                Stores::sqlite(path).await
            }
            Database::Postgres(url) => Stores::postgres(url).await,
            Database::MySql(url) => Stores::mysql(url).await,
        }
    }

    async fn sqlite(path: &std::path::Path) -> Result<Stores, Box<dyn Error>> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqliteStore::connect(&url).await?;
        store.migrate().await?;
        let pool = store.pool().clone();
        Ok(Stores {
            coupons: Arc::new(SqliteCouponStore::new(pool.clone())),
            wallet: Arc::new(SqliteWalletStore::new(pool.clone())),
            queue: Arc::new(SqliteAdmissionQueue::new(pool)),
            store: Arc::new(store),
            label: format!("SQLite file {}", path.display()),
            teardown: Teardown::Keep,
        })
    }

    async fn postgres(url: &str) -> Result<Stores, Box<dyn Error>> {
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
        Ok(Stores {
            coupons: Arc::new(PostgresCouponStore::new(pool.clone())),
            wallet: Arc::new(PostgresWalletStore::new(pool.clone())),
            queue: Arc::new(PostgresAdmissionQueue::new(pool.clone())),
            store: Arc::new(store),
            label: format!("PostgreSQL schema {schema}"),
            teardown: Teardown::DropSchema(pool, schema),
        })
    }

    async fn mysql(url: &str) -> Result<Stores, Box<dyn Error>> {
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
        Ok(Stores {
            coupons: Arc::new(MySqlCouponStore::new(pool.clone())),
            wallet: Arc::new(MySqlWalletStore::new(pool.clone())),
            queue: Arc::new(MySqlAdmissionQueue::new(pool.clone())),
            store: Arc::new(store),
            label: format!("MySQL database {database}"),
            teardown: Teardown::DropDatabase(pool, database),
        })
    }
}

impl Teardown {
    /// Removes what the sale created for itself.
    pub(crate) async fn run(&self) -> Result<(), Box<dyn Error>> {
        match self {
            Teardown::Keep => {}
            Teardown::RemoveFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            Teardown::DropSchema(pool, schema) => {
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                    .execute(pool)
                    .await?;
                pool.close().await;
            }
            Teardown::DropDatabase(pool, database) => {
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
