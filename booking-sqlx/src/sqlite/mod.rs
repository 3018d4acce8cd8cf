//! The SQLite backend: every port of booking-core in one database file.
//!
//! | port | type | file |
//! |---|---|---|
//! | [`BookingStore`](booking_core::ports::store::BookingStore) | [`SqliteStore`] | `store.rs`, `inventory.rs`, `tickets.rs`, `stocks.rs`, `place.rs`, `items.rs`, `records.rs`, `outbox.rs`, `sweep.rs`, `rows.rs` |
//! | [`CouponStore`](booking_core::ports::coupon::CouponStore) | [`SqliteCouponStore`] | `coupon.rs` |
//! | [`WalletStore`](booking_core::ports::wallet::WalletStore) | [`SqliteWalletStore`] | `wallet.rs` |
//! | [`IdempotencyStore`](booking_core::ports::idempotency::IdempotencyStore) | [`SqliteIdempotencyStore`] | `idempotency.rs` |
//! | [`AdmissionQueue`](booking_core::ports::queue::AdmissionQueue) | [`SqliteAdmissionQueue`] | `queue.rs` |
//! | [`LockManager`](booking_core::ports::lock::LockManager) | [`SqliteLockManager`] | `lock.rs` |
//!
//! They share one pool and one schema, created by [`MIGRATOR`]
//! ([`SqliteStore::migrate`](crate::SqlStore::migrate)).
//! [`SqliteStore::connect`](crate::SqlStore::connect) opens a file
//! (`sqlite://booking.db?mode=rwc`) or an in-memory database (`sqlite::memory:`) with the pool
//! options the backend is built for.
//!
//! # Schema
//!
//! Ids are 16-byte BLOBs (UUIDs), instants INTEGER nanoseconds since the Unix epoch, the rest
//! of a record JSON TEXT. `tickets`, `stocks`, `stock_holds`, `orders`, `payments` and
//! `outbox` hold the booking store (as on PostgreSQL); `coupon_campaigns` and `coupons` the
//! coupons; `wallet_ledger` the wallets (a balance is its wallet's latest `balance_after`);
//! `idempotency_keys` the idempotency records; `queue_rooms` and `queue_tokens` the waiting
//! rooms; `lock_leases` the locks; `counters` the lock and idempotency token counters.
//!
//! # Atomicity: one writer at a time
//!
//! SQLite lets one transaction write at a time, database-wide. Every operation that writes
//! runs in one transaction opened with `BEGIN IMMEDIATE`, which takes that write lock at its
//! start rather than at its first write. So the reads, checks and writes of one operation
//! (load the order at the expected version, run the state machines, write the rows back)
//! happen with no other writer in between, in this process or any other process using the
//! file, and two transactions never both read and then deadlock on upgrading to write. Any
//! failure drops the transaction, which rolls every change back. Reads outside a
//! transaction see the last committed state (WAL lets them run beside the writer).
//!
//! A writer waits for the lock up to the connection's `busy_timeout`; if that runs out the
//! operation fails with `SQLITE_BUSY`, reported as [`StoreError::Busy`](booking_core::ports::store::StoreError::Busy) (nothing was done,
//! retry), or as the port's `Backend` error for ports without a busy variant.
//!
//! Per operation: a hold reads its tickets and stocks, runs the machines (a lapsed hold is
//! free, lapsed stock holds are reclaimed first) and writes them; stock counts are also
//! guarded by `CHECK (held + sold <= capacity)`. Orders and payments are compare-and-set
//! (`UPDATE … WHERE id = ? AND version = ?`). Coupon issuance is a conditional
//! `UPDATE … SET issued = issued + 1 WHERE issued < budget`. A wallet movement reads the
//! wallet's latest balance and appends an entry whose reference is `UNIQUE`. An idempotency
//! `begin`, an admission and a lock acquisition each read and write their rows inside the
//! one write transaction.
//!
//! # What this does not give
//!
//! - No row locks and no `SKIP LOCKED`: writers of unrelated rows still wait for each other,
//!   and sweepers on several processes run one order at a time in turn (each claims an order
//!   in its own transaction after re-checking that it is still due, so an order is expired
//!   once). Throughput is one writer's.
//! - [`SqliteLockManager`]'s leases are rows of the same file: they coordinate the processes
//!   that share that file (one host, a local file system), nothing beyond.
//! - An in-memory database lives in one connection; [`SqliteStore::connect`](crate::SqlStore::connect)
//!   gives it a pool of one.

use sqlx::Sqlite;

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

pub use coupon::SqliteCouponStore;
pub use idempotency::SqliteIdempotencyStore;
pub use lock::SqliteLockManager;
pub use queue::SqliteAdmissionQueue;
pub use store::{BUSY_TIMEOUT, connect_options};
pub use wallet::SqliteWalletStore;

pub(crate) use store::begin_write;

/// The backend these modules report errors as.
const SQ: Backend = Backend::Sqlite;

/// The migrations that create every port's tables (`migrations/sqlite`), embedded in the
/// binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The [`BookingStore`](booking_core::ports::store::BookingStore) on SQLite.
///
/// Every writing operation is one `BEGIN IMMEDIATE` transaction (see the module docs).
/// [`SqliteStore::connect`](SqlStore::connect) opens a file (`sqlite://booking.db?mode=rwc`) or
/// an in-memory database (`sqlite::memory:`) with the pool options the backend is built for;
/// a pool of your own ([`SqliteStore::new`](SqlStore::new)) needs a `busy_timeout` on its
/// connections (as [`connect_options`] sets), or concurrent writers fail busy at once.
/// Cloning is cheap: clones share the pool.
pub type SqliteStore = SqlStore<Sqlite>;
