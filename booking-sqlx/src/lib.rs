#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The shared modules serve every backend; with only some backends' features on, the parts
// only the others use are compiled but not called.
#![cfg_attr(
    not(all(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(dead_code)
)]

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod codec;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod coupon_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod error;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod expiry_sweep;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod idempotency_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod lock_leases;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod order_pages;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod queue_rows;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod store_steps;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod store_writes;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod wallet_ledger;

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
