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
//! its rows, in the traits of [`super::database`].

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{
    Cas, MarkPaid, OrderRecord, PaymentRecord, SettleRefund, StoreError,
};
use sqlx::Pool;

use super::database::StoreDatabase;
use crate::error::Db;

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
    steps::<DB>(&mut *tx, write, now).await?;
    tx.commit().await.db(DB::BACKEND)
}

/// The steps of `write`, in order, on `conn`.
async fn steps<DB: StoreDatabase>(
    conn: &mut DB::Connection,
    write: Write<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    match write {
        Write::PlaceOrder(record) => DB::place_order(conn, record, now).await,
        Write::UpdateOrder(change, events) => {
            DB::cas_order(conn, change).await?;
            DB::append_outbox(conn, events, now).await
        }
        Write::ExtendHold(change, events) => {
            let record = DB::lock_order(conn, change).await?;
            let mut events = events.to_vec();
            let expires_at = change.next.order.expires_at();
            DB::extend_items(conn, &record, expires_at, now, &mut events).await?;
            DB::cas_order(conn, change).await?;
            DB::append_outbox(conn, &events, now).await
        }
        Write::StartPayment(order, payment, events) => {
            DB::cas_order(conn, order).await?;
            DB::insert_payment(conn, payment).await?;
            DB::append_outbox(conn, events, now).await
        }
        Write::UpdatePayment(change, events) => {
            DB::cas_payment(conn, change).await?;
            DB::append_outbox(conn, events, now).await
        }
        Write::MarkPaid(paid) => {
            let record = lock_both::<DB>(conn, &paid.order, &paid.payment).await?;
            let mut events = paid.events.clone();
            DB::sell_items(conn, &record, now, &mut events).await?;
            finish::<DB>(conn, &paid.order, &paid.payment, &events, now).await
        }
        Write::SettleRefund(refund) => {
            let record = lock_both::<DB>(conn, &refund.order, &refund.payment).await?;
            let mut events = refund.events.clone();
            let order = record.order.id();
            DB::restock_items(conn, order, &refund.restock, now, &mut events).await?;
            finish::<DB>(conn, &refund.order, &refund.payment, &events, now).await
        }
        Write::CancelUnpaid(change, events) => {
            let record = DB::lock_order(conn, change).await?;
            let mut events = events.to_vec();
            DB::free_items(conn, &record, false, now, &mut events).await?;
            DB::cas_order(conn, change).await?;
            DB::append_outbox(conn, &events, now).await
        }
    }
}

/// The start of a payment step: the order `order` is based on and its payment, both locked
/// and checked at their expected versions.
async fn lock_both<DB: StoreDatabase>(
    conn: &mut DB::Connection,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
) -> Result<OrderRecord, StoreError> {
    let record = DB::lock_order(conn, order).await?;
    let id = payment.next.payment.id();
    if DB::lock_payment(conn, id).await?.version() != payment.expected {
        return Err(StoreError::version_conflict(
            "payment",
            id,
            payment.expected,
        ));
    }
    Ok(record)
}

/// The end of a payment step: the order and payment (CAS), then the events.
async fn finish<DB: StoreDatabase>(
    conn: &mut DB::Connection,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    DB::cas_order(conn, order).await?;
    DB::cas_payment(conn, payment).await?;
    DB::append_outbox(conn, events, now).await
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
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

#[cfg(all(test, any(feature = "postgres", feature = "mysql")))]
mod tests {
    use booking_core::ids::OrderId;

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
