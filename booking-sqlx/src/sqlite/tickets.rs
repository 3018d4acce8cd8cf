//! Tickets, read and written inside a write transaction.
//!
//! Callers read a row, run the ticket machine in Rust and write its next state back with
//! `WHERE version = ?`: the write lock the transaction holds since `BEGIN IMMEDIATE` keeps the
//! row as read, and the version check would catch a row changed behind its back.

use booking_core::ids::{EventId, TicketId};
use booking_core::machine::Ticket;
use booking_core::ports::store::StoreError;
use sqlx::SqliteConnection;
use sqlx::types::Json;

use super::SQ;
use super::rows::{TICKET_COLUMNS, TicketRow, one_row, ticket_of_row};
use crate::codec::{Listing, TicketColumns, to_db};
use crate::error::Db;

/// The ticket `id` and its event, if listed.
pub(super) async fn find_ticket(
    conn: &mut SqliteConnection,
    id: TicketId,
) -> Result<Option<(Ticket, EventId)>, StoreError> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?");
    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db(SQ)?;
    row.map(|row| Ok((ticket_of_row(&row)?, EventId::from_uuid(row.6))))
        .transpose()
}

/// The ticket `id`, or `NotFound`.
pub(super) async fn ticket(
    conn: &mut SqliteConnection,
    id: TicketId,
) -> Result<Ticket, StoreError> {
    find_ticket(conn, id)
        .await?
        .map(|(ticket, _)| ticket)
        .ok_or_else(|| StoreError::not_found("ticket", id))
}

/// Writes `next` over the ticket stored at version `was`.
pub(super) async fn save_ticket(
    conn: &mut SqliteConnection,
    was: u64,
    next: &Ticket,
) -> Result<(), StoreError> {
    let c = TicketColumns::of(next)?;
    let written = sqlx::query(
        "UPDATE tickets SET state = ?, order_id = ?, hold_id = ?, expires_ns = ?, version = ?
         WHERE id = ? AND version = ?",
    )
    .bind(c.state)
    .bind(c.order)
    .bind(c.hold)
    .bind(c.expires_ns)
    .bind(c.version)
    .bind(next.id().as_uuid())
    .bind(to_db(was)?)
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    one_row("ticket", written)
}

/// Inserts a listed ticket; how many rows it inserted (0: the id is taken).
pub(super) async fn insert_ticket(
    conn: &mut SqliteConnection,
    ticket: &Ticket,
    event: EventId,
    listing: Json<Listing>,
) -> Result<u64, StoreError> {
    let c = TicketColumns::of(ticket)?;
    let rows = sqlx::query(
        "INSERT INTO tickets (id, event_id, state, order_id, hold_id, expires_ns, version, listing)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(ticket.id().as_uuid())
    .bind(event.as_uuid())
    .bind(c.state)
    .bind(c.order)
    .bind(c.hold)
    .bind(c.expires_ns)
    .bind(c.version)
    .bind(listing)
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    Ok(rows)
}
