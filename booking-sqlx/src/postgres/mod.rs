//! The PostgreSQL backend: every port of booking-core.
//!
//! | port | type | file |
//! |---|---|---|
//! | `BookingStore` | [`PostgresStore`] | `store.rs`, `inventory.rs`, `tickets.rs`, `stocks.rs`, `place.rs`, `items.rs`, `records.rs`, `outbox.rs`, `sweep.rs`, `rows.rs` |
//! | `CouponStore` | [`PostgresCouponStore`] | `coupon.rs` |
//! | `WalletStore` | [`PostgresWalletStore`] | `wallet.rs` |
//! | `IdempotencyStore` | [`PostgresIdempotencyStore`] | `idempotency.rs` |
//! | `AdmissionQueue` | [`PostgresAdmissionQueue`] | `queue.rs` |
//! | `LockManager` | [`PostgresLockManager`] | `lock.rs` |
//!
//! All of them run on one [`PgPool`](sqlx::PgPool) whose schema has the tables of [`MIGRATOR`]; each file's
//! docs say which statements make its operations atomic.

use sqlx::Postgres;

use crate::error::Backend;
use crate::store::SqlStore;

mod coupon;
mod idempotency;
mod inventory;
mod items;
mod lock;
mod outbox;
mod place;
mod queue;
mod records;
mod rows;
mod stocks;
mod store;
mod sweep;
mod tickets;
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
/// correctness comes from conditions in the statements themselves (see the crate docs), so no
/// stronger isolation and no retry loop is needed. Its pool's database (and `search_path`
/// schema) must have the tables [`migrate`](SqlStore::migrate) creates. Cloning is cheap:
/// clones share the pool.
pub type PostgresStore = SqlStore<Postgres>;
