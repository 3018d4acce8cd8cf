//! The item steps after the hold — extend, sell, restock, free — on MySQL.
//!
//! `crate::store::writes` locks the order row (checking the caller's version) and the payment
//! first; each step here then locks the order's tickets in id order, then its stocks in id
//! order: the order every step and the sweep use, so concurrent steps wait for each other
//! instead of deadlocking. The machines then run on the locked rows, and everything is
//! written back before the order and payment compare-and-set and the outbox.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{OrderId, StockId, TicketId};
use booking_core::machine::{DomainEvent, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::none_lost;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{MySql, MySqlConnection};

use super::stocks::{
    LockedStock, extend_hold_record, lock_stocks, locked_stock, put_hold_record, save_stocks,
    settle_hold_record,
};
use super::tickets::{lock_tickets, locked, step, write_tickets};
use crate::store::database::ItemSteps;
use crate::store::rules::{giving_back, sell_or_retake, ticket_ids};

/// Everything a step locked beside the order: its tickets and stocks.
struct Items {
    tickets: HashMap<TicketId, Ticket>,
    stocks: HashMap<StockId, LockedStock>,
    /// The version each changed ticket was read at.
    read_at: HashMap<TicketId, u64>,
}

impl Items {
    /// Locks the tickets, then the stocks (in id order), of `items`.
    async fn lock<'a>(
        conn: &mut MySqlConnection,
        items: impl Iterator<Item = &'a ItemRef> + Clone,
    ) -> Result<Self, StoreError> {
        let tickets = lock_tickets(conn, &ticket_ids(items.clone())).await?;
        let mut stock_ids: Vec<StockId> = items
            .filter_map(|item| match item {
                ItemRef::Stock { stock, .. } => Some(*stock),
                ItemRef::Ticket { .. } => None,
            })
            .collect();
        stock_ids.sort_unstable();
        stock_ids.dedup();
        let stocks = lock_stocks(conn, &stock_ids).await?;
        Ok(Items {
            tickets,
            stocks,
            read_at: HashMap::new(),
        })
    }

    /// Records `next` as the new state of a locked ticket.
    fn change(&mut self, next: Ticket) {
        if let Some(was) = self.tickets.insert(next.id(), next) {
            self.read_at.entry(next.id()).or_insert(was.version());
        }
    }

    /// Writes back every ticket and stock changed.
    async fn save(&self, conn: &mut MySqlConnection) -> Result<(), StoreError> {
        let changed: Vec<(u64, Ticket)> = self
            .read_at
            .iter()
            .filter_map(|(id, was)| self.tickets.get(id).map(|t| (*was, *t)))
            .collect();
        write_tickets(conn, &changed).await?;
        save_stocks(conn, &self.stocks).await
    }
}

impl ItemSteps for MySql {
    /// Releases (or, with `expire`, expires) every item `record`'s hold still holds, pushing the
    /// events; returns the tickets and stock units put back on sale. Items another order took
    /// after the hold lapsed are left alone.
    async fn free_items(
        conn: &mut MySqlConnection,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(u32, u32), StoreError> {
        let mut items = Items::lock(conn, record.lines.iter().map(|l| &l.item)).await?;
        let hold = record.hold;
        let (mut tickets, mut units) = (0_u32, 0_u32);
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&items.tickets, ticket)?;
                    let Some(command) = giving_back(&current, hold, expire, now) else {
                        continue;
                    };
                    let t = step(&current, command, now)?;
                    events.push(t.event);
                    items.change(t.next);
                    tickets = tickets.saturating_add(1);
                }
                ItemRef::Stock { stock, .. } => {
                    let status = if expire { "expired" } else { "released" };
                    let Some(quantity) = settle_hold_record(conn, (hold, stock), status).await?
                    else {
                        continue; // reclaimed by a later order, or already settled
                    };
                    let command = if expire {
                        StockCommand::Expire { hold, quantity }
                    } else {
                        StockCommand::Release { hold, quantity }
                    };
                    events.push(locked_stock(&mut items.stocks, stock)?.apply(command, now)?);
                    units = units.saturating_add(quantity);
                }
            }
        }
        items.save(conn).await?;
        Ok((tickets, units))
    }

    /// Moves every item of `record`'s hold to `expires_at`; `ItemsLost` naming every lapsed item.
    async fn extend_items(
        conn: &mut MySqlConnection,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let mut items = Items::lock(conn, record.lines.iter().map(|l| &l.item)).await?;
        let hold = record.hold;
        // Every lapsed item is collected, so the error names them all whatever the line order.
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let extend = TicketCommand::Extend { hold, expires_at };
                    match locked(&items.tickets, ticket)?.apply(extend, now) {
                        Ok(t) => {
                            events.push(t.event);
                            items.change(t.next);
                        }
                        Err(_) => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, .. } => {
                    if !extend_hold_record(conn, (hold, stock), expires_at, now).await? {
                        lost_stock.push(stock);
                    }
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        items.save(conn).await
    }

    /// Sells every item of `record` to its order; `ItemsLost` naming every item lost.
    async fn sell_items(
        conn: &mut MySqlConnection,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let mut items = Items::lock(conn, record.lines.iter().map(|l| &l.item)).await?;
        let (order, hold) = (record.order.id(), record.hold);
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = locked(&items.tickets, ticket)?;
                    match sell_or_retake(&current, order, hold, now) {
                        Some((sold, sold_events)) => {
                            events.extend(sold_events);
                            items.change(sold);
                        }
                        None => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, quantity } => {
                    let locked = locked_stock(&mut items.stocks, stock)?;
                    if settle_hold_record(conn, (hold, stock), "sold")
                        .await?
                        .is_none()
                    {
                        // Reclaimed after it lapsed: take the units again if they are there.
                        events.extend(locked.reclaim_lapsed(conn, now).await?);
                        let retake = StockCommand::Hold {
                            order,
                            hold,
                            quantity,
                        };
                        match locked.apply(retake, now) {
                            Ok(event) => events.push(event),
                            Err(_) => {
                                lost_stock.push(stock);
                                continue;
                            }
                        }
                        put_hold_record(conn, (hold, stock), quantity, now, "sold").await?;
                    }
                    events.push(locked.apply(StockCommand::Sell { order, quantity }, now)?);
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        items.save(conn).await
    }

    /// Refunds `restock`, sold to `order`, and puts it back on sale.
    async fn restock_items(
        conn: &mut MySqlConnection,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        let mut items = Items::lock(conn, restock.iter()).await?;
        for item in restock {
            match *item {
                ItemRef::Ticket { ticket } => {
                    let refunded = step(
                        &locked(&items.tickets, ticket)?,
                        TicketCommand::Refund { order },
                        now,
                    )?;
                    let relisted = step(&refunded.next, TicketCommand::Relist, now)?;
                    events.extend([refunded.event, relisted.event]);
                    items.change(relisted.next);
                }
                ItemRef::Stock { stock, quantity } => {
                    let command = StockCommand::Refund { order, quantity };
                    events.push(locked_stock(&mut items.stocks, stock)?.apply(command, now)?);
                }
            }
        }
        items.save(conn).await
    }
}
