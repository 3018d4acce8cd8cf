//! The MySQL / MariaDB backend: every port of booking-core on InnoDB.
//!
//! | port | type | file |
//! |---|---|---|
//! | [`BookingStore`](booking_core::ports::store::BookingStore) | [`MySqlStore`] | `store.rs`, `inventory.rs`, `hold.rs`, `tickets.rs`, `stocks.rs`, `place.rs`, `items.rs`, `records.rs`, `outbox.rs`, `sweep.rs`, `rows.rs` |
//! | [`CouponStore`](booking_core::ports::coupon::CouponStore) | [`MySqlCouponStore`] | `coupon.rs` |
//! | [`WalletStore`](booking_core::ports::wallet::WalletStore) | [`MySqlWalletStore`] | `wallet.rs` |
//! | [`IdempotencyStore`](booking_core::ports::idempotency::IdempotencyStore) | [`MySqlIdempotencyStore`] | `idempotency.rs` |
//! | [`AdmissionQueue`](booking_core::ports::queue::AdmissionQueue) | [`MySqlAdmissionQueue`] | `queue.rs` |
//! | [`LockManager`](booking_core::ports::lock::LockManager) | [`MySqlLockManager`] | `lock.rs` |
//!
//! All of them share one database, whose tables [`MIGRATOR`] creates (`migrations/mysql`):
//! MariaDB 10.6 or later (the sweep uses `SKIP LOCKED`) or MySQL 8.
//!
//! # What the database guarantees here, and how the ports use it
//!
//! - **Transactions run at `READ COMMITTED`.** Every multi-statement operation starts with
//!   `SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION` (the server's
//!   default, `REPEATABLE READ`, is left alone for the rest of the session). At this level a
//!   conditional `UPDATE` and a locking read (`FOR UPDATE`) behave as on PostgreSQL: they
//!   read the newest committed row, wait for a row another transaction holds, and re-check
//!   their condition after the wait; an `UPDATE` whose condition the newest committed row
//!   fails does not wait at all. InnoDB also takes no gap locks at this level, so inserts of
//!   new rows never block on a neighbour's range lock — the source of most InnoDB deadlocks
//!   under `REPEATABLE READ`. Plain reads see the latest committed data, not a snapshot
//!   from the transaction's first read, so an error explained after a refused write
//!   describes the row as it is.
//! - **Row counts are matched rows.** sqlx connects with `CLIENT_FOUND_ROWS`, so an
//!   `UPDATE` reports the rows its `WHERE` matched, changed or not. Every compare-and-set
//!   here changes a version or state column it also tests, so matched and changed agree;
//!   the coupon transitions rely on "matched" to make a repeat for the same order count
//!   as done. `INSERT … ON DUPLICATE KEY UPDATE` is never used to detect a duplicate
//!   (with that flag a duplicate counts like an insert); duplicates are caught as error
//!   1062, which on MySQL undoes only the failed statement.
//! - **No `UPDATE … RETURNING`.** Where PostgreSQL returns the rows it changed, these
//!   modules lock the rows first (`SELECT … FOR UPDATE` in primary-key order), run
//!   booking-core's state machine on them, and write back with a version check.
//! - **Lock order.** Every operation takes rows in one order — order, payment, tickets by
//!   id, stocks by id (a stock's row guards its hold records too) — so operations wait for
//!   each other instead of deadlocking. A deadlock or lock-wait timeout that still happens
//!   (InnoDB detects it and rolls the transaction back) is reported as
//!   [`StoreError::Busy`](booking_core::ports::store::StoreError::Busy): nothing was done.
//! - **No foreign keys**: InnoDB checks them with shared locks on the parent row, which
//!   turns two writers of one parent into a deadlock.

use sqlx::MySql;

use crate::error::Backend;
use crate::store::SqlStore;

mod coupon;
mod hold;
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

pub use coupon::MySqlCouponStore;
pub use idempotency::MySqlIdempotencyStore;
pub use lock::MySqlLockManager;
pub use queue::MySqlAdmissionQueue;
pub use wallet::MySqlWalletStore;

use store::begin;

/// The backend these modules report errors as.
const MY: Backend = Backend::MySql;

/// The migrations that create the tables of every MySQL port (`migrations/mysql`), embedded
/// in the binary. They create unqualified tables in the connection's database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

/// The [`BookingStore`](booking_core::ports::store::BookingStore) on MySQL / MariaDB.
///
/// Every operation is one transaction at `READ COMMITTED` (see the module docs). Its pool's
/// database must have the tables [`migrate`](SqlStore::migrate) creates. Cloning is cheap:
/// clones share the pool.
pub type MySqlStore = SqlStore<MySql>;
