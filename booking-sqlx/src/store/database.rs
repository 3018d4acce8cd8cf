//! What a database supplies to the SQL store: its name, migrations and transactions
//! ([`StoreDatabase`], in the backend's `store.rs`), and the SQL of every step, one trait per
//! job, each implemented in the backend's file of the same name.
//!
//! | trait | file | job |
//! |---|---|---|
//! | [`Inventory`] | `inventory.rs` | listing tickets and stocks, reading them, availability |
//! | [`Records`] | `records.rs` | orders and payments: reads, locked reads, inserts, compare-and-set |
//! | [`Outbox`] | `outbox.rs` | appending events, reading and acknowledging them |
//! | [`Placing`] | `place.rs` | holding an order's items and inserting it |
//! | [`ItemSteps`] | `items.rs` | extending, selling, restocking and freeing an order's items |
//! | [`Sweep`] | `sweep.rs` | expiring due orders, claiming one due order |
//! | `DuePages` | `sweep.rs` (SQLite, MySQL) | the page of due orders the shared sweep reads |
//!
//! The traits are implemented for sqlx's database types (`sqlx::Sqlite`, `sqlx::Postgres`,
//! `sqlx::MySql`); their functions take the pool, or the connection of the caller's
//! transaction. Each one's contract is the port operation or row step of the same name.

use std::future::Future;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId};
use booking_core::machine::{DomainEvent, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, Cas, ExpirySweep, ItemRef, MarkPaid, OrderRecord, OutboxEntry, PaymentRecord,
    StockListing, StoreError, TicketListing, TicketPage,
};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use super::gate::Seen;
use super::pages::OrdersOf;
use crate::error::Backend;

/// A database the SQL store runs on. Implemented in each backend's `store.rs`.
pub(crate) trait StoreDatabase:
    sqlx::Database<Connection: Migrate> + Inventory + Records + Outbox + Placing + ItemSteps + Sweep
{
    /// The backend errors are reported as.
    const BACKEND: Backend;

    /// The migrations that create the tables of every port.
    fn migrator() -> &'static Migrator;

    /// A pool on the database at `url`, with the options the backend is built for, once a
    /// first connection showed the database answers. Errors name the backend and where it
    /// was connecting (never a password).
    fn connect(url: &str) -> impl Future<Output = Result<Pool<Self>, StoreError>> + Send;

    /// Where `pool` connects, for errors: host and port and database, or file; never a
    /// password.
    fn target(pool: &Pool<Self>) -> String;

    /// Starts a transaction every step of a write runs in (at the isolation, or with the
    /// write lock, the backend's docs give).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

/// Tickets and stocks as listed (`inventory.rs`).
pub(crate) trait Inventory: sqlx::Database {
    /// `BookingStore::add_tickets`: all or none.
    fn add_tickets(
        pool: &Pool<Self>,
        listings: &[TicketListing],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `BookingStore::add_stock`.
    fn add_stock(
        pool: &Pool<Self>,
        listing: &StockListing,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `BookingStore::ticket`.
    fn ticket(
        pool: &Pool<Self>,
        id: TicketId,
    ) -> impl Future<Output = Result<TicketListing, StoreError>> + Send;

    /// `BookingStore::tickets_of_event`, the page's limit already checked.
    fn tickets_of_event(
        pool: &Pool<Self>,
        event: EventId,
        page: &TicketPage,
    ) -> impl Future<Output = Result<Vec<TicketListing>, StoreError>> + Send;

    /// `BookingStore::stock`.
    fn stock(
        pool: &Pool<Self>,
        id: StockId,
    ) -> impl Future<Output = Result<StockListing, StoreError>> + Send;

    /// `BookingStore::availability`.
    fn availability(
        pool: &Pool<Self>,
        event: EventId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Availability, StoreError>> + Send;
}

/// Orders and payments (`records.rs`).
pub(crate) trait Records: sqlx::Database {
    /// `BookingStore::order`: `NotFound` if there is none.
    fn order(
        pool: &Pool<Self>,
        id: OrderId,
    ) -> impl Future<Output = Result<OrderRecord, StoreError>> + Send;

    /// At most `limit` orders of `of` with ids up to `upto` (inclusive), highest id first, as
    /// stored, read in one statement (see `store::pages`).
    fn order_page(
        pool: &Pool<Self>,
        of: OrdersOf,
        upto: Uuid,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OrderRecord>, StoreError>> + Send;

    /// `BookingStore::payment`.
    fn payment(
        pool: &Pool<Self>,
        id: PaymentId,
    ) -> impl Future<Output = Result<PaymentRecord, StoreError>> + Send;

    /// `BookingStore::payment_by_order_ref`.
    fn payment_by_order_ref(
        pool: &Pool<Self>,
        order_ref: &GatewayOrderId,
    ) -> impl Future<Output = Result<PaymentRecord, StoreError>> + Send;

    /// `BookingStore::payments_in`.
    fn payments_in(
        pool: &Pool<Self>,
        states: &[PaymentState],
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentRecord>, StoreError>> + Send;

    /// The stored order `change` is based on, locked; `NotFound`, or `VersionConflict` if it
    /// has moved on.
    fn lock_order(
        conn: &mut Self::Connection,
        change: &Cas<OrderRecord>,
    ) -> impl Future<Output = Result<OrderRecord, StoreError>> + Send;

    /// The stored payment `id`, locked; `NotFound` if there is none.
    fn lock_payment(
        conn: &mut Self::Connection,
        id: PaymentId,
    ) -> impl Future<Output = Result<PaymentRecord, StoreError>> + Send;

    /// Stores `change.next` if the order is still at `change.expected` (`NotFound` or
    /// `VersionConflict` otherwise).
    fn cas_order(
        conn: &mut Self::Connection,
        change: &Cas<OrderRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `change.next` if the payment is still at `change.expected` (`NotFound` or
    /// `VersionConflict` otherwise).
    fn cas_payment(
        conn: &mut Self::Connection,
        change: &Cas<PaymentRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Inserts a new payment; `AlreadyExists` if its id or gateway order id is taken.
    fn insert_payment(
        conn: &mut Self::Connection,
        record: &PaymentRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The outbox (`outbox.rs`).
pub(crate) trait Outbox: sqlx::Database {
    /// Appends `events` to the outbox, in order, inside the caller's transaction.
    fn append_outbox(
        conn: &mut Self::Connection,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `BookingStore::outbox`.
    fn outbox(
        pool: &Pool<Self>,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// `BookingStore::acknowledge_outbox`.
    fn acknowledge_outbox(
        pool: &Pool<Self>,
        upto: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Placing an order (`place.rs`).
pub(crate) trait Placing: sqlx::Database {
    /// Places `record` without a transaction, by statements that are each all or nothing by
    /// themselves, if the backend has such a path for an order like it; `None` leaves the
    /// order to [`place_order`](Placing::place_order) in a write transaction. Errors as
    /// `place_order` reports them.
    fn place_at_once(
        pool: &Pool<Self>,
        record: &OrderRecord,
        now: Timestamp,
    ) -> impl Future<Output = Option<Result<(), StoreError>>> + Send {
        let _ = (pool, record, now);
        async { None }
    }

    /// For the hold gate (`gate.rs`): the `tickets` listed, each with its event (an unknown
    /// one is left out), then which of the `orders` are stored — read in that order, without
    /// locks, so an id not stored at the second read was not stored at the first.
    fn seen(
        pool: &Pool<Self>,
        tickets: Vec<TicketId>,
        orders: Vec<OrderId>,
    ) -> impl Future<Output = Result<Seen, StoreError>> + Send;

    /// Holds every item of `record`, inserts it and appends the events of the hold, inside the
    /// caller's transaction. Errors as every store reports them: a taken order id, a
    /// non-pending order, an invalid line (unknown item, another event's, repeated, zero
    /// quantity), then in line order the first stock line that cannot be held, else every
    /// ticket that is not free.
    fn place_order(
        conn: &mut Self::Connection,
        record: &OrderRecord,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The item steps after the hold (`items.rs`), each inside the caller's transaction after
/// the order (and payment) were locked.
pub(crate) trait ItemSteps: sqlx::Database {
    /// `BookingStore::mark_paid` without a transaction, by one statement that is all or
    /// nothing by itself, if the backend has one and the order is the case it covers;
    /// `None` leaves it to the write transaction (which then reports any error).
    fn mark_paid_at_once(
        pool: &Pool<Self>,
        paid: &MarkPaid,
        now: Timestamp,
    ) -> impl Future<Output = Option<Result<(), StoreError>>> + Send {
        let _ = (pool, paid, now);
        async { None }
    }

    /// Moves every item of `record`'s hold to `expires_at`, pushing the events; `ItemsLost`
    /// naming every item whose hold has lapsed.
    fn extend_items(
        conn: &mut Self::Connection,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sells every item of `record` to its order (taking back an item freed after the hold
    /// lapsed), pushing the events; `ItemsLost` naming every item another order took.
    fn sell_items(
        conn: &mut Self::Connection,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Refunds `restock`, sold to `order`, and puts it back on sale, pushing the events.
    fn restock_items(
        conn: &mut Self::Connection,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing
    /// the events; the tickets and stock units put back on sale. Items another order took
    /// after the hold lapsed are left alone.
    fn free_items(
        conn: &mut Self::Connection,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> impl Future<Output = Result<(u32, u32), StoreError>> + Send;
}

/// The sweep (`sweep.rs`).
pub(crate) trait Sweep: sqlx::Database {
    /// `BookingStore::expire_due`: most databases run the shared sweep of `store::expiry`.
    fn expire_due(
        pool: &Pool<Self>,
        now: Timestamp,
        batch: u32,
    ) -> impl Future<Output = Result<ExpirySweep, StoreError>> + Send;

    /// Order `id` if it is still unpaid and due at `now`, claimed for the caller's
    /// transaction; `None` if it moved on or another sweeper holds it.
    fn claim_due(
        conn: &mut Self::Connection,
        id: OrderId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;
}

#[cfg(any(feature = "sqlite", feature = "mysql"))]
/// The page of due orders the shared sweep (`store::expiry`) reads, for databases that run it.
pub(crate) trait DuePages: sqlx::Database {
    /// `(id, deadline)` of at most `limit` unpaid orders due at `now_ns` after the
    /// `(deadline, id)` cursor `after`, oldest deadline first, read outside any transaction.
    fn due_page(
        pool: &Pool<Self>,
        now_ns: i64,
        after: (i64, Uuid),
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(Uuid, i64)>, StoreError>> + Send;
}
