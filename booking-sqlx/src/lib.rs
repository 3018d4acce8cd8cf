#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod codec;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod error;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;

#[cfg(feature = "postgres")]
pub use postgres::{MIGRATOR as POSTGRES_MIGRATOR, PostgresStore};

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{
    MIGRATOR as SQLITE_MIGRATOR, SqliteAdmissionQueue, SqliteCouponStore, SqliteIdempotencyStore,
    SqliteLockManager, SqliteStore, SqliteWalletStore,
};
