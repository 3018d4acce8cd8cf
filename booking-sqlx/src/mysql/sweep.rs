//! `expire_due`: the sweep of unpaid orders past their deadline, safe on many nodes at once.
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index (on the
//! generated `due_ns` column, NULL once an order is paid or closed), oldest deadline first.
//! Each is then claimed in its own transaction with `FOR UPDATE SKIP LOCKED`, re-checking
//! that it is still due: an order another sweeper (or a paying buyer) holds is passed over
//! instead of waited for, and an order that moved on is not found again. Orders left alone
//! for their payment do not use up the batch; the page cursor moves past them.

use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::machine::OrderCommand;
use booking_core::ports::store::{
    Cas, ExpirySweep, OrderRecord, PaymentRecord, StoreError, SweepStep,
};
use sqlx::{MySqlConnection, MySqlPool};
use uuid::Uuid;

use super::flow::free_items;
use super::records::{cas_order, cas_payment, lock_payment};
use super::rows::{append_outbox, record};
use super::{MY, begin};
use crate::codec::nanos;
use crate::error::Db;

/// Most due orders read per page.
const PAGE: u32 = 256;

/// What the sweep did with one due order.
enum Outcome {
    /// Expired: its buyer and coupons, the tickets and stock units it put back, and whether
    /// a payment expired with it.
    Expired {
        user: UserId,
        coupons: Vec<CouponId>,
        released: (u32, u32),
        payment_expired: bool,
    },
    /// Left alone: its payment is confirming, unknown, done, or inside its window.
    Skipped,
    /// Claimed by another sweeper or changed since the page was read.
    Gone,
}

/// Runs the sweep on `pool`: see the module docs.
pub(crate) async fn expire_due(
    pool: &MySqlPool,
    now: Timestamp,
    batch: u32,
) -> Result<ExpirySweep, StoreError> {
    let mut sweep = ExpirySweep::default();
    let target = usize::try_from(batch).unwrap_or(usize::MAX);
    let now_ns = nanos(now)?;
    let mut cursor = (i64::MIN, Uuid::nil());
    while sweep.expired.len() < target {
        let page: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, due_ns FROM orders
             WHERE due_ns <= ? AND (due_ns > ? OR (due_ns = ? AND id > ?))
             ORDER BY due_ns, id LIMIT ?",
        )
        .bind(now_ns)
        .bind(cursor.0)
        .bind(cursor.0)
        .bind(cursor.1)
        .bind(i64::from(batch.clamp(1, PAGE)))
        .fetch_all(pool)
        .await
        .db(MY)?;
        if page.is_empty() {
            break;
        }
        for (id, due) in page {
            if sweep.expired.len() >= target {
                break;
            }
            cursor = (due, id);
            let order = OrderId::from_uuid(id);
            let mut tx = begin(pool).await.db(MY)?;
            match expire_one(&mut tx, order, now).await? {
                Outcome::Expired {
                    user,
                    coupons,
                    released: (tickets, units),
                    payment_expired,
                } => {
                    tx.commit().await.db(MY)?;
                    sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
                    sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
                    sweep.payments_expired = sweep
                        .payments_expired
                        .saturating_add(u32::from(payment_expired));
                    sweep.expired.push((order, user, coupons));
                }
                Outcome::Skipped => {
                    tx.rollback().await.db(MY)?;
                    sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                }
                Outcome::Gone => tx.rollback().await.db(MY)?,
            }
        }
    }
    Ok(sweep)
}

/// Claims and expires one due order inside `conn`'s transaction.
async fn expire_one(
    conn: &mut MySqlConnection,
    id: OrderId,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let claimed: Option<String> = sqlx::query_scalar(
        "SELECT record FROM orders WHERE id = ? AND due_ns <= ? FOR UPDATE SKIP LOCKED",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(&mut *conn)
    .await
    .db(MY)?;
    let Some(text) = claimed else {
        return Ok(Outcome::Gone);
    };
    let stored: OrderRecord = record(&text, "order")?;
    let mut events = Vec::new();
    let mut payment_expired = false;
    if let Some(payment_id) = stored.payment {
        let payment = lock_payment(conn, payment_id).await?;
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
    let expired = stored
        .order
        .apply(OrderCommand::Expire, now)
        .map_err(|e| StoreError::refused("Order", e))?;
    events.push(expired.event);
    let released = free_items(conn, &stored, true, now, &mut events).await?;
    let change = Cas {
        expected: stored.version(),
        next: OrderRecord {
            order: expired.next,
            ..stored
        },
    };
    cas_order(conn, &change).await?;
    append_outbox(conn, &events, now).await?;
    Ok(Outcome::Expired {
        user: change.next.user,
        coupons: change.next.coupons,
        released,
        payment_expired,
    })
}
