//! The item steps after the hold — extend, sell, restock, free — on PostgreSQL.
//!
//! `crate::store::writes` locks the order (and payment) row first; each step here then locks
//! the order's tickets in id order, then its stock holds and counts: the same order every
//! writer uses, so concurrent steps wait for each other instead of deadlocking.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{OrderId, TicketId};
use booking_core::machine::{DomainEvent, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::none_lost;
use booking_core::ports::store::{ItemRef, MarkPaid, OrderRecord, StoreError};
use sqlx::{PgConnection, PgPool, Postgres};

use super::paid;
use super::stocks::{
    apply_stock, extend_stock_hold, reclaim_lapsed, record_retaken_sale, settle_stock_hold,
};
use super::tickets::{free_step, lock_tickets, ticket_step, write_tickets};
use crate::store::database::ItemSteps;
use crate::store::rules::{sell_or_retake, ticket_ids};

/// A locked ticket, or `NotFound`.
fn locked(tickets: &HashMap<TicketId, Ticket>, id: TicketId) -> Result<Ticket, StoreError> {
    tickets
        .get(&id)
        .copied()
        .ok_or_else(|| StoreError::not_found("ticket", id))
}

impl ItemSteps for Postgres {
    /// The common paid order in one statement (`paid.rs`); `None` for every other case, which
    /// the write transaction handles (and reports).
    async fn mark_paid_at_once(
        pool: &PgPool,
        paid: &MarkPaid,
        now: Timestamp,
    ) -> Option<Result<(), StoreError>> {
        match paid::mark_paid(pool, paid, now).await {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing the
    /// events; returns the tickets and stock units put back on sale. Items another order took
    /// after the hold lapsed are left alone.
    async fn free_items(
        conn: &mut PgConnection,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(u32, u32), StoreError> {
        let tickets = lock_tickets(conn, &ticket_ids(record.lines.iter().map(|l| &l.item))).await?;
        let (mut released, mut units) = (0_u32, 0_u32);
        let mut changes = Vec::new();
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&tickets, ticket)?;
                    let Some(t) = free_step(&current, record.hold, expire, now)? else {
                        continue; // taken over by another order after the hold lapsed
                    };
                    events.push(t.event);
                    changes.push((current.version(), t.next));
                    released = released.saturating_add(1);
                }
                ItemRef::Stock { stock, .. } => {
                    let status = if expire { "expired" } else { "released" };
                    let Some(quantity) =
                        settle_stock_hold(conn, record.hold, stock, status).await?
                    else {
                        continue; // reclaimed by a later order, or already settled
                    };
                    let hold = record.hold;
                    let command = if expire {
                        StockCommand::Expire { hold, quantity }
                    } else {
                        StockCommand::Release { hold, quantity }
                    };
                    events.push(apply_stock(conn, stock, command, now).await?);
                    units = units.saturating_add(quantity);
                }
            }
        }
        write_tickets(conn, &changes).await?;
        Ok((released, units))
    }

    /// Moves every item of `record`'s hold to `expires_at`; `ItemsLost` naming every lapsed item.
    async fn extend_items(
        conn: &mut PgConnection,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let tickets = lock_tickets(conn, &ticket_ids(record.lines.iter().map(|l| &l.item))).await?;
        // Every lapsed item is collected, so the error names them all whatever the line order.
        let (mut lost_tickets, mut lost_stock, mut changes) = (Vec::new(), Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&tickets, ticket)?;
                    let extend = TicketCommand::Extend {
                        hold: record.hold,
                        expires_at,
                    };
                    match current.apply(extend, now) {
                        Ok(t) => {
                            events.push(t.event);
                            changes.push((current.version(), t.next));
                        }
                        Err(_) => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, .. } => {
                    if !extend_stock_hold(conn, record.hold, stock, expires_at, now).await? {
                        lost_stock.push(stock);
                    }
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        write_tickets(conn, &changes).await
    }

    /// Sells every item of `record` to its order; `ItemsLost` naming every item lost.
    async fn sell_items(
        conn: &mut PgConnection,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let (order, hold) = (record.order.id(), record.hold);
        let tickets = lock_tickets(conn, &ticket_ids(record.lines.iter().map(|l| &l.item))).await?;
        let (mut lost_tickets, mut lost_stock, mut changes) = (Vec::new(), Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&tickets, ticket)?;
                    match sell_or_retake(&current, order, hold, now) {
                        Some((sold, sale)) => {
                            events.extend(sale);
                            changes.push((current.version(), sold));
                        }
                        None => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, quantity } => {
                    let sell = StockCommand::Sell { order, quantity };
                    if settle_stock_hold(conn, hold, stock, "sold")
                        .await?
                        .is_none()
                    {
                        // Reclaimed after it lapsed: take the units again if they are there.
                        events.extend(reclaim_lapsed(conn, stock, now).await?);
                        let retake = StockCommand::Hold {
                            order,
                            hold,
                            quantity,
                        };
                        match apply_stock(conn, stock, retake, now).await {
                            Ok(event) => events.push(event),
                            Err(
                                StoreError::InsufficientStock { .. } | StoreError::Refused { .. },
                            ) => {
                                lost_stock.push(stock);
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                        record_retaken_sale(conn, hold, stock, quantity, now).await?;
                    }
                    events.push(apply_stock(conn, stock, sell, now).await?);
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        write_tickets(conn, &changes).await
    }

    /// Refunds `restock`, sold to `order`, and puts it back on sale.
    async fn restock_items(
        conn: &mut PgConnection,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let mut tickets = lock_tickets(conn, &ticket_ids(restock)).await?;
        let mut versions: HashMap<TicketId, u64> = HashMap::new();
        for item in restock {
            match *item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&tickets, ticket)?;
                    let refunded = ticket_step(&current, TicketCommand::Refund { order }, now)?;
                    events.push(refunded.event);
                    let relisted = ticket_step(&refunded.next, TicketCommand::Relist, now)?;
                    events.push(relisted.event);
                    versions.entry(ticket).or_insert(current.version());
                    tickets.insert(ticket, relisted.next);
                }
                ItemRef::Stock { stock, quantity } => {
                    let command = StockCommand::Refund { order, quantity };
                    events.push(apply_stock(conn, stock, command, now).await?);
                }
            }
        }
        let changes: Vec<(u64, Ticket)> = versions
            .into_iter()
            .filter_map(|(id, was)| tickets.get(&id).map(|t| (was, *t)))
            .collect();
        write_tickets(conn, &changes).await
    }
}
