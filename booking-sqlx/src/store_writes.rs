//! The writes of every SQL `BookingStore`, sequenced once.
//!
//! A write is one transaction: the backend starts it ([`StoreDatabase::begin_write`]), the
//! steps below run on its connection in a fixed order, and it commits only if every step
//! succeeded; on an error the dropped transaction rolls back, so a failed write leaves every
//! table as it was. The order is the same on every database: the order row first (checked at
//! the caller's version), then the payment, then the items, then the order and payment
//! compare-and-set, then the outbox. Locking in that one order is what keeps concurrent
//! writers on PostgreSQL and MySQL from deadlocking.
//!
//! What differs between databases is only how each step is done: the SQL and how it reads
//! its rows. That is [`StoreRows`], one implementation per backend.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{
    Cas, ItemRef, MarkPaid, OrderRecord, PaymentRecord, SettleRefund, StoreError,
};
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use crate::error::{Backend, Db};
use crate::order_pages::OrdersOf;

/// A database a SQL booking store runs on: how it starts a write transaction, and the reads
/// the shared parts of the store page through.
#[async_trait]
pub(crate) trait StoreDatabase: sqlx::Database<Connection: StoreRows> {
    /// The backend errors are reported as.
    const BACKEND: Backend;

    /// Starts a transaction every step of a write runs in (at the isolation, or with the
    /// write lock, the backend's docs give).
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error>;

    /// A page of the unpaid orders due at `now_ns`, oldest deadline first: `(id, deadline)`
    /// of at most `limit` orders after the `(deadline, id)` cursor `after`, read outside any
    /// transaction.
    async fn due_page(
        pool: &Pool<Self>,
        now_ns: i64,
        after: (i64, Uuid),
        limit: i64,
    ) -> Result<Vec<(Uuid, i64)>, StoreError>;

    /// At most `limit` orders of `of` with ids up to `upto` (inclusive), highest id first, as
    /// stored, read in one statement outside any transaction (`crate::order_pages`).
    async fn order_page(
        pool: &Pool<Self>,
        of: OrdersOf,
        upto: Uuid,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError>;
}

/// The row-level steps of the store's writes on one database, each inside the caller's
/// transaction. Each locks what it reads where the database locks rows.
#[async_trait]
pub(crate) trait StoreRows: Send {
    /// Holds every item of `record`, inserts it and appends the events of the hold.
    async fn place_order(&mut self, record: &OrderRecord, now: Timestamp)
    -> Result<(), StoreError>;

    /// The stored order `change` is based on, locked; `NotFound`, or `VersionConflict` if it
    /// has moved on.
    async fn lock_order(&mut self, change: &Cas<OrderRecord>) -> Result<OrderRecord, StoreError>;

    /// Order `id` if it is still unpaid and due at `now`, claimed for this transaction;
    /// `None` if it moved on or another sweeper holds it.
    async fn claim_due(
        &mut self,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, StoreError>;

    /// The stored payment `id`, locked; `NotFound` if there is none.
    async fn lock_payment(&mut self, id: PaymentId) -> Result<PaymentRecord, StoreError>;

    /// Stores `change.next` if the order is still at `change.expected` (`NotFound` or
    /// `VersionConflict` otherwise).
    async fn cas_order(&mut self, change: &Cas<OrderRecord>) -> Result<(), StoreError>;

    /// Stores `change.next` if the payment is still at `change.expected` (`NotFound` or
    /// `VersionConflict` otherwise).
    async fn cas_payment(&mut self, change: &Cas<PaymentRecord>) -> Result<(), StoreError>;

    /// Inserts a new payment; `AlreadyExists` if its id or gateway order id is taken.
    async fn insert_payment(&mut self, record: &PaymentRecord) -> Result<(), StoreError>;

    /// Appends `events` to the outbox, in order.
    async fn append_outbox(
        &mut self,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Moves every item of `record`'s hold to `expires_at`, pushing the events; `ItemsLost`
    /// naming every item whose hold has lapsed.
    async fn extend_items(
        &mut self,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError>;

    /// Sells every item of `record` to its order (taking back an item freed after the hold
    /// lapsed), pushing the events; `ItemsLost` naming every item another order took.
    async fn sell_items(
        &mut self,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError>;

    /// Refunds `restock`, sold to `order`, and puts it back on sale, pushing the events.
    async fn restock_items(
        &mut self,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError>;

    /// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing
    /// the events; the tickets and stock units put back on sale. Items another order took
    /// after the hold lapsed are left alone.
    async fn free_items(
        &mut self,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(u32, u32), StoreError>;
}

/// One write of the `BookingStore` port, with its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write<'a> {
    /// `place_order`.
    PlaceOrder(&'a OrderRecord),
    /// `update_order`.
    UpdateOrder(&'a Cas<OrderRecord>, &'a [DomainEvent]),
    /// `extend_hold`.
    ExtendHold(&'a Cas<OrderRecord>, &'a [DomainEvent]),
    /// `start_payment`.
    StartPayment(&'a Cas<OrderRecord>, &'a PaymentRecord, &'a [DomainEvent]),
    /// `update_payment`.
    UpdatePayment(&'a Cas<PaymentRecord>, &'a [DomainEvent]),
    /// `mark_paid`.
    MarkPaid(&'a MarkPaid),
    /// `settle_refund`.
    SettleRefund(&'a SettleRefund),
    /// `cancel_unpaid`.
    CancelUnpaid(&'a Cas<OrderRecord>, &'a [DomainEvent]),
}

/// Runs `write` in one new transaction of `pool`, committing if every step succeeds.
pub(crate) async fn write<DB: StoreDatabase>(
    pool: &Pool<DB>,
    write: Write<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut tx = DB::begin_write(pool).await.db(DB::BACKEND)?;
    steps(&mut *tx, write, now).await?;
    tx.commit().await.db(DB::BACKEND)
}

/// The steps of `write`, in order, on `conn`.
async fn steps<C: StoreRows>(
    conn: &mut C,
    write: Write<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    match write {
        Write::PlaceOrder(record) => conn.place_order(record, now).await,
        Write::UpdateOrder(change, events) => {
            conn.cas_order(change).await?;
            conn.append_outbox(events, now).await
        }
        Write::ExtendHold(change, events) => {
            let record = conn.lock_order(change).await?;
            let mut events = events.to_vec();
            let expires_at = change.next.order.expires_at();
            conn.extend_items(&record, expires_at, now, &mut events)
                .await?;
            conn.cas_order(change).await?;
            conn.append_outbox(&events, now).await
        }
        Write::StartPayment(order, payment, events) => {
            conn.cas_order(order).await?;
            conn.insert_payment(payment).await?;
            conn.append_outbox(events, now).await
        }
        Write::UpdatePayment(change, events) => {
            conn.cas_payment(change).await?;
            conn.append_outbox(events, now).await
        }
        Write::MarkPaid(paid) => {
            let record = lock_both(conn, &paid.order, &paid.payment).await?;
            let mut events = paid.events.clone();
            conn.sell_items(&record, now, &mut events).await?;
            finish(conn, &paid.order, &paid.payment, &events, now).await
        }
        Write::SettleRefund(refund) => {
            let record = lock_both(conn, &refund.order, &refund.payment).await?;
            let mut events = refund.events.clone();
            let order = record.order.id();
            conn.restock_items(order, &refund.restock, now, &mut events)
                .await?;
            finish(conn, &refund.order, &refund.payment, &events, now).await
        }
        Write::CancelUnpaid(change, events) => {
            let record = conn.lock_order(change).await?;
            let mut events = events.to_vec();
            conn.free_items(&record, false, now, &mut events).await?;
            conn.cas_order(change).await?;
            conn.append_outbox(&events, now).await
        }
    }
}

/// The start of a payment step: the order `order` is based on and its payment, both locked
/// and checked at their expected versions.
async fn lock_both<C: StoreRows>(
    conn: &mut C,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
) -> Result<OrderRecord, StoreError> {
    let record = conn.lock_order(order).await?;
    let id = payment.next.payment.id();
    if conn.lock_payment(id).await?.version() != payment.expected {
        return Err(StoreError::version_conflict(
            "payment",
            id,
            payment.expected,
        ));
    }
    Ok(record)
}

/// The end of a payment step: the order and payment (CAS), then the events.
async fn finish<C: StoreRows>(
    conn: &mut C,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.cas_order(order).await?;
    conn.cas_payment(payment).await?;
    conn.append_outbox(events, now).await
}

/// Why a compare-and-set of record `id` changed no row: `NotFound` if the record is not
/// stored (`exists` is `false`), otherwise `VersionConflict` (it has moved on).
pub(crate) fn cas_missed(
    what: &'static str,
    id: impl std::fmt::Display,
    expected: u64,
    exists: bool,
) -> StoreError {
    if exists {
        StoreError::version_conflict(what, id, expected)
    } else {
        StoreError::not_found(what, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_compare_and_set_is_a_conflict_only_if_the_record_exists() {
        let id = OrderId::new();
        assert!(matches!(
            cas_missed("order", id, 3, true),
            StoreError::VersionConflict {
                what: "order",
                expected: 3,
                ..
            }
        ));
        assert!(matches!(
            cas_missed("order", id, 3, false),
            StoreError::NotFound { what: "order", .. }
        ));
    }
}
