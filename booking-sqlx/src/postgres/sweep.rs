//! `expire_due`: the sweep of unpaid orders past their deadline, safe on many nodes at once.
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first. Each is then claimed in its own transaction with `FOR UPDATE SKIP LOCKED`,
//! re-checking that it is still unpaid and due: an order another sweeper (or a paying buyer)
//! holds is passed over instead of waited for, and an order that moved on is not found again.
//! Orders left alone for their payment do not use up the batch; the page cursor moves past
//! them so the sweep reaches the due orders behind.

use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::machine::OrderCommand;
use booking_core::ports::store::{
    Cas, ExpirySweep, OrderRecord, PaymentRecord, StoreError, SweepStep,
};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::PG;
use super::codec::{append_outbox, nanos};
use super::flow::free_items;
use super::records::{cas_order, cas_payment, lock_payment_by_id};
use crate::error::Db;

/// Most due orders read per page.
const PAGE: u32 = 256;

/// What the sweep did with one due order.
enum Outcome {
    /// Expired, with the tickets and stock units it put back and whether a payment expired.
    Expired {
        user: UserId,
        coupons: Vec<CouponId>,
        tickets: u32,
        units: u32,
        payment_expired: bool,
    },
    /// Left alone: its payment is confirming, unknown, done, or inside its window.
    Skipped,
    /// Claimed by another sweeper or changed since the page was read.
    Gone,
}

/// Runs the sweep on `pool`: see the module docs.
pub(crate) async fn expire_due(
    pool: &PgPool,
    now: Timestamp,
    batch: u32,
) -> Result<ExpirySweep, StoreError> {
    let mut sweep = ExpirySweep::default();
    let target = usize::try_from(batch).unwrap_or(usize::MAX);
    let now_ns = nanos(now)?;
    let mut cursor = (i64::MIN, Uuid::nil());
    while sweep.expired.len() < target {
        let page = sqlx::query(
            "SELECT id, expires_ns FROM orders
             WHERE state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $1
               AND (expires_ns, id) > ($2, $3)
             ORDER BY expires_ns, id LIMIT $4",
        )
        .bind(now_ns)
        .bind(cursor.0)
        .bind(cursor.1)
        .bind(i64::from(batch.clamp(1, PAGE)))
        .fetch_all(pool)
        .await
        .db(PG)?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            if sweep.expired.len() >= target {
                break;
            }
            let id: Uuid = row.try_get("id").db(PG)?;
            cursor = (row.try_get("expires_ns").db(PG)?, id);
            let mut tx = pool.begin().await.db(PG)?;
            match expire_one(&mut tx, OrderId::from_uuid(id), now).await? {
                Outcome::Expired {
                    user,
                    coupons,
                    tickets,
                    units,
                    payment_expired,
                } => {
                    tx.commit().await.db(PG)?;
                    sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
                    sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
                    if payment_expired {
                        sweep.payments_expired = sweep.payments_expired.saturating_add(1);
                    }
                    sweep.expired.push((OrderId::from_uuid(id), user, coupons));
                }
                Outcome::Skipped => {
                    tx.rollback().await.db(PG)?;
                    sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                }
                Outcome::Gone => tx.rollback().await.db(PG)?,
            }
        }
    }
    Ok(sweep)
}

/// Claims and expires one due order inside `conn`'s transaction.
async fn expire_one(
    conn: &mut PgConnection,
    id: OrderId,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let claimed = sqlx::query(
        "SELECT record FROM orders
         WHERE id = $1 AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(&mut *conn)
    .await
    .db(PG)?;
    let Some(row) = claimed else {
        return Ok(Outcome::Gone);
    };
    let Json(record) = row.try_get::<Json<OrderRecord>, _>("record").db(PG)?;
    let mut events = Vec::new();
    let mut payment_expired = false;
    if let Some(payment_id) = record.payment {
        let payment = lock_payment_by_id(conn, payment_id).await?;
        match SweepStep::for_payment(&payment.payment, now) {
            SweepStep::ExpirePayment(t) => {
                events.push(t.event);
                let change = Cas {
                    expected: payment.version(),
                    next: PaymentRecord {
                        payment: t.next,
                        ..payment
                    },
                };
                cas_payment(conn, &change).await?;
                payment_expired = true;
            }
            SweepStep::OrderOnly => {}
            SweepStep::Skip => return Ok(Outcome::Skipped),
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
    Ok(Outcome::Expired {
        user: change.next.user,
        coupons: change.next.coupons,
        tickets,
        units,
        payment_expired,
    })
}
