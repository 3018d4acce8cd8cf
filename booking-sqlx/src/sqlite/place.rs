//! `place_order` on SQLite: hold every item of an order and insert it, in one write
//! transaction.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, TicketId};
use booking_core::machine::{OrderStateKind, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SQ;
use super::records::insert_order;
use super::stocks::{HoldRecord, apply_stock, find_stock, put_stock_hold, reclaim_lapsed, status};
use super::tickets::{find_ticket, save_ticket};
use crate::codec::nanos;
use crate::error::Db;
use crate::store::database::{Outbox, Placing};
use crate::store::gate::Seen;
use crate::store::rules::{listed_event, placed_events};

/// What the order's lines name, as read at the start of the hold: each ticket, and the event
/// of each listed ticket and stock. Unknown items are absent.
#[derive(Debug, Default)]
struct Items {
    tickets: HashMap<TicketId, Ticket>,
    ticket_events: HashMap<Uuid, EventId>,
    stock_events: HashMap<Uuid, EventId>,
}

impl Items {
    /// Reads every item `record` names.
    async fn read(conn: &mut SqliteConnection, record: &OrderRecord) -> Result<Self, StoreError> {
        let mut items = Items::default();
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    if let Some((found, event)) = find_ticket(conn, ticket).await? {
                        items.tickets.insert(ticket, found);
                        items.ticket_events.insert(*ticket.as_uuid(), event);
                    }
                }
                ItemRef::Stock { stock, .. } => {
                    if let Some((_, event)) = find_stock(conn, stock).await? {
                        items.stock_events.insert(*stock.as_uuid(), event);
                    }
                }
            }
        }
        Ok(items)
    }
}

impl Placing for Sqlite {
    /// One primary-key read per ticket and per id: in process, each costs microseconds.
    async fn seen(
        pool: &SqlitePool,
        tickets: Vec<TicketId>,
        orders: Vec<OrderId>,
    ) -> Result<Seen, StoreError> {
        let mut conn = pool.acquire().await.db(SQ)?;
        let mut seen = Seen::default();
        for id in tickets {
            if let Some((ticket, event)) = find_ticket(&mut conn, id).await? {
                seen.tickets.insert(id, (event, ticket));
            }
        }
        for id in orders {
            let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM orders WHERE id = ?")
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .db(SQ)?;
            if found.is_some() {
                seen.stored.insert(id);
            }
        }
        Ok(seen)
    }

    /// The write lock keeps every row read here as read until the commit; on error the caller
    /// rolls back, so nothing is held.
    async fn place_order(
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
        check_lines(record, |item| {
            listed_event(item, &items.ticket_events, &items.stock_events)
        })?;

        let expires_at = record.order.expires_at();
        let take = TicketCommand::Hold {
            order: id,
            hold: record.hold,
            expires_at,
        };
        let (mut held, mut stock_events, mut refused) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let Some(current) = items.tickets.get(&ticket) else {
                        continue; // check_lines found every ticket
                    };
                    // A ticket is free if available or held by a lapsed hold: the machine says.
                    if let Ok(t) = current.apply(take, now) {
                        save_ticket(conn, current.version(), &t.next).await?;
                        held.insert(ticket, t.event);
                    }
                }
                ItemRef::Stock { stock, quantity } => {
                    let mut events = reclaim_lapsed(conn, stock, now).await?;
                    let hold = StockCommand::Hold {
                        order: id,
                        hold: record.hold,
                        quantity,
                    };
                    match apply_stock(conn, stock, hold, now).await {
                        Ok(event) => events.push(event),
                        // A refusal is reported in line order below; a failure at once.
                        Err(
                            e @ (StoreError::InsufficientStock { .. } | StoreError::Refused { .. }),
                        ) => {
                            refused.insert(stock, e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    stock_events.insert(stock, events);
                    let held = HoldRecord {
                        quantity,
                        expires_ns: nanos(expires_at)?,
                        status: status::ACTIVE.to_owned(),
                    };
                    put_stock_hold(conn, record.hold, stock, &held).await?;
                }
            }
        }
        let events = placed_events(record, held, stock_events, refused)?;
        Self::append_outbox(conn, &events, now).await
    }
}
