//! The PostgreSQL backend: every port of booking-core.
//!
//! | port | type | file |
//! |---|---|---|
//! | `BookingStore` | [`PostgresStore`] | `store.rs`, `inventory.rs`, `hold.rs`, `tickets.rs`, `stocks.rs`, `place.rs`, `items.rs`, `paid.rs`, `records.rs`, `outbox.rs`, `sweep.rs`, `rows.rs` |
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
mod group;
mod hold;
mod idempotency;
mod inventory;
mod items;
mod lock;
mod outbox;
mod paid;
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
pub use group::GroupCommit;
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
/// Every operation is one transaction at the default `READ COMMITTED` isolation, or one
/// autocommitted statement that is all or nothing by itself; its correctness comes from
/// conditions in the statements themselves (see the crate docs), so no stronger isolation and
/// no retry loop is needed. Its pool's database (and `search_path` schema) must have the
/// tables [`migrate`](SqlStore::migrate) creates. Cloning is cheap: clones share the pool.
///
/// # Holding seats: one statement, losers told at once
///
/// `place_order` of a pending order of distinct tickets is one statement in one round trip:
/// it takes the free seats with `FOR UPDATE SKIP LOCKED` and writes the hold, the order row
/// and the outbox events only if it took every seat (ADR 0008). What a caller sees:
///
/// - **A seat taken as last committed** refuses the order at once with
///   `StoreError::Unavailable`, without waiting for any lock; the error lists, in line order,
///   every seat held or sold, never a free one.
/// - **A seat being written at that moment** (its row locked by another statement) is passed
///   over; if it was free as last committed, the statement runs once more waiting for that
///   writer and re-checks the seat. If the writer then fails or rolls back, the seat is free
///   and this order gets it; otherwise it is listed as taken. So a loser is only ever told
///   about seats really taken, at the price of waiting for one in-flight statement.
/// - **One order id placed twice at once**: at most one is placed; the other gets
///   `AlreadyExists` and writes nothing.
/// - The machine's checks of the rows the statement changed still run, after it committed:
///   a disagreement is reported as a backend error (corruption) but is not undone.
///
/// Orders with stock lines take the general path: one transaction whose ticket read waits
/// for a locked row and re-checks it, as every other write does.
pub type PostgresStore = SqlStore<Postgres>;
