//! The steps after the hold — extend, paid, refund, cancel — one write transaction each.
//!
//! Each step checks its order (and payment) at the caller's version first, then reads each
//! item, runs its machine and writes it back. The write lock keeps every row as read until
//! the commit; an error drops the transaction, which undoes the rows already written.

use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, OrderId};
use booking_core::machine::{DomainEvent, StockCommand, Ticket, TicketCommand, TicketState};
use booking_core::ports::store::{
    Cas, ItemRef, MarkPaid, OrderRecord, PaymentRecord, SettleRefund, StoreError,
};
use sqlx::SqliteConnection;

use super::inventory::{
    HoldRecord, apply_stock, put_stock_hold, reclaim_lapsed, save_ticket, status, stock_hold,
    ticket,
};
use super::records::{cas_order, cas_payment, order_at, payment_at};
use super::rows::append_outbox;
use crate::codec::nanos;

/// The deadline of `ticket`'s hold, if `hold` holds it.
fn held_until(ticket: &Ticket, hold: HoldId) -> Option<Timestamp> {
    match ticket.state() {
        TicketState::Held {
            hold: h,
            expires_at,
            ..
        } if h == hold => Some(expires_at),
        _ => None,
    }
}

/// Sells `current` to `order`: held by it (even past the deadline) it sells at once; free
/// again it is taken back under `hold` first (that event pushed to `events`). `None`: lost
/// to another order.
fn sell_ticket(
    current: &Ticket,
    order: OrderId,
    hold: HoldId,
    now: Timestamp,
    events: &mut Vec<DomainEvent>,
) -> Option<booking_core::machine::Transition<Ticket>> {
    let sell = TicketCommand::Sell { order };
    if let Ok(sold) = current.apply(sell, now) {
        return Some(sold);
    }
    let retaken = current
        .apply(
            TicketCommand::Hold {
                order,
                hold,
                expires_at: now,
            },
            now,
        )
        .ok()?;
    let sold = retaken.next.apply(sell, now).ok()?;
    events.push(retaken.event);
    Some(sold)
}

/// The order `order` is based on, after checking it and `payment` at their expected
/// versions: the start of a payment step.
async fn order_and_payment_at(
    conn: &mut SqliteConnection,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
) -> Result<OrderRecord, StoreError> {
    let record = order_at(conn, order).await?;
    payment_at(conn, payment).await?;
    Ok(record)
}

/// Writes the end of a payment step: the order and payment (CAS) and the events.
async fn finish_payment_step(
    conn: &mut SqliteConnection,
    order: &Cas<OrderRecord>,
    payment: &Cas<PaymentRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    cas_order(conn, order).await?;
    cas_payment(conn, payment).await?;
    append_outbox(conn, events, now).await
}

/// `ItemsLost` naming the lost items, if any.
fn nothing_lost(
    tickets: Vec<booking_core::ids::TicketId>,
    stock: Vec<booking_core::ids::StockId>,
) -> Result<(), StoreError> {
    if tickets.is_empty() && stock.is_empty() {
        Ok(())
    } else {
        Err(StoreError::ItemsLost { tickets, stock })
    }
}

/// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing the
/// events; returns the tickets and stock units put back on sale. Items another order took
/// after the hold lapsed are left alone.
pub(super) async fn free_items(
    conn: &mut SqliteConnection,
    record: &OrderRecord,
    expire: bool,
    now: Timestamp,
    events: &mut Vec<DomainEvent>,
) -> Result<(u32, u32), StoreError> {
    let hold = record.hold;
    let (mut tickets, mut units) = (0_u32, 0_u32);
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket: id } => {
                let current = ticket(conn, id).await?;
                let Some(deadline) = held_until(&current, hold) else {
                    continue; // taken over by another order after the hold lapsed
                };
                let command = if expire && deadline <= now {
                    TicketCommand::Expire
                } else {
                    TicketCommand::Release { hold }
                };
                let t = current
                    .apply(command, now)
                    .map_err(|e| StoreError::refused("Ticket", e))?;
                save_ticket(conn, current.version(), &t.next).await?;
                events.push(t.event);
                tickets = tickets.saturating_add(1);
            }
            ItemRef::Stock { stock, .. } => {
                let Some(held) = stock_hold(conn, hold, stock)
                    .await?
                    .filter(HoldRecord::is_active)
                else {
                    continue; // reclaimed by a later order, or already settled
                };
                let quantity = held.quantity;
                let (command, ended) = if expire {
                    (StockCommand::Expire { hold, quantity }, status::EXPIRED)
                } else {
                    (StockCommand::Release { hold, quantity }, status::RELEASED)
                };
                events.push(apply_stock(conn, stock, command, now).await?);
                let ended = HoldRecord {
                    status: ended.to_owned(),
                    ..held
                };
                put_stock_hold(conn, hold, stock, &ended).await?;
                units = units.saturating_add(quantity);
            }
        }
    }
    Ok((tickets, units))
}

/// `extend_hold` inside the caller's write transaction.
pub(super) async fn extend_hold(
    conn: &mut SqliteConnection,
    change: &Cas<OrderRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = order_at(conn, change).await?;
    let hold = record.hold;
    let expires_at = change.next.order.expires_at();
    let now_ns = nanos(now)?;
    let mut events = events.to_vec();
    // Every lapsed item is collected, so the error names them all whatever the line order.
    let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket: id } => {
                let current = ticket(conn, id).await?;
                match current.apply(TicketCommand::Extend { hold, expires_at }, now) {
                    Ok(t) => {
                        save_ticket(conn, current.version(), &t.next).await?;
                        events.push(t.event);
                    }
                    Err(_) => lost_tickets.push(id),
                }
            }
            ItemRef::Stock { stock, .. } => {
                let live = stock_hold(conn, hold, stock)
                    .await?
                    .filter(|h| h.is_active() && h.expires_ns > now_ns);
                match live {
                    Some(held) => {
                        let moved = HoldRecord {
                            expires_ns: nanos(expires_at)?,
                            ..held
                        };
                        put_stock_hold(conn, hold, stock, &moved).await?;
                    }
                    None => lost_stock.push(stock),
                }
            }
        }
    }
    nothing_lost(lost_tickets, lost_stock)?;
    cas_order(conn, change).await?;
    append_outbox(conn, &events, now).await
}

/// `mark_paid` inside the caller's write transaction.
pub(super) async fn mark_paid(
    conn: &mut SqliteConnection,
    paid: &MarkPaid,
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = order_and_payment_at(conn, &paid.order, &paid.payment).await?;
    let (order, hold) = (record.order.id(), record.hold);
    let mut events = paid.events.clone();
    let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket: id } => {
                let current = ticket(conn, id).await?;
                match sell_ticket(&current, order, hold, now, &mut events) {
                    Some(t) => {
                        save_ticket(conn, current.version(), &t.next).await?;
                        events.push(t.event);
                    }
                    None => lost_tickets.push(id),
                }
            }
            ItemRef::Stock { stock, quantity } => {
                let held = stock_hold(conn, hold, stock).await?;
                if !held.as_ref().is_some_and(HoldRecord::is_active) {
                    // Reclaimed after it lapsed: take the units again if they are there.
                    events.extend(reclaim_lapsed(conn, stock, now).await?);
                    let retake = StockCommand::Hold {
                        order,
                        hold,
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
                }
                let sell = StockCommand::Sell { order, quantity };
                events.push(apply_stock(conn, stock, sell, now).await?);
                let sold = HoldRecord {
                    quantity,
                    expires_ns: match held {
                        Some(h) => h.expires_ns,
                        None => nanos(now)?,
                    },
                    status: status::SOLD.to_owned(),
                };
                put_stock_hold(conn, hold, stock, &sold).await?;
            }
        }
    }
    nothing_lost(lost_tickets, lost_stock)?;
    finish_payment_step(conn, &paid.order, &paid.payment, &events, now).await
}

/// `settle_refund` inside the caller's write transaction.
pub(super) async fn settle_refund(
    conn: &mut SqliteConnection,
    refund: &SettleRefund,
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = order_and_payment_at(conn, &refund.order, &refund.payment).await?;
    let order = record.order.id();
    let mut events = refund.events.clone();
    for item in &refund.restock {
        match *item {
            ItemRef::Ticket { ticket: id } => {
                let current = ticket(conn, id).await?;
                let refused = |e| StoreError::refused("Ticket", e);
                let refunded = current
                    .apply(TicketCommand::Refund { order }, now)
                    .map_err(refused)?;
                let relisted = refunded
                    .next
                    .apply(TicketCommand::Relist, now)
                    .map_err(refused)?;
                save_ticket(conn, current.version(), &relisted.next).await?;
                events.extend([refunded.event, relisted.event]);
            }
            ItemRef::Stock { stock, quantity } => {
                let command = StockCommand::Refund { order, quantity };
                events.push(apply_stock(conn, stock, command, now).await?);
            }
        }
    }
    finish_payment_step(conn, &refund.order, &refund.payment, &events, now).await
}

/// `cancel_unpaid` inside the caller's write transaction.
pub(super) async fn cancel_unpaid(
    conn: &mut SqliteConnection,
    change: &Cas<OrderRecord>,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = order_at(conn, change).await?;
    let mut events = events.to_vec();
    free_items(conn, &record, false, now, &mut events).await?;
    cas_order(conn, change).await?;
    append_outbox(conn, &events, now).await
}
