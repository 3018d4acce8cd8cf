//! `expire_due`: the sweep of unpaid orders past their deadline, safe on many nodes at once.
//!
//! Due orders are claimed a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first, with `FOR UPDATE SKIP LOCKED`: an order another sweeper (or a paying buyer)
//! holds is passed over instead of waited for, and an order that moved on no longer matches.
//! The common due order — tickets only, no payment — is expired with the rest of its page in
//! one transaction: every ticket of the page locked in one statement (id order, like every
//! other writer), written back in one, the orders by compare-and-set in one, the events in
//! one. Each order's changes still commit together, and an order is expired once. Orders with
//! a payment or stock are expired one by one, each in its own transaction, after their page.
//! Orders left alone for their payment do not use up the batch; the cursor moves past them
//! so the sweep reaches the due orders behind.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::machine::OrderCommand;
use booking_core::ports::store::{
    Cas, ExpirySweep, ItemRef, OrderRecord, PaymentRecord, StoreError, SweepStep,
};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::PG;
use super::codec::{append_outbox, nanos};
use super::flow::free_items;
use super::inventory::{free_step, lock_tickets, write_tickets};
use super::records::{cas_order, cas_orders, cas_payment, lock_payment_by_id};
use crate::error::Db;

/// Most due orders claimed per transaction.
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

/// Adds one order's outcome to `sweep`.
fn tally(sweep: &mut ExpirySweep, id: OrderId, outcome: Outcome) {
    match outcome {
        Outcome::Expired {
            user,
            coupons,
            tickets,
            units,
            payment_expired,
        } => {
            sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
            sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
            if payment_expired {
                sweep.payments_expired = sweep.payments_expired.saturating_add(1);
            }
            sweep.expired.push((id, user, coupons));
        }
        Outcome::Skipped => {
            sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
        }
        Outcome::Gone => {}
    }
}

/// Whether the page transaction expires `record` itself: tickets only, no payment.
fn batched(record: &OrderRecord) -> bool {
    record.payment.is_none()
        && record
            .lines
            .iter()
            .all(|l| matches!(l.item, ItemRef::Ticket { .. }))
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
        let room = u32::try_from(target - sweep.expired.len()).unwrap_or(PAGE);
        let mut tx = pool.begin().await.db(PG)?;
        let page = sqlx::query(
            "SELECT id, expires_ns, record FROM orders
             WHERE state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $1
               AND (expires_ns, id) > ($2, $3)
             ORDER BY expires_ns, id LIMIT $4 FOR UPDATE SKIP LOCKED",
        )
        .bind(now_ns)
        .bind(cursor.0)
        .bind(cursor.1)
        .bind(i64::from(room.clamp(1, PAGE)))
        .fetch_all(&mut *tx)
        .await
        .db(PG)?;
        let Some(last) = page.last() else {
            tx.rollback().await.db(PG)?;
            break;
        };
        cursor = (
            last.try_get("expires_ns").db(PG)?,
            last.try_get("id").db(PG)?,
        );
        let (mut together, mut alone) = (Vec::new(), Vec::new());
        for row in &page {
            let Json(record) = row.try_get::<Json<OrderRecord>, _>("record").db(PG)?;
            if batched(&record) {
                together.push(record);
            } else {
                alone.push(record.order.id());
            }
        }
        let mut outcomes = expire_together(&mut tx, &together, now).await?;
        tx.commit().await.db(PG)?;
        // The others were claimed with the page: once it commits they are claimed again, one
        // transaction each, and are gone if another sweeper or a buyer got there first.
        for id in alone {
            let mut tx = pool.begin().await.db(PG)?;
            let outcome = expire_one(&mut tx, id, now).await?;
            if let Outcome::Expired { .. } = outcome {
                tx.commit().await.db(PG)?;
            } else {
                tx.rollback().await.db(PG)?;
            }
            outcomes.push((id, outcome));
        }
        // Reported in deadline order, as the page was read.
        let position: HashMap<Uuid, usize> = page
            .iter()
            .enumerate()
            .map(|(i, row)| row.try_get("id").map(|id| (id, i)))
            .collect::<Result<_, _>>()
            .db(PG)?;
        outcomes.sort_by_key(|(id, _)| position.get(id.as_uuid()).copied());
        for (id, outcome) in outcomes {
            tally(&mut sweep, id, outcome);
        }
    }
    Ok(sweep)
}

/// Expires `records` (claimed, tickets only, no payment) inside `conn`'s transaction.
async fn expire_together(
    conn: &mut PgConnection,
    records: &[OrderRecord],
    now: Timestamp,
) -> Result<Vec<(OrderId, Outcome)>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = records
        .iter()
        .flat_map(|r| &r.lines)
        .filter_map(|l| match l.item {
            ItemRef::Ticket { ticket } => Some(*ticket.as_uuid()),
            ItemRef::Stock { .. } => None,
        })
        .collect();
    let tickets = lock_tickets(conn, &ids).await?;
    let (mut changes, mut orders, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut outcomes = Vec::with_capacity(records.len());
    for record in records {
        let expired = record
            .order
            .apply(OrderCommand::Expire, now)
            .map_err(|e| StoreError::refused("Order", e))?;
        events.push(expired.event);
        let mut released = 0_u32;
        for line in &record.lines {
            let ItemRef::Ticket { ticket } = line.item else {
                continue;
            };
            let current = tickets
                .get(&ticket)
                .copied()
                .ok_or_else(|| StoreError::not_found("ticket", ticket))?;
            let Some(t) = free_step(&current, record.hold, true, now)? else {
                continue; // taken over by another order after the hold lapsed
            };
            events.push(t.event);
            changes.push((current.version(), t.next));
            released = released.saturating_add(1);
        }
        orders.push(Cas {
            expected: record.version(),
            next: OrderRecord {
                order: expired.next,
                ..record.clone()
            },
        });
        outcomes.push((
            record.order.id(),
            Outcome::Expired {
                user: record.user,
                coupons: record.coupons.clone(),
                tickets: released,
                units: 0,
                payment_expired: false,
            },
        ));
    }
    write_tickets(conn, &changes).await?;
    cas_orders(conn, &orders).await?;
    append_outbox(conn, &events, now).await?;
    Ok(outcomes)
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
