//! `expire_due`: the sweep of unpaid orders past their deadline.
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first, outside any transaction. Each is then expired in its own write
//! transaction that first re-reads it and checks it is still unpaid and due: a sweeper in
//! another task or process that got there first, or a buyer who paid meanwhile, leaves
//! nothing to do. SQLite has no `SKIP LOCKED`, so concurrent sweepers take turns one order
//! at a time rather than working side by side; each order is still expired once. Orders left
//! alone for their payment do not use up the batch; the page cursor moves past them.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::machine::OrderCommand;
use booking_core::ports::store::{
    Cas, ExpirySweep, OrderRecord, PaymentRecord, StoreError, SweepStep,
};
use sqlx::types::Json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::flow::free_items;
use super::records::{cas_order, cas_payment, payment_by_id};
use super::rows::append_outbox;
use super::{SQ, begin_write};
use crate::codec::nanos;
use crate::error::Db;

/// Most due orders read per page.
const PAGE: u32 = 256;

/// Runs the sweep on `pool`: see the module docs.
pub(super) async fn expire_due(
    pool: &SqlitePool,
    now: Timestamp,
    batch: u32,
) -> Result<ExpirySweep, StoreError> {
    let mut sweep = ExpirySweep::default();
    let target = usize::try_from(batch).unwrap_or(usize::MAX);
    let now_ns = nanos(now)?;
    let mut cursor = (i64::MIN, Uuid::nil());
    while sweep.expired.len() < target {
        let page: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, expires_ns FROM orders
             WHERE state IN ('Pending', 'AwaitingPayment') AND expires_ns <= ?
               AND (expires_ns, id) > (?, ?)
             ORDER BY expires_ns, id LIMIT ?",
        )
        .bind(now_ns)
        .bind(cursor.0)
        .bind(cursor.1)
        .bind(i64::from(batch.clamp(1, PAGE)))
        .fetch_all(pool)
        .await
        .db(SQ)?;
        if page.is_empty() {
            break;
        }
        for (id, expires_ns) in page {
            if sweep.expired.len() >= target {
                break;
            }
            cursor = (expires_ns, id);
            let mut tx = begin_write(pool).await.db(SQ)?;
            if expire_one(&mut tx, OrderId::from_uuid(id), now, &mut sweep).await? {
                tx.commit().await.db(SQ)?;
            }
        }
    }
    Ok(sweep)
}

/// Expires order `id` inside `conn`'s write transaction if it is still unpaid and due,
/// counting it in `sweep`; whether there is anything to commit.
async fn expire_one(
    conn: &mut SqliteConnection,
    id: OrderId,
    now: Timestamp,
    sweep: &mut ExpirySweep,
) -> Result<bool, StoreError> {
    let due: Option<(Json<OrderRecord>,)> = sqlx::query_as(
        "SELECT record FROM orders
         WHERE id = ? AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= ?",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(&mut *conn)
    .await
    .db(SQ)?;
    let Some((Json(record),)) = due else {
        return Ok(false); // expired by another sweeper, or paid, since the page was read
    };
    let mut events = Vec::new();
    let mut payment_expired = false;
    if let Some(payment_id) = record.payment {
        let payment = payment_by_id(conn, payment_id).await?;
        match SweepStep::for_payment(&payment.payment, now) {
            SweepStep::ExpirePayment(t) => {
                events.push(t.event);
                let expected = payment.version();
                let next = PaymentRecord {
                    payment: t.next,
                    ..payment
                };
                cas_payment(conn, &Cas { expected, next }).await?;
                payment_expired = true;
            }
            SweepStep::OrderOnly => {}
            SweepStep::Skip => {
                sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                return Ok(false);
            }
        }
    }
    let expired = record
        .order
        .apply(OrderCommand::Expire, now)
        .map_err(|e| StoreError::refused("Order", e))?;
    events.push(expired.event);
    let (tickets, units) = free_items(conn, &record, true, now, &mut events).await?;
    let change = Cas {
        expected: record.version(),
        next: OrderRecord {
            order: expired.next,
            ..record
        },
    };
    cas_order(conn, &change).await?;
    append_outbox(conn, &events, now).await?;
    sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
    sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
    sweep.payments_expired = sweep
        .payments_expired
        .saturating_add(u32::from(payment_expired));
    sweep
        .expired
        .push((id, change.next.user, change.next.coupons));
    Ok(true)
}
