//! Driver errors, told to callers as booking-core's [`StoreError`].

use booking_core::ports::store::StoreError;

/// SQLSTATEs that mean "nothing was done, try again": serialization failure, deadlock,
/// lock not available (`lock_timeout`), statement cancelled (`statement_timeout`).
const RETRYABLE: [&str; 4] = ["40001", "40P01", "55P03", "57014"];

/// What went wrong below the store, before it is mapped to a [`StoreError`].
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

impl From<DbError> for StoreError {
    fn from(err: DbError) -> Self {
        let backend = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Backend {
            backend: "postgres",
            source,
        };
        match err {
            DbError::Sql(sqlx::Error::Database(db)) => {
                if db.is_unique_violation() {
                    return StoreError::AlreadyExists {
                        what: record_of(db.table()),
                        id: db.constraint().unwrap_or_default().to_owned(),
                    };
                }
                match db.code() {
                    Some(code) if RETRYABLE.contains(&code.as_ref()) => {
                        StoreError::Busy(db.message().to_owned())
                    }
                    _ => backend(Box::new(sqlx::Error::Database(db))),
                }
            }
            DbError::Sql(sqlx::Error::PoolTimedOut) => {
                StoreError::Busy("no database connection free within the pool's timeout".into())
            }
            DbError::Sql(other) => backend(Box::new(other)),
            corrupt @ DbError::Corrupt { .. } => backend(Box::new(corrupt)),
        }
    }
}

/// `.db()?` on a driver result: the error mapped to a [`StoreError`].
pub(crate) trait Db<T> {
    /// The value, or the driver's error as a [`StoreError`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| DbError::Sql(e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_pool_is_busy() {
        let err: StoreError = DbError::Sql(sqlx::Error::PoolTimedOut).into();
        assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    }

    #[test]
    fn other_driver_failures_and_corrupt_rows_name_the_backend() {
        for err in [
            DbError::Sql(sqlx::Error::PoolClosed),
            DbError::corrupt("ticket", "unknown state"),
        ] {
            let err: StoreError = err.into();
            assert!(
                matches!(
                    err,
                    StoreError::Backend {
                        backend: "postgres",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn tables_name_their_records() {
        assert_eq!(record_of(Some("orders")), "order");
        assert_eq!(record_of(Some("payments")), "payment");
        assert_eq!(record_of(None), "record");
    }
}
