//! `place_order`: hold every item of an order and insert it, in one transaction.
//!
//! The common order — distinct tickets, no stock — is one statement: the order row, the hold
//! and the outbox events are written by data-modifying CTEs whose hold only happens if every
//! ticket was free, so a partial hold is never written; the machine then checks every row the
//! statement changed and every event it stored before the caller commits. Other orders take
//! the general path: validate, tickets, stocks in id order, outbox.

use std::collections::{HashMap, HashSet};

use booking_core::clock::Timestamp;
use booking_core::ids::TicketId;
use booking_core::ids::{EventId, StockId};
use booking_core::machine::{DomainEvent, OrderStateKind, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

use super::PG;
use super::records::{bind_order, insert_order};
use super::rows::{TICKET, agree, ticket_in};
use super::stocks::{apply_stock, insert_stock_hold, reclaim_lapsed};
use super::tickets::{OLD_TICKET, hold_tickets, ticket_step};
use crate::codec::{events_json, nanos};
use crate::error::{Db, DbError};
use crate::store::database::{Outbox, Placing};
use crate::store::rules::{listed_event, placed_events, ticket_ids};

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

/// The tickets of `record` in line order, if it is a pending order of lines that are all
/// tickets, none twice: then only the database can find it invalid (an unknown ticket, one of
/// another event) and [`place_tickets`] places it.
fn distinct_tickets_only(record: &OrderRecord) -> Option<Vec<TicketId>> {
    if record.lines.is_empty() || record.order.state().kind() != OrderStateKind::Pending {
        return None;
    }
    let mut seen = HashSet::new();
    record
        .lines
        .iter()
        .map(|l| match l.item {
            ItemRef::Ticket { ticket } if seen.insert(ticket) => Some(ticket),
            ItemRef::Ticket { .. } | ItemRef::Stock { .. } => None,
        })
        .collect()
}

/// Places a pending order of distinct tickets in one statement, inside the caller's
/// transaction (see the module docs). Reports as the general path does: the order id taken,
/// else an unknown ticket or one of another event, else every unavailable ticket in line order.
async fn place_tickets(
    conn: &mut PgConnection,
    record: &OrderRecord,
    tickets: &[TicketId],
    now: Timestamp,
) -> Result<(), StoreError> {
    let command = TicketCommand::Hold {
        order: record.order.id(),
        hold: record.hold,
        expires_at: record.order.expires_at(),
    };
    // The machine's event for each ticket taken while available; the statement adds the
    // lapsed hold it replaced, and the check below compares what it stored with the machine.
    let templates = tickets
        .iter()
        .map(|&id| ticket_step(&Ticket::new(id), command, now).map(|t| t.event))
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
    // `free` locks the free tickets in id order (no deadlock between overlapping holds) and
    // re-checks its condition on the newest row version after a wait, so two transactions can
    // never both take one ticket; `held` writes only if every ticket was free.
    let statement = sqlx::query(
        "WITH placed AS (
             INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                                 payment_id, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT (id) DO NOTHING
             RETURNING id),
         lines AS (
             SELECT id, event, n FROM unnest($10::uuid[], $11::text[]) WITH ORDINALITY AS l(id, event, n)),
         free AS (
             SELECT id, state, order_id, hold_id, expires_ns, version FROM tickets
             WHERE id = ANY($10) AND event_id = $2
               AND (state = 'Available' OR (state = 'Held' AND expires_ns <= $12))
               AND EXISTS (SELECT FROM placed)
             ORDER BY id FOR UPDATE),
         held AS (
             UPDATE tickets t
             SET state = 'Held', order_id = $1, hold_id = $4, expires_ns = $7,
                 version = t.version + 1
             FROM free
             WHERE t.id = free.id AND (SELECT count(*) FROM free) = cardinality($10::uuid[])
             RETURNING free.id AS old_id, free.state AS old_state, free.order_id AS old_order,
                       free.hold_id AS old_hold, free.expires_ns AS old_expires,
                       free.version AS old_version, t.id, t.state, t.order_id, t.hold_id,
                       t.expires_ns, t.version),
         logged AS (
             INSERT INTO outbox (event, recorded_ns)
             SELECT CASE WHEN h.old_state = 'Held'
                         THEN l.event::jsonb || jsonb_build_object('replaced', h.old_hold)
                         ELSE l.event::jsonb END, $12
             FROM lines l JOIN held h ON h.id = l.id ORDER BY l.n
             RETURNING event)
         SELECT EXISTS (SELECT FROM placed) AS placed, l.id AS line,
                listed.event_id AS listed_event, f.id IS NOT NULL AS free,
                h.old_id, h.old_state, h.old_order, h.old_hold, h.old_expires, h.old_version,
                h.id, h.state, h.order_id, h.hold_id, h.expires_ns, h.version, g.event
         FROM lines l
         LEFT JOIN tickets listed ON listed.id = l.id
         LEFT JOIN free f ON f.id = l.id
         LEFT JOIN held h ON h.id = l.id
         LEFT JOIN logged g ON g.event ->> 'ticket' = l.id::text
         ORDER BY l.n",
    );
    let rows = bind_order(statement, record)?
        .bind(&ids)
        .bind(events_json(&templates)?)
        .bind(nanos(now)?)
        .fetch_all(&mut *conn)
        .await
        .db(PG)?;
    let placed = match rows.first() {
        Some(row) => row.try_get::<bool, _>("placed").db(PG)?,
        None => false,
    };
    if !placed {
        return Err(StoreError::AlreadyExists {
            what: "order",
            id: record.order.id().to_string(),
        });
    }
    let mut held = 0_usize;
    let (mut listed, mut unavailable) = (HashMap::new(), Vec::new());
    for (row, &id) in rows.iter().zip(tickets) {
        if let Some(event) = row.try_get::<Option<Uuid>, _>("listed_event").db(PG)? {
            listed.insert(*id.as_uuid(), EventId::from_uuid(event));
        }
        if !row.try_get::<bool, _>("free").db(PG)? {
            unavailable.push(id);
        }
        if row.try_get::<Option<Uuid>, _>("id").db(PG)?.is_none() {
            continue;
        }
        held += 1;
        let before = ticket_in(row, OLD_TICKET)?;
        let t = ticket_step(&before, command, now)?;
        agree("ticket", &t.next, &ticket_in(row, TICKET)?)?;
        let stored: Option<Json<DomainEvent>> = row.try_get("event").db(PG)?;
        agree("outbox event", &Some(t.event), &stored.map(|e| e.0))?;
    }
    if rows.len() == tickets.len() && held == tickets.len() {
        return Ok(());
    }
    if held > 0 || unavailable.is_empty() {
        return Err(DbError::corrupt(
            "ticket",
            "the hold took only some of the free tickets",
        ))
        .db(PG);
    }
    // Unknown or of another event is reported before unavailable.
    check_lines(record, |item| listed_event(item, &listed, &HashMap::new()))?;
    Err(StoreError::Unavailable {
        tickets: unavailable,
    })
}

impl Placing for Postgres {
    /// Holds every item of `record` and inserts it, inside the caller's transaction. On error
    /// the caller rolls back, so nothing is held.
    async fn place_order(
        conn: &mut PgConnection,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(tickets) = distinct_tickets_only(record) {
            return place_tickets(conn, record, &tickets, now).await;
        }
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
