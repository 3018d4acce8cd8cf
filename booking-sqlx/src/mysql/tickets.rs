//! Tickets: the locked reads and version-checked writes every step uses.
//!
//! MariaDB has no `UPDATE … RETURNING`, and the state machine needs each ticket's state
//! before the change to say what happened. So a step locks the rows it will change with
//! `SELECT … FOR UPDATE` in id order (InnoDB walks the primary key in order, so two
//! overlapping steps cannot take their rows in opposite orders), runs booking-core's ticket
//! machine on them, and writes each result back only if its version is still the one read.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, TicketId};
use booking_core::machine::{DomainEvent, Ticket, TicketCommand, Transition};
use booking_core::ports::store::StoreError;
use sqlx::MySqlConnection;
use uuid::Uuid;

use super::MY;
use super::rows::{TICKET_COLUMNS, TicketRow, marks};
use crate::codec::{TicketColumns, nanos, to_db};
use crate::error::{Db, DbError};

/// The condition of a ticket free to hold at the instant bound after it.
pub(crate) const FREE: &str = "AND (state = 'Available' OR (state = 'Held' AND expires_ns <= ?))";

/// Locks the tickets `ids` (in id order) that match `condition` (SQL over the row, binding
/// `binds` after the ids), and returns them. `lock` is the locking clause: `FOR UPDATE`
/// waits for a row another transaction holds, `FOR UPDATE SKIP LOCKED` leaves it out.
async fn lock_where(
    conn: &mut MySqlConnection,
    ids: &[Uuid],
    (condition, lock): (&str, &str),
    binds: &[i64],
    event: Option<EventId>,
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let by_event = if event.is_some() {
        "AND event_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id IN ({}) {by_event} {condition}
         ORDER BY id {lock}",
        marks(ids.len(), "?")
    );
    let mut query = sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    if let Some(event) = event {
        query = query.bind(*event.as_uuid());
    }
    for value in binds {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(conn).await.db(MY)?;
    rows.iter()
        .map(|row| row.ticket().map(|t| (t.id(), t)))
        .collect()
}

/// The tickets `ids`, locked until the transaction ends.
pub(crate) async fn lock_tickets(
    conn: &mut MySqlConnection,
    ids: &[Uuid],
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    lock_where(conn, ids, ("", "FOR UPDATE"), &[], None).await
}

/// Holds every ticket of `ids` that belongs to `event` and is free at `now` (available, or
/// held by a lapsed hold) for `order` under `hold` until `expires_at`. Returns the
/// `TicketHeld` event of each ticket taken; a ticket missing from the map was unavailable.
///
/// The locking read takes only the free rows; after waiting for a row another transaction
/// holds, InnoDB re-reads it and re-checks the condition, so two orders never both take a
/// seat.
pub(crate) async fn hold_free_tickets(
    conn: &mut MySqlConnection,
    ids: &[Uuid],
    event: EventId,
    (order, hold, expires_at): (OrderId, HoldId, Timestamp),
    now: Timestamp,
) -> Result<HashMap<TicketId, DomainEvent>, StoreError> {
    let free = lock_where(conn, ids, (FREE, "FOR UPDATE"), &[nanos(now)?], Some(event)).await?;
    let command = TicketCommand::Hold {
        order,
        hold,
        expires_at,
    };
    let mut events = HashMap::with_capacity(free.len());
    let mut changes = Vec::with_capacity(free.len());
    for ticket in free.values() {
        let t = step(ticket, command, now)?;
        events.insert(ticket.id(), t.event);
        changes.push((ticket.version(), t.next));
    }
    write_tickets(conn, &changes).await?;
    Ok(events)
}

/// The tickets of `ids` that belong to `event` and are free at `now`, locked, in one
/// statement that waits for no row: a ticket another transaction holds is left out, as if it
/// were taken (the hot path, `hold.rs`).
pub(crate) async fn lock_free_skipping(
    conn: &mut MySqlConnection,
    ids: &[Uuid],
    event: EventId,
    now: Timestamp,
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    let lock = (FREE, "FOR UPDATE SKIP LOCKED");
    lock_where(conn, ids, lock, &[nanos(now)?], Some(event)).await
}

/// Applies `command` to `ticket`, a refusal as [`StoreError::Refused`].
pub(crate) fn step(
    ticket: &Ticket,
    command: TicketCommand,
    now: Timestamp,
) -> Result<Transition<Ticket>, StoreError> {
    ticket
        .apply(command, now)
        .map_err(|e| StoreError::refused("Ticket", e))
}

/// Writes tickets computed from locked rows, each only if its version is still the one
/// read (`was`).
pub(crate) async fn write_tickets(
    conn: &mut MySqlConnection,
    changes: &[(u64, Ticket)],
) -> Result<(), StoreError> {
    for (was, ticket) in changes {
        let c = TicketColumns::of(ticket)?;
        let matched = sqlx::query(
            "UPDATE tickets SET state = ?, order_id = ?, hold_id = ?, expires_ns = ?, version = ?
             WHERE id = ? AND version = ?",
        )
        .bind(c.state)
        .bind(c.order)
        .bind(c.hold)
        .bind(c.expires_ns)
        .bind(c.version)
        .bind(ticket.id().as_uuid())
        .bind(to_db(*was)?)
        .execute(&mut *conn)
        .await
        .db(MY)?
        .rows_affected();
        if matched != 1 {
            // The row was locked by this transaction: only a change behind its back gets here.
            return Err(DbError::corrupt(
                "ticket",
                format!("{} changed while locked", ticket.id()),
            ))
            .db(MY);
        }
    }
    Ok(())
}

/// A locked ticket, or `NotFound`.
pub(crate) fn locked(
    tickets: &HashMap<TicketId, Ticket>,
    id: TicketId,
) -> Result<Ticket, StoreError> {
    tickets
        .get(&id)
        .copied()
        .ok_or_else(|| StoreError::not_found("ticket", id))
}
