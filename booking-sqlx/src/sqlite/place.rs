//! `place_order`: hold every item of an order and insert it, in one write transaction.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, StockId, TicketId};
use booking_core::machine::{OrderStateKind, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::SqliteConnection;

use super::inventory::{
    HoldRecord, apply_stock, find_stock, find_ticket, put_stock_hold, reclaim_lapsed, save_ticket,
    status,
};
use super::records::insert_order;
use super::rows::append_outbox;
use crate::codec::nanos;

/// What the order's lines name, as read at the start of the hold: each ticket with its
/// event, each stock's event. Unknown items are absent.
#[derive(Debug, Default)]
struct Items {
    tickets: HashMap<TicketId, (Ticket, EventId)>,
    stocks: HashMap<StockId, EventId>,
}

impl Items {
    /// Reads every item `record` names.
    async fn read(conn: &mut SqliteConnection, record: &OrderRecord) -> Result<Self, StoreError> {
        let mut items = Items::default();
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    if let Some(found) = find_ticket(conn, ticket).await? {
                        items.tickets.insert(ticket, found);
                    }
                }
                ItemRef::Stock { stock, .. } => {
                    if let Some((_, event)) = find_stock(conn, stock).await? {
                        items.stocks.insert(stock, event);
                    }
                }
            }
        }
        Ok(items)
    }

    /// The event `item` is listed under, or `NotFound`.
    fn event_of(&self, item: &ItemRef) -> Result<EventId, StoreError> {
        match *item {
            ItemRef::Ticket { ticket } => self
                .tickets
                .get(&ticket)
                .map(|(_, event)| *event)
                .ok_or_else(|| StoreError::not_found("ticket", ticket)),
            ItemRef::Stock { stock, .. } => self
                .stocks
                .get(&stock)
                .copied()
                .ok_or_else(|| StoreError::not_found("stock", stock)),
        }
    }
}

/// Holds every item of `record` and inserts it, inside the caller's write transaction. On
/// error the caller rolls back, so nothing is held.
///
/// Errors as the reference store reports them: a taken order id, a non-pending order, an
/// invalid line (unknown item, another event's, repeated, zero quantity), then in line order
/// the first stock line that cannot be held, else every ticket that is not free.
pub(super) async fn place_order(
    conn: &mut SqliteConnection,
    record: &OrderRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = record.order.id();
    // Inserting the order first claims its id; the row goes again if anything below fails.
    insert_order(conn, record).await?;
    if record.order.state().kind() != OrderStateKind::Pending {
        return Err(StoreError::Invalid(
            "a new order must be pending".to_owned(),
        ));
    }
    let items = Items::read(conn, record).await?;
    check_lines(record, |item| items.event_of(item))?;

    let expires_at = record.order.expires_at();
    let take = TicketCommand::Hold {
        order: id,
        hold: record.hold,
        expires_at,
    };
    let (mut events, mut unavailable) = (Vec::new(), Vec::new());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => {
                let Some((current, _)) = items.tickets.get(&ticket) else {
                    continue; // check_lines found every ticket
                };
                // A ticket is free if available or held by a lapsed hold: the machine says.
                match current.apply(take, now) {
                    Ok(t) => {
                        save_ticket(conn, current.version(), &t.next).await?;
                        events.push(t.event);
                    }
                    Err(_) => unavailable.push(ticket),
                }
            }
            ItemRef::Stock { stock, quantity } => {
                events.extend(reclaim_lapsed(conn, stock, now).await?);
                let hold = StockCommand::Hold {
                    order: id,
                    hold: record.hold,
                    quantity,
                };
                events.push(apply_stock(conn, stock, hold, now).await?);
                let held = HoldRecord {
                    quantity,
                    expires_ns: nanos(expires_at)?,
                    status: status::ACTIVE.to_owned(),
                };
                put_stock_hold(conn, record.hold, stock, &held).await?;
            }
        }
    }
    if !unavailable.is_empty() {
        return Err(StoreError::Unavailable {
            tickets: unavailable,
        });
    }
    append_outbox(conn, &events, now).await
}
