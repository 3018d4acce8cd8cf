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
/// and the outbox events only if it took every seat. What a caller sees:
///
/// - **A loser does not wait for the winner.** A seat whose row another statement has locked
///   at that moment (a hold being written, a sale, a release, a sweep) counts as not free:
///   the order fails at once with `StoreError::Unavailable`, listing — in line order — every
///   seat that was held or sold, or locked by another writer. A free seat of the order is
///   never listed.
/// - **If that other writer then fails** (its own order lost another seat, or it rolled
///   back), the seat is free again although the loser was told it was taken; nothing of the
///   loser's order was written, and a retry can get it. Two orders racing for the same
///   several seats can, in that way, both be refused while each had caught the other
///   mid-write.
/// - **One order id, placed twice at once**: at most one is placed. The other gets
///   `AlreadyExists`, or — if both asked for the same seat and the first was still being
///   written — `Unavailable` for that seat; it writes nothing either way.
/// - The machine's checks of the rows the statement changed still run, after it committed:
///   a disagreement is reported as a backend error (corruption) but is not undone.
///
/// Orders with stock lines take the general path: one transaction whose ticket read waits
/// for a locked row and re-checks it, as every other write does.
pub type PostgresStore = SqlStore<Postgres>;
