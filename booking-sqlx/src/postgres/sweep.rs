//! `expire_due`: the sweep of unpaid orders past their deadline, safe on many nodes at once.
//!
//! Due orders are claimed a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first, with `FOR UPDATE SKIP LOCKED`: an order another sweeper (or a paying buyer)
//! holds is passed over instead of waited for, and an order that moved on no longer matches.
//! The common due order — tickets only, no payment — is expired with the rest of its page in
//! one transaction: every ticket of the page read in one statement (without a lock, see
//! [`expire_together`]), written back in one where unchanged, the orders by compare-and-set in
//! one, the events in one. Each order's changes still commit together, and an order is expired once. Orders with
//! a payment or stock are expired one by one, each in its own transaction, after their page.
//! Orders left alone for their payment do not use up the batch; the cursor moves past them
//! so the sweep reaches the due orders behind.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::machine::OrderCommand;
use booking_core::ports::store::{Cas, ExpirySweep, ItemRef, OrderRecord, StoreError};
use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use super::PG;
use super::records::{cas_orders, order_in};
use super::tickets::{free_step, read_tickets, write_unchanged};
use crate::codec::nanos;
use crate::error::Db;
use crate::store::database::{Outbox, Sweep};
use crate::store::expiry::{Outcome, expire_one, merge};
use crate::store::rules::ticket_ids;

/// Most due orders claimed per transaction: a batch of up to this many is one page, so each
/// of its statements (claim, ticket lock, ticket write, order write, events) runs once per
/// batch.
const PAGE: u32 = 1_000;

/// Whether the page transaction expires `record` itself: tickets only, no payment.
fn batched(record: &OrderRecord) -> bool {
    record.payment.is_none()
        && record
            .lines
            .iter()
            .all(|l| matches!(l.item, ItemRef::Ticket { .. }))
}

/// Runs the sweep on `pool`: see the module docs.
async fn sweep_pages(pool: &PgPool, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
    let mut sweep = ExpirySweep::default();
    let target = usize::try_from(batch).unwrap_or(usize::MAX);
    let now_ns = nanos(now)?;
    let mut cursor = (i64::MIN, Uuid::nil());
    while sweep.expired.len() < target {
        let room = u32::try_from(target - sweep.expired.len()).unwrap_or(PAGE);
        let mut tx = pool.begin().await.db(PG)?;
        // The claim must walk `orders_unpaid_by_deadline` in order and stop after the page.
        // Right after a burst of holds the planner's statistics still describe the table as
        // it was, put the due orders at a few hundred, and prefer a bitmap scan of every due
        // order followed by a sort: per page, all of them read and sorted (100,000 due
        // orders: 180 ms a page, a sort spilled to disk). Without sorts the only plan left is
        // the ordered index scan, whatever the statistics say. The setting lasts for the
        // page's transaction; its other statements join on keys or keep the one sort they
        // cannot do without (the events in order), so it changes none of their plans.
        sqlx::query("SET LOCAL enable_sort = off")
            .execute(&mut *tx)
            .await
            .db(PG)?;
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
            let record = order_in(row)?;
            if batched(&record) {
                together.push(record);
            } else {
                alone.push(record.order.id());
            }
        }
        let mut parts = expire_together(&mut tx, &together, now).await?;
        tx.commit().await.db(PG)?;
        // The others were claimed with the page: once it commits they are claimed again, one
        // transaction each (as on every backend), and are gone if another sweeper or a buyer
        // got there first.
        for id in alone {
            let mut part = ExpirySweep::default();
            let mut tx = pool.begin().await.db(PG)?;
            match expire_one::<Postgres>(&mut *tx, id, now, &mut part).await? {
                Outcome::Expired => tx.commit().await.db(PG)?,
                Outcome::Skipped => {
                    tx.rollback().await.db(PG)?;
                    part.skipped_in_payment = 1;
                }
                Outcome::Gone => tx.rollback().await.db(PG)?,
            }
            parts.push((id, part));
        }
        // Reported in deadline order, as the page was read.
        let position: HashMap<Uuid, usize> = page
            .iter()
            .enumerate()
            .map(|(i, row)| row.try_get("id").map(|id| (id, i)))
            .collect::<Result<_, _>>()
            .db(PG)?;
        parts.sort_by_key(|(id, _)| position.get(id.as_uuid()).copied());
        for (_, part) in parts {
            merge(&mut sweep, part);
        }
    }
    Ok(sweep)
}

/// Expires `records` (claimed, tickets only, no payment) inside `conn`'s transaction.
///
/// The tickets are read without a lock and written back only where their version is still the
/// one read: a claimed order's tickets can change meanwhile only by being taken over — its
/// hold has lapsed, and a new hold may take a lapsed ticket without the order's lock — and a
/// ticket taken over is left alone, as if it had been taken before the read. Every other
/// writer of those tickets locks the order first and waits for this transaction.
async fn expire_together(
    conn: &mut PgConnection,
    records: &[OrderRecord],
    now: Timestamp,
) -> Result<Vec<(OrderId, ExpirySweep)>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ticket_ids(records.iter().flat_map(|r| &r.lines).map(|l| &l.item));
    let tickets = read_tickets(conn, &ids, false).await?;
    let (mut changes, mut orders) = (Vec::new(), Vec::new());
    // Every event in order, a ticket's with the ticket it frees and the order it counts for.
    let mut events = Vec::new();
    let mut outcomes = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let expired = record
            .order
            .apply(OrderCommand::Expire, now)
            .map_err(|e| StoreError::refused("Order", e))?;
        events.push((None, expired.event));
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
            events.push((Some((*ticket.as_uuid(), i)), t.event));
            changes.push((current.version(), t.next));
        }
        let mut next = record.clone();
        next.order = expired.next;
        orders.push(Cas::new(record.version(), next));
        let mut part = ExpirySweep::default();
        part.expired = vec![(record.order.id(), record.user, record.coupons.clone())];
        outcomes.push((record.order.id(), part));
    }
    let written = write_unchanged(conn, &changes).await?;
    let mut kept = Vec::with_capacity(events.len());
    for (freed, event) in events {
        match freed {
            None => kept.push(event),
            Some((ticket, i)) if written.contains(&ticket) => {
                if let Some((_, part)) = outcomes.get_mut(i) {
                    part.tickets_released = part.tickets_released.saturating_add(1);
                }
                kept.push(event);
            }
            Some(_) => {} // taken over since the read
        }
    }
    cas_orders(conn, &orders).await?;
    Postgres::append_outbox(conn, &kept, now).await?;
    Ok(outcomes)
}

impl Sweep for Postgres {
    async fn expire_due(
        pool: &PgPool,
        now: Timestamp,
        batch: u32,
    ) -> Result<ExpirySweep, StoreError> {
        sweep_pages(pool, now, batch).await
    }

    /// Locked, and only if no other transaction holds it (`SKIP LOCKED`).
    async fn claim_due(
        conn: &mut PgConnection,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let claimed = sqlx::query(
            "SELECT record FROM orders
             WHERE id = $1 AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $2
             FOR UPDATE SKIP LOCKED",
        )
        .bind(id.as_uuid())
        .bind(nanos(now)?)
        .fetch_optional(conn)
        .await
        .db(PG)?;
        claimed.as_ref().map(order_in).transpose()
    }
}
