//! `place_order`: hold every item of an order and insert it.
//!
//! The common order — pending, distinct tickets, no stock — is one autocommitted statement
//! (`hold.rs`). Other orders take the general path, in one transaction: validate, tickets,
//! stocks in id order, outbox.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, StockId, TicketId};
use booking_core::machine::{DomainEvent, OrderStateKind, StockCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use super::PG;
use super::hold::place;
use super::records::insert_order;
use super::rows::{TICKET, ticket_in};
use super::stocks::{apply_stock, insert_stock_hold, reclaim_lapsed};
use super::tickets::hold_tickets;
use crate::error::Db;
use crate::store::database::{Outbox, Placing};
use crate::store::gate::Seen;
use crate::store::rules::{distinct_tickets_only, listed_event, placed_events, ticket_ids};

/// The event of every listed item of `ids` in `table`, by id.
async fn events_of(
    conn: &mut PgConnection,
    table: Table,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, EventId>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = match table {
        Table::Tickets => "SELECT id, event_id FROM tickets WHERE id = ANY($1)",
        Table::Stocks => "SELECT id, event_id FROM stocks WHERE id = ANY($1)",
    };
    let rows = sqlx::query(sql).bind(ids).fetch_all(conn).await.db(PG)?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("id").db(PG)?;
            let event: Uuid = row.try_get("event_id").db(PG)?;
            Ok((id, EventId::from_uuid(event)))
        })
        .collect()
}

/// Which listing table [`events_of`] reads.
#[derive(Debug, Clone, Copy)]
enum Table {
    Tickets,
    Stocks,
}

/// Checks an order's lines by the store contract ([`check_lines`]), reading the event of every
/// listed item in two queries.
async fn validate(conn: &mut PgConnection, record: &OrderRecord) -> Result<(), StoreError> {
    let (mut tickets, mut stocks) = (Vec::new(), Vec::new());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => tickets.push(*ticket.as_uuid()),
            ItemRef::Stock { stock, .. } => stocks.push(*stock.as_uuid()),
        }
    }
    let ticket_events = events_of(conn, Table::Tickets, &tickets).await?;
    let stock_events = events_of(conn, Table::Stocks, &stocks).await?;
    check_lines(record, |item| {
        listed_event(item, &ticket_events, &stock_events)
    })
}

impl Placing for Postgres {
    async fn seen(
        pool: &PgPool,
        tickets: Vec<TicketId>,
        orders: Vec<OrderId>,
    ) -> Result<Seen, StoreError> {
        let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
        let rows = sqlx::query(
            "SELECT id, state, order_id, hold_id, expires_ns, version, event_id FROM tickets
             WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(pool)
        .await
        .db(PG)?;
        let mut seen = Seen::default();
        for row in &rows {
            let ticket = ticket_in(row, TICKET)?;
            let event = EventId::from_uuid(row.try_get("event_id").db(PG)?);
            seen.tickets.insert(ticket.id(), (event, ticket));
        }
        let ids: Vec<Uuid> = orders.iter().map(|o| *o.as_uuid()).collect();
        let stored: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await
            .db(PG)?;
        seen.stored = stored.into_iter().map(OrderId::from_uuid).collect();
        Ok(seen)
    }

    /// Holds every item of `record` and inserts it, inside the caller's transaction. On error
    /// the caller rolls back, so nothing is held.
    async fn place_at_once(
        pool: &PgPool,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Option<Result<(), StoreError>> {
        let tickets = distinct_tickets_only(record)?;
        Some(place(pool, record, &tickets, now).await)
    }

    async fn place_order(
        conn: &mut PgConnection,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = record.order.id();
        // Inserting the order first claims its id: a concurrent insert of the same id waits for
        // this transaction. The row disappears again if anything below fails.
        if !insert_order(conn, record).await? {
            return Err(StoreError::AlreadyExists {
                what: "order",
                id: id.to_string(),
            });
        }
        if record.order.state().kind() != OrderStateKind::Pending {
            return Err(StoreError::Invalid(
                "a new order must be pending".to_owned(),
            ));
        }
        validate(conn, record).await?;
        let expires_at = record.order.expires_at();

        // Tickets first, all in one statement; then stocks in id order. Every writer takes
        // tickets before stock holds before stock counts, so they cannot deadlock.
        let tickets = ticket_ids(record.lines.iter().map(|l| &l.item));
        let ticket_events = if tickets.is_empty() {
            HashMap::new()
        } else {
            let hold = (id, record.hold, expires_at);
            hold_tickets(conn, &tickets, record.event, hold, now).await?
        };
        let mut stocks: Vec<(StockId, u32)> = record
            .lines
            .iter()
            .filter_map(|l| match l.item {
                ItemRef::Stock { stock, quantity } => Some((stock, quantity)),
                ItemRef::Ticket { .. } => None,
            })
            .collect();
        stocks.sort_unstable();
        let mut stock_events: HashMap<StockId, Vec<DomainEvent>> = HashMap::new();
        let mut refused: HashMap<StockId, StoreError> = HashMap::new();
        for (stock, quantity) in stocks {
            let mut events = reclaim_lapsed(conn, stock, now).await?;
            let hold = StockCommand::Hold {
                order: id,
                hold: record.hold,
                quantity,
            };
            match apply_stock(conn, stock, hold, now).await {
                Ok(event) => {
                    events.push(event);
                    insert_stock_hold(conn, record.hold, stock, quantity, expires_at).await?;
                    stock_events.insert(stock, events);
                }
                // A refusal is reported in line order below; a failure of the backend at once.
                Err(e @ (StoreError::InsufficientStock { .. } | StoreError::Refused { .. })) => {
                    refused.insert(stock, e);
                }
                Err(e) => return Err(e),
            }
        }

        // Report as every store does: the first refused stock line (short or closed), else every
        // unavailable ticket, in line order.
        let events = placed_events(record, ticket_events, stock_events, refused)?;
        Self::append_outbox(conn, &events, now).await
    }
}
