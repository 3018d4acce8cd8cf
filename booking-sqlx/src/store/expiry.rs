//! The shared `expire_due` of the SQL stores: the sweep of unpaid orders past their deadline,
//! one order per transaction (PostgreSQL batches ticket-only orders on top of [`expire_one`]).
//!
//! Due orders are read a page at a time ([`DuePages::due_page`]), oldest deadline first,
//! outside any transaction. Each is then expired in its own write transaction that first
//! claims it ([`Sweep::claim_due`](super::database::Sweep::claim_due)), re-checking that it is still unpaid and due:
//! an order another sweeper got to first, or a buyer paid meanwhile, leaves nothing to do.
//! Orders left alone for their payment do not use up the batch; the page cursor moves past
//! them so the sweep reaches the due orders behind.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::machine::OrderCommand;
use booking_core::ports::backend::store::SweepStep;
use booking_core::ports::store::{Cas, ExpirySweep, StoreError};
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use sqlx::Pool;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use uuid::Uuid;

#[cfg(any(feature = "sqlite", feature = "mysql"))]
use super::database::DuePages;
use super::database::StoreDatabase;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use crate::codec::nanos;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use crate::error::Db;

#[cfg(any(feature = "sqlite", feature = "mysql"))]
/// Most due orders read per page.
const PAGE: u32 = 256;

/// What the sweep did with one due order.
pub(crate) enum Outcome {
    /// Expired: counted in the sweep, to be committed.
    Expired,
    /// Left alone: its payment is confirming, unknown, done, or inside its window.
    Skipped,
    /// Claimed by another sweeper or changed since the page was read.
    Gone,
}

/// Expires at most `batch` due orders of `pool`: see the module docs.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) async fn expire_due<DB: StoreDatabase + DuePages>(
    pool: &Pool<DB>,
    now: Timestamp,
    batch: u32,
) -> Result<ExpirySweep, StoreError> {
    let mut sweep = ExpirySweep::default();
    let target = usize::try_from(batch).unwrap_or(usize::MAX);
    let now_ns = nanos(now)?;
    let mut cursor = (i64::MIN, Uuid::nil());
    while sweep.expired.len() < target {
        let page = DB::due_page(pool, now_ns, cursor, i64::from(batch.clamp(1, PAGE))).await?;
        if page.is_empty() {
            break;
        }
        for (id, deadline) in page {
            if sweep.expired.len() >= target {
                break;
            }
            cursor = (deadline, id);
            let mut tx = DB::begin_write(pool).await.db(DB::BACKEND)?;
            match expire_one::<DB>(&mut *tx, OrderId::from_uuid(id), now, &mut sweep).await? {
                Outcome::Expired => tx.commit().await.db(DB::BACKEND)?,
                Outcome::Skipped => {
                    tx.rollback().await.db(DB::BACKEND)?;
                    sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                }
                Outcome::Gone => tx.rollback().await.db(DB::BACKEND)?,
            }
        }
    }
    Ok(sweep)
}

/// Claims and expires order `id` inside `conn`'s transaction, with its payment if that is
/// still waiting for the buyer; counts an expired order in `sweep`.
pub(crate) async fn expire_one<DB: StoreDatabase>(
    conn: &mut DB::Connection,
    id: OrderId,
    now: Timestamp,
    sweep: &mut ExpirySweep,
) -> Result<Outcome, StoreError> {
    let Some(record) = DB::claim_due(conn, id, now).await? else {
        return Ok(Outcome::Gone);
    };
    let mut events = Vec::new();
    let mut payment_expired = false;
    if let Some(payment_id) = record.payment {
        let payment = DB::lock_payment(conn, payment_id).await?;
        match SweepStep::for_payment(&payment.payment, now) {
            SweepStep::ExpirePayment(t) => {
                events.push(t.event);
                let expected = payment.version();
                let mut next = payment;
                next.payment = t.next;
                DB::cas_payment(conn, &Cas::new(expected, next)).await?;
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
    let (tickets, units) = DB::free_items(conn, &record, true, now, &mut events).await?;
    let expected = record.version();
    let mut next = record;
    next.order = expired.next;
    let change = Cas::new(expected, next);
    DB::cas_order(conn, &change).await?;
    DB::append_outbox(conn, &events, now).await?;
    sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
    sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
    sweep.payments_expired = sweep
        .payments_expired
        .saturating_add(u32::from(payment_expired));
    sweep
        .expired
        .push((id, change.next.user, change.next.coupons));
    Ok(Outcome::Expired)
}

/// Adds the sweep `part` (of orders later in deadline order) to `sweep`.
#[cfg(feature = "postgres")]
pub(crate) fn merge(sweep: &mut ExpirySweep, part: ExpirySweep) {
    sweep.tickets_released = sweep.tickets_released.saturating_add(part.tickets_released);
    sweep.stock_units_released = sweep
        .stock_units_released
        .saturating_add(part.stock_units_released);
    sweep.payments_expired = sweep.payments_expired.saturating_add(part.payments_expired);
    sweep.skipped_in_payment = sweep
        .skipped_in_payment
        .saturating_add(part.skipped_in_payment);
    sweep.expired.extend(part.expired);
}
