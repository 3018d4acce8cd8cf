//! The item steps after the hold — extend, sell, restock, free — on SQLite.
//!
//! `crate::store::writes` checks the order (and payment) at the caller's version first; each
//! step here then reads each item, runs its machine and writes it back. The write lock keeps
//! every row as read until the commit; an error drops the transaction, which undoes the rows
//! already written.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::machine::{DomainEvent, StockCommand, TicketCommand};
use booking_core::ports::backend::store::none_lost;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{Sqlite, SqliteConnection};

use super::stocks::{HoldRecord, apply_stock, put_stock_hold, reclaim_lapsed, status, stock_hold};
use super::tickets::{save_ticket, ticket};
use crate::codec::nanos;
use crate::store::database::ItemSteps;
use crate::store::rules::{giving_back, sell_or_retake};

impl ItemSteps for Sqlite {
    /// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing the
    /// events; returns the tickets and stock units put back on sale. Items another order took
    /// after the hold lapsed are left alone.
    async fn free_items(
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
                    let Some(command) = giving_back(&current, hold, expire, now) else {
                        continue; // taken over by another order after the hold lapsed
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

    /// Moves every item of `record`'s hold to `expires_at`; `ItemsLost` naming every lapsed item.
    async fn extend_items(
        conn: &mut SqliteConnection,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let hold = record.hold;
        let now_ns = nanos(now)?;
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
        none_lost(lost_tickets, lost_stock)
    }

    /// Sells every item of `record` to its order; `ItemsLost` naming every item lost.
    async fn sell_items(
        conn: &mut SqliteConnection,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let (order, hold) = (record.order.id(), record.hold);
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket: id } => {
                    let current = ticket(conn, id).await?;
                    match sell_or_retake(&current, order, hold, now) {
                        Some((sold, sale)) => {
                            save_ticket(conn, current.version(), &sold).await?;
                            events.extend(sale);
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
                            Err(
                                StoreError::InsufficientStock { .. } | StoreError::Refused { .. },
                            ) => {
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
        none_lost(lost_tickets, lost_stock)
    }

    /// Refunds `restock`, sold to `order`, and puts it back on sale.
    async fn restock_items(
        conn: &mut SqliteConnection,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        for item in restock {
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
        Ok(())
    }
}
