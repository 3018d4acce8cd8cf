//! Driver errors, classified once for every database and told to callers as booking-core's
//! typed errors ([`StoreError`] here; each port maps [`Failure`] to its own error type);
//! [`location`] says where a failure happened.

mod location;

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use location::server_target;
pub(crate) use location::{locate, unreachable};

use booking_core::ports::store::StoreError;

/// Which database a backend runs on: names the backend in errors and knows which of the
/// database's error codes mean "nothing was done, try again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres,
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite,
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql,
}

/// PostgreSQL SQLSTATEs that mean "nothing was done, try again": serialization failure,
/// deadlock, lock not available (`lock_timeout`), statement cancelled (`statement_timeout`).
#[cfg(feature = "postgres")]
const PG_RETRYABLE: [&str; 4] = ["40001", "40P01", "55P03", "57014"];

/// MySQL / MariaDB error numbers that mean the same: lock wait timeout (1205), deadlock
/// (1213), `NOWAIT` lock not granted (3572), statement time limit reached (3024, and 1969
/// on MariaDB), query interrupted (1317).
#[cfg(feature = "mysql")]
const MYSQL_RETRYABLE: [u16; 6] = [1205, 1213, 3572, 3024, 1969, 1317];

/// SQLite primary result codes that mean the same: `SQLITE_BUSY` (5), `SQLITE_LOCKED` (6).
/// The driver reports extended codes; their low byte is the primary code.
#[cfg(feature = "sqlite")]
const SQLITE_RETRYABLE: [i64; 2] = [5, 6];

impl Backend {
    /// The name errors carry (`StoreError::Backend { backend, .. }`).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "postgres")]
            Backend::Postgres => "postgres",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => "sqlite",
            #[cfg(feature = "mysql")]
            Backend::MySql => "mysql",
        }
    }

    /// Whether `err` is the database refusing for now (busy, deadlock, lock or statement
    /// timeout), with the transaction rolled back.
    fn retryable(self, err: &dyn sqlx::error::DatabaseError) -> bool {
        match self {
            #[cfg(feature = "postgres")]
            Backend::Postgres => err
                .code()
                .is_some_and(|code| PG_RETRYABLE.contains(&code.as_ref())),
            #[cfg(feature = "mysql")]
            Backend::MySql => {
                mysql_number(err).is_some_and(|n| MYSQL_RETRYABLE.contains(&n))
                    || err.code().is_some_and(|code| code == "40001")
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => err
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|code| SQLITE_RETRYABLE.contains(&(code & 0xff))),
        }
    }
}

/// The MySQL error number of `err`, when it is a MySQL error.
#[cfg(feature = "mysql")]
fn mysql_number(err: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    err.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(sqlx::mysql::MySqlDatabaseError::number)
}

/// What went wrong below a port, before it is mapped to the port's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// The driver failed: connection, pool, constraint, decode.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A stored row does not describe a valid record (edited by hand, or a bug).
    #[error("stored {what} is invalid: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl DbError {
    /// A [`DbError::Corrupt`] for `what`.
    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        DbError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    /// What the failure means to a caller, on `backend`.
    pub(crate) fn classify(self, backend: Backend) -> Failure {
        match self {
            DbError::Sql(sqlx::Error::Database(db)) => {
                if db.is_unique_violation() {
                    Failure::Unique {
                        table: record_of(db.table().or_else(|| table_in_message(db.message()))),
                        constraint: db.constraint().unwrap_or_default().to_owned(),
                    }
                } else if backend.retryable(db.as_ref()) {
                    Failure::Busy(db.message().to_owned())
                } else {
                    Failure::Other(Box::new(sqlx::Error::Database(db)))
                }
            }
            DbError::Sql(sqlx::Error::PoolTimedOut) => Failure::Busy(
                "no connection free within the pool's acquire timeout (the database may be down)"
                    .into(),
            ),
            DbError::Sql(other) => Failure::Other(Box::new(other)),
            corrupt @ DbError::Corrupt { .. } => Failure::Other(Box::new(corrupt)),
        }
    }
}

/// A driver failure as a caller acts on it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A unique key refused the write: the record exists.
    Unique {
        /// The record the table stores (`"order"`, `"payment"`, …).
        table: &'static str,
        /// The constraint's name, when the driver reports it.
        constraint: String,
    },
    /// Nothing was done and trying again later may work: pool exhausted, lock or statement
    /// timeout, deadlock, database busy.
    Busy(String),
    /// Anything else; whether it was applied is unknown.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// The record a table stores, for [`StoreError::AlreadyExists`].
fn record_of(table: Option<&str>) -> &'static str {
    match table {
        Some("tickets") => "ticket",
        Some("stocks") => "stock",
        Some("stock_holds") => "stock hold",
        Some("orders") => "order",
        Some("payments") => "payment",
        _ => "record",
    }
}

/// The table a unique-violation message names, for drivers that do not report it
/// (SQLite says `UNIQUE constraint failed: orders.id`).
fn table_in_message(message: &str) -> Option<&str> {
    let columns = message.split("constraint failed: ").nth(1)?;
    columns.split('.').next()
}

impl Failure {
    /// The failure as a [`StoreError`] of `backend`.
    pub(crate) fn into_store(self, backend: Backend) -> StoreError {
        match self {
            Failure::Unique { table, constraint } => StoreError::AlreadyExists {
                what: table,
                id: constraint,
            },
            Failure::Busy(message) => StoreError::Busy(message),
            Failure::Other(source) => StoreError::Backend {
                backend: backend.name(),
                source,
            },
        }
    }
}

/// `.db(backend)?` on a driver result: the error mapped to a [`StoreError`].
pub(crate) trait Db<T> {
    /// The value, or the driver's error as a [`StoreError`] of `backend`.
    fn db(self, backend: Backend) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, sqlx::Error> {
    fn db(self, backend: Backend) -> Result<T, StoreError> {
        self.map_err(|e| DbError::Sql(e).classify(backend).into_store(backend))
    }
}

impl<T> Db<T> for Result<T, DbError> {
    fn db(self, backend: Backend) -> Result<T, StoreError> {
        self.map_err(|e| e.classify(backend).into_store(backend))
    }
}

/// A port error with a `Backend { backend, source }` variant: what a driver failure becomes
/// when the port has no closer variant for it.
pub(crate) trait BackendFailure: Sized {
    /// The port's `Backend` variant.
    fn backend(backend: &'static str, source: Box<dyn std::error::Error + Send + Sync>) -> Self;
}

macro_rules! backend_failure {
    ($($error:ty),+) => {$(
        impl BackendFailure for $error {
            fn backend(
                backend: &'static str,
                source: Box<dyn std::error::Error + Send + Sync>,
            ) -> Self {
                Self::Backend { backend, source }
            }
        }
    )+};
}

backend_failure!(
    booking_core::ports::coupon::CouponError,
    booking_core::ports::wallet::WalletError,
    booking_core::ports::queue::QueueError,
    booking_core::ports::idempotency::IdempotencyError,
    booking_core::ports::lock::LockError
);

/// `.port(backend)?` on a driver result, for ports other than the booking store: every
/// failure becomes the port's `Backend` variant (callers that can say more match
/// [`DbError::classify`] first).
pub(crate) trait PortDb<T> {
    /// The value, or the failure as the port error `E` of `backend`.
    fn port<E: BackendFailure>(self, backend: Backend) -> Result<T, E>;
}

impl<T, D: Into<DbError>> PortDb<T> for Result<T, D> {
    fn port<E: BackendFailure>(self, backend: Backend) -> Result<T, E> {
        self.map_err(|e| E::backend(backend.name(), Box::new(e.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every backend compiled in, with its name.
    #[allow(clippy::vec_init_then_push)] // which pushes happen depends on the features
    pub(super) fn every_backend() -> Vec<(Backend, &'static str)> {
        let mut all = Vec::new();
        #[cfg(feature = "postgres")]
        all.push((Backend::Postgres, "postgres"));
        #[cfg(feature = "sqlite")]
        all.push((Backend::Sqlite, "sqlite"));
        #[cfg(feature = "mysql")]
        all.push((Backend::MySql, "mysql"));
        all
    }

    #[test]
    fn an_exhausted_pool_is_busy_on_every_backend() {
        for (backend, _) in every_backend() {
            let err: Result<(), _> = Err(sqlx::Error::PoolTimedOut);
            assert!(matches!(err.db(backend), Err(StoreError::Busy(_))));
        }
    }

    #[test]
    fn other_driver_failures_and_corrupt_rows_name_the_backend() {
        for (backend, name) in every_backend() {
            for err in [
                DbError::Sql(sqlx::Error::PoolClosed),
                DbError::corrupt("ticket", "unknown state"),
            ] {
                let err = Err::<(), _>(err).db(backend);
                assert!(
                    matches!(err, Err(StoreError::Backend { backend: b, .. }) if b == name),
                    "{err:?}"
                );
            }
        }
    }

    #[test]
    fn tables_name_their_records() {
        assert_eq!(record_of(Some("orders")), "order");
        assert_eq!(record_of(Some("payments")), "payment");
        assert_eq!(record_of(None), "record");
        assert_eq!(
            table_in_message("UNIQUE constraint failed: orders.id"),
            Some("orders")
        );
    }
}
