#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The README links every backend; built without some backends' features, the docs cannot link
// to the types those features add.
#![cfg_attr(
    not(all(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod codec;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod coupon_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod error;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod idempotency_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod lock_leases;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod queue_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod store;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod wallet_ledger;

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub use store::SqlStore;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;

#[cfg(feature = "postgres")]
pub use postgres::{
    MIGRATOR as POSTGRES_MIGRATOR, PostgresAdmissionQueue, PostgresCouponStore,
    PostgresIdempotencyStore, PostgresLockManager, PostgresStore, PostgresWalletStore,
};

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub mod mysql;

#[cfg(feature = "mysql")]
pub use mysql::{
    MIGRATOR as MYSQL_MIGRATOR, MySqlAdmissionQueue, MySqlCouponStore, MySqlIdempotencyStore,
    MySqlLockManager, MySqlStore, MySqlWalletStore,
};

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{
    MIGRATOR as SQLITE_MIGRATOR, SqliteAdmissionQueue, SqliteCouponStore, SqliteIdempotencyStore,
    SqliteLockManager, SqliteStore, SqliteWalletStore,
};
