//! `place_order`: hold every item of an order and insert it, in one transaction.

use std::collections::{HashMap, HashSet};

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, StockId};
use booking_core::machine::{DomainEvent, OrderStateKind, StockCommand};
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PG;
use super::codec::append_outbox;
use super::holds::insert_stock_hold;
use super::inventory::{apply_stock, hold_tickets, reclaim_lapsed};
use super::records::insert_order;
use crate::error::Db;

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

/// Checks an order's lines by the store contract ([`OrderRecord::check_lines`]), reading the
/// event of every listed item in two queries.
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
    record.check_lines(|item| match *item {
        ItemRef::Ticket { ticket } => ticket_events
            .get(ticket.as_uuid())
            .copied()
            .ok_or_else(|| StoreError::not_found("ticket", ticket)),
        ItemRef::Stock { stock, .. } => stock_events
            .get(stock.as_uuid())
            .copied()
            .ok_or_else(|| StoreError::not_found("stock", stock)),
    })
}

/// Whether `record` has lines, all tickets, none twice: then only the database can find it
/// invalid (an unknown ticket, one of another event).
fn distinct_tickets_only(record: &OrderRecord) -> bool {
    let mut seen = HashSet::new();
    !record.lines.is_empty()
        && record.lines.iter().all(|l| match l.item {
            ItemRef::Ticket { ticket } => seen.insert(ticket),
            ItemRef::Stock { .. } => false,
        })
}

/// Holds every item of `record` and inserts it, inside the caller's transaction. On error
/// the caller rolls back, so nothing is held.
pub(crate) async fn place_order(
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
    // An order of distinct tickets needs no reads to validate up front: the hold only takes
    // tickets of the order's event, so a ticket it did not take is looked up afterwards.
    let checked_late = distinct_tickets_only(record);
    if !checked_late {
        validate(conn, record).await?;
    }
    let expires_at = record.order.expires_at();

    // Tickets first, all in one statement; then stocks in id order. Every writer takes
    // tickets before stock holds before stock counts, so they cannot deadlock.
    let tickets: Vec<Uuid> = record
        .lines
        .iter()
        .filter_map(|l| match l.item {
            ItemRef::Ticket { ticket } => Some(*ticket.as_uuid()),
            ItemRef::Stock { .. } => None,
        })
        .collect();
    let mut ticket_events = if tickets.is_empty() {
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

    // Report as the in-memory store does: the first refused stock line (short or closed),
    // else every unavailable ticket, in line order.
    let mut unavailable = Vec::new();
    let mut events = Vec::new();
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => match ticket_events.remove(&ticket) {
                Some(event) => events.push(event),
                None => unavailable.push(ticket),
            },
            ItemRef::Stock { stock, .. } => {
                if let Some(e) = refused.remove(&stock) {
                    return Err(e);
                }
                events.extend(stock_events.remove(&stock).unwrap_or_default());
            }
        }
    }
    if !unavailable.is_empty() {
        if checked_late {
            // Unknown or of another event is reported before unavailable.
            validate(conn, record).await?;
        }
        return Err(StoreError::Unavailable {
            tickets: unavailable,
        });
    }
    append_outbox(conn, &events, now).await
}
