//! The steps after the hold — extend, paid, refund, cancel — one transaction each.
//!
//! Each step locks its order (and payment) row first, checking the caller's version, then
//! the order's tickets in id order, then its stock holds and counts: the same order every
//! writer uses, so concurrent steps wait for each other instead of deadlocking.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{StockId, TicketId};
use booking_core::machine::{DomainEvent, StockCommand, Ticket, TicketCommand};
use booking_core::ports::store::{
    Cas, ItemRef, MarkPaid, OrderRecord, PaymentRecord, SettleRefund, StoreError,
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::codec::append_outbox;
use super::holds::{extend_stock_hold, record_retaken_sale, settle_stock_hold};
use super::inventory::{
    apply_stock, held_by, lock_tickets, reclaim_lapsed, ticket_step, write_tickets,
};
use super::records::{cas_order, cas_payment, lock_order, lock_payment};

/// The tickets among `items`.
fn tickets_of<'a>(items: impl IntoIterator<Item = &'a ItemRef>) -> Vec<Uuid> {
    items
        .into_iter()
        .filter_map(|item| match item {
            ItemRef::Ticket { ticket } => Some(*ticket.as_uuid()),
            ItemRef::Stock { .. } => None,
        })
        .collect()
}

/// A locked ticket, or `NotFound`.
fn locked(tickets: &HashMap<TicketId, Ticket>, id: TicketId) -> Result<Ticket, StoreError> {
    tickets
        .get(&id)
        .copied()
        .ok_or_else(|| StoreError::not_found("ticket", id))
}

/// `ItemsLost` naming the lost items, if any.
fn all_there(tickets: Vec<TicketId>, stock: Vec<StockId>) -> Result<(), StoreError> {
    if tickets.is_empty() && stock.is_empty() {
        Ok(())
    } else {
        Err(StoreError::ItemsLost { tickets, stock })
    }
}

/// Writes the end of a payment step: the tickets, the order and payment (CAS), the events.
async fn finish(
    conn: &mut PgConnection,
    tickets: &[(u64, Ticket)],
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    write_tickets(conn, tickets).await?;
    cas_order(conn, order).await?;
    cas_payment(conn, payment).await?;
    append_outbox(conn, events, now).await
}

/// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing the
/// events; returns the tickets and stock units put back on sale. Items another order took
/// after the hold lapsed are left alone.
pub(crate) async fn free_items(
    conn: &mut PgConnection,
    record: &OrderRecord,
    expire: bool,
    now: Timestamp,
    events: &mut Vec<DomainEvent>,
) -> Result<(u32, u32), StoreError> {
    let tickets = lock_tickets(conn, &tickets_of(record.lines.iter().map(|l| &l.item))).await?;
    let (mut released, mut units) = (0_u32, 0_u32);
    let mut changes = Vec::new();
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => {
                let current = locked(&tickets, ticket)?;
                let Some((_, expires_at)) = held_by(&current, record.hold) else {
                    continue; // taken over by another order after the hold lapsed
                };
                let command = if expire && expires_at <= now {
                    TicketCommand::Expire
                } else {
                    TicketCommand::Release { hold: record.hold }
                };
                let t = ticket_step(&current, command, now)?;
                events.push(t.event);
                changes.push((current.version(), t.next));
                released = released.saturating_add(1);
            }
            ItemRef::Stock { stock, .. } => {
                let status = if expire { "expired" } else { "released" };
                let Some(quantity) = settle_stock_hold(conn, record.hold, stock, status).await?
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

/// `extend_hold` inside the caller's transaction.
pub(crate) async fn extend_hold(
    conn: &mut PgConnection,
    change: &Cas<OrderRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = lock_order(conn, change).await?;
    let expires_at = change.next.order.expires_at();
    let mut events = events.to_vec();
    let tickets = lock_tickets(conn, &tickets_of(record.lines.iter().map(|l| &l.item))).await?;
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
    all_there(lost_tickets, lost_stock)?;
    write_tickets(conn, &changes).await?;
    cas_order(conn, change).await?;
    append_outbox(conn, &events, now).await
}

/// `mark_paid` inside the caller's transaction.
pub(crate) async fn mark_paid(
    conn: &mut PgConnection,
    paid: &MarkPaid,
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = lock_order(conn, &paid.order).await?;
    lock_payment(conn, &paid.payment).await?;
    let order = record.order.id();
    let mut events = paid.events.clone();
    let tickets = lock_tickets(conn, &tickets_of(record.lines.iter().map(|l| &l.item))).await?;
    let (mut lost_tickets, mut lost_stock, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => {
                let current = locked(&tickets, ticket)?;
                // Held by this order (even past its deadline) sells; free again (released, or
                // held by a lapsed hold) is taken back first; anything else is lost.
                let sold = current
                    .apply(TicketCommand::Sell { order }, now)
                    .or_else(|_| {
                        let hold = TicketCommand::Hold {
                            order,
                            hold: record.hold,
                            expires_at: now,
                        };
                        let held = current.apply(hold, now)?;
                        events.push(held.event);
                        held.next.apply(TicketCommand::Sell { order }, now)
                    });
                match sold {
                    Ok(t) => {
                        events.push(t.event);
                        changes.push((current.version(), t.next));
                    }
                    Err(_) => lost_tickets.push(ticket),
                }
            }
            ItemRef::Stock { stock, quantity } => {
                let sell = StockCommand::Sell { order, quantity };
                if settle_stock_hold(conn, record.hold, stock, "sold")
                    .await?
                    .is_none()
                {
                    // Reclaimed after it lapsed: take the units again if they are there.
                    events.extend(reclaim_lapsed(conn, stock, now).await?);
                    let retake = StockCommand::Hold {
                        order,
                        hold: record.hold,
                        quantity,
                    };
                    match apply_stock(conn, stock, retake, now).await {
                        Ok(event) => events.push(event),
                        Err(StoreError::InsufficientStock { .. } | StoreError::Refused { .. }) => {
                            lost_stock.push(stock);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    record_retaken_sale(conn, record.hold, stock, quantity, now).await?;
                }
                events.push(apply_stock(conn, stock, sell, now).await?);
            }
        }
    }
    all_there(lost_tickets, lost_stock)?;
    finish(conn, &changes, &paid.order, &paid.payment, &events, now).await
}

/// `settle_refund` inside the caller's transaction.
pub(crate) async fn settle_refund(
    conn: &mut PgConnection,
    refund: &SettleRefund,
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = lock_order(conn, &refund.order).await?;
    lock_payment(conn, &refund.payment).await?;
    let order = record.order.id();
    let mut events = refund.events.clone();
    let mut tickets = lock_tickets(conn, &tickets_of(&refund.restock)).await?;
    let mut versions: HashMap<TicketId, u64> = HashMap::new();
    for item in &refund.restock {
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
    finish(conn, &changes, &refund.order, &refund.payment, &events, now).await
}

/// `cancel_unpaid` inside the caller's transaction.
pub(crate) async fn cancel_unpaid(
    conn: &mut PgConnection,
    change: &Cas<OrderRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = lock_order(conn, change).await?;
    let mut events = events.to_vec();
    free_items(conn, &record, false, now, &mut events).await?;
    cas_order(conn, change).await?;
    append_outbox(conn, &events, now).await
}
