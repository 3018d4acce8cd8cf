//! `place_order`: hold every item of an order and insert it, in one transaction. A pending
//! order of distinct tickets takes the shorter transaction of `hold.rs`.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, StockId, TicketId};
use booking_core::machine::{OrderStateKind, StockCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use sqlx::{FromRow, MySql, MySqlConnection, MySqlPool, Row};
use uuid::Uuid;

use super::MY;
use super::hold::place_tickets;
use super::records::insert_order;
use super::rows::{TICKET_COLUMNS, TicketRow, marks};
use super::stocks::{lock_stocks, locked_stock, put_hold_record, save_stocks};
use super::tickets::hold_free_tickets;
use crate::error::Db;
use crate::store::database::{Outbox, Placing};
use crate::store::gate::Seen;
use crate::store::rules::{distinct_tickets_only, listed_event, placed_events, ticket_ids};

/// The event of every listed id of `ids` in `table` (`tickets` or `stocks`).
pub(crate) async fn events_in(
    conn: &mut MySqlConnection,
    table: &'static str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, EventId>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT id, event_id FROM {table} WHERE id IN ({})",
        marks(ids.len(), "?")
    );
    let mut query = sqlx::query_as::<_, (Uuid, Uuid)>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(conn).await.db(MY)?;
    Ok(rows
        .into_iter()
        .map(|(id, event)| (id, EventId::from_uuid(event)))
        .collect())
}

/// Checks the order's lines by the store contract ([`check_lines`]).
async fn check_order_lines(
    conn: &mut MySqlConnection,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let tickets = events_in(
        conn,
        "tickets",
        &ticket_ids(record.lines.iter().map(|l| &l.item)),
    )
    .await?;
    let stock_ids: Vec<Uuid> = stock_lines(record)
        .iter()
        .map(|(s, _)| *s.as_uuid())
        .collect();
    let stocks = events_in(conn, "stocks", &stock_ids).await?;
    check_lines(record, |item| listed_event(item, &tickets, &stocks))
}

/// The stock lines of `record`, as `(stock, quantity)`.
fn stock_lines(record: &OrderRecord) -> Vec<(StockId, u32)> {
    record
        .lines
        .iter()
        .filter_map(|l| match l.item {
            ItemRef::Stock { stock, quantity } => Some((stock, quantity)),
            ItemRef::Ticket { .. } => None,
        })
        .collect()
}

impl Placing for MySql {
    async fn seen(
        pool: &MySqlPool,
        tickets: Vec<TicketId>,
        orders: Vec<OrderId>,
    ) -> Result<Seen, StoreError> {
        // Far below MySQL's 65,535 placeholders, and one statement each for any rush.
        const CHUNK: usize = 1_000;
        let mut seen = Seen::default();
        for chunk in tickets.chunks(CHUNK) {
            let sql = format!(
                "SELECT {TICKET_COLUMNS}, event_id FROM tickets WHERE id IN ({})",
                marks(chunk.len(), "?")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id.as_uuid());
            }
            for row in query.fetch_all(pool).await.db(MY)? {
                let ticket = TicketRow::from_row(&row).db(MY)?.ticket()?;
                let event = EventId::from_uuid(row.try_get("event_id").db(MY)?);
                seen.tickets.insert(ticket.id(), (event, ticket));
            }
        }
        for chunk in orders.chunks(CHUNK) {
            let sql = format!(
                "SELECT id FROM orders WHERE id IN ({})",
                marks(chunk.len(), "?")
            );
            let mut query = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id.as_uuid());
            }
            let stored = query.fetch_all(pool).await.db(MY)?;
            seen.stored
                .extend(stored.into_iter().map(OrderId::from_uuid));
        }
        Ok(seen)
    }

    /// A pending order of distinct tickets: the short transaction of `hold.rs`.
    async fn place_at_once(
        pool: &MySqlPool,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Option<Result<(), StoreError>> {
        let tickets = distinct_tickets_only(record)?;
        match place_tickets(pool, record, &tickets, now).await {
            Ok(true) => Some(Ok(())),
            // A ticket was locked by another writer: the general path waits for it.
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Holds every item of `record` and inserts it, inside the caller's transaction. On error
    /// the caller rolls back, so nothing is held.
    async fn place_order(
        conn: &mut MySqlConnection,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // Inserting the order first claims its id: a concurrent insert of the same id waits for
        // this transaction. The row disappears again if anything below fails.
        insert_order(conn, record).await?;
        if record.order.state().kind() != OrderStateKind::Pending {
            return Err(StoreError::Invalid(
                "a new order must be pending".to_owned(),
            ));
        }
        // The lines are checked up front (two indexed reads): the hold below only ever takes
        // tickets of the order's event, but an unknown or foreign item must be reported before
        // an unavailable one, as every store does.
        check_order_lines(conn, record).await?;
        let (id, hold, expires_at) = (record.order.id(), record.hold, record.order.expires_at());

        // Tickets first, all in one locking read; then stocks in id order. Every step takes
        // tickets before stocks, so steps wait for each other instead of deadlocking.
        let tickets = ticket_ids(record.lines.iter().map(|l| &l.item));
        let held = if tickets.is_empty() {
            HashMap::new()
        } else {
            hold_free_tickets(conn, &tickets, record.event, (id, hold, expires_at), now).await?
        };
        let mut wanted = stock_lines(record);
        wanted.sort_unstable();
        let ids: Vec<StockId> = wanted.iter().map(|(s, _)| *s).collect();
        let mut stocks = lock_stocks(conn, &ids).await?;
        let mut stock_events = HashMap::new();
        let mut refused = HashMap::new();
        for (stock, quantity) in wanted {
            let locked = locked_stock(&mut stocks, stock)?;
            let mut events = locked.reclaim_lapsed(conn, now).await?;
            let command = StockCommand::Hold {
                order: id,
                hold,
                quantity,
            };
            match locked.apply(command, now) {
                Ok(event) => {
                    events.push(event);
                    put_hold_record(conn, (hold, stock), quantity, expires_at, "active").await?;
                    stock_events.insert(stock, events);
                }
                // A refusal is reported in line order below.
                Err(e) => {
                    refused.insert(stock, e);
                }
            }
        }

        // Report as the in-memory store does; nothing is written unless everything was held.
        let events = placed_events(record, held, stock_events, refused)?;
        save_stocks(conn, &stocks).await?;
        Self::append_outbox(conn, &events, now).await
    }
}
