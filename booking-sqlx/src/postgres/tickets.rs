//! Tickets on PostgreSQL: the statements that hold, lock and write them.
//!
//! The hot path is one conditional statement whose `WHERE` is the machine's guard: a hold
//! takes only rows that are available or held by a lapsed hold. The ticket machine then runs
//! in Rust on the rows the statement changed, to produce the domain events and to check that
//! the database and the machine agree. Steps off the hot path (sell, release, refund) lock the
//! order's tickets, run the machine and write back with a version check.

use std::collections::{HashMap, HashSet};

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, TicketId};
use booking_core::machine::{DomainEvent, Ticket, TicketCommand, Transition};
use booking_core::ports::store::StoreError;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PG;
use super::rows::{TICKET, agree, all_written, ticket_in};
use crate::codec::{TicketColumns, nanos, to_db};
use crate::error::Db;
use crate::store::rules::giving_back;

/// The `tickets` columns of a hold's previous state, as [`hold_tickets`] returns them.
pub(crate) const OLD_TICKET: [&str; 6] = [
    "old_id",
    "old_state",
    "old_order",
    "old_hold",
    "old_expires",
    "old_version",
];

/// Holds every ticket of `ids` that belongs to `event` and is available or held by a lapsed
/// hold at `now`, for `order` under `hold` until `expires_at`, in one statement. Returns the `TicketHeld` event
/// of each ticket it took; a ticket missing from the map was unavailable.
pub(crate) async fn hold_tickets(
    conn: &mut PgConnection,
    ids: &[Uuid],
    event: EventId,
    (order, hold, expires_at): (OrderId, HoldId, Timestamp),
    now: Timestamp,
) -> Result<HashMap<TicketId, DomainEvent>, StoreError> {
    let command = TicketCommand::Hold {
        order,
        hold,
        expires_at,
    };
    // The locking read in the CTE takes rows in id order (no deadlock between overlapping
    // holds) and re-checks its condition on the newest row version after a wait, so two
    // transactions can never both take one ticket.
    let rows = sqlx::query(
        "WITH free AS (
             SELECT id, state, order_id, hold_id, expires_ns, version FROM tickets
             WHERE id = ANY($1) AND event_id = $6
               AND (state = 'Available' OR (state = 'Held' AND expires_ns <= $2))
             ORDER BY id FOR UPDATE)
         UPDATE tickets t
         SET state = 'Held', order_id = $3, hold_id = $4, expires_ns = $5, version = t.version + 1
         FROM free WHERE t.id = free.id
         RETURNING free.id AS old_id, free.state AS old_state, free.order_id AS old_order,
                   free.hold_id AS old_hold, free.expires_ns AS old_expires,
                   free.version AS old_version,
                   t.id, t.state, t.order_id, t.hold_id, t.expires_ns, t.version",
    )
    .bind(ids)
    .bind(nanos(now)?)
    .bind(order.as_uuid())
    .bind(hold.as_uuid())
    .bind(nanos(expires_at)?)
    .bind(event.as_uuid())
    .fetch_all(conn)
    .await
    .db(PG)?;
    let mut held = HashMap::with_capacity(rows.len());
    for row in &rows {
        let before = ticket_in(row, OLD_TICKET)?;
        let after = ticket_in(row, TICKET)?;
        let t = ticket_step(&before, command, now)?;
        agree("ticket", &t.next, &after)?;
        held.insert(after.id(), t.event);
    }
    Ok(held)
}

/// Applies `command` to `ticket`, a refusal as [`StoreError::Refused`].
pub(crate) fn ticket_step(
    ticket: &Ticket,
    command: TicketCommand,
    now: Timestamp,
) -> Result<Transition<Ticket>, StoreError> {
    ticket
        .apply(command, now)
        .map_err(|e| StoreError::refused("Ticket", e))
}

/// The tickets `ids`, locked until the transaction ends.
pub(crate) async fn lock_tickets(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    read_tickets(conn, ids, true).await
}

/// The tickets `ids` as committed now, locked until the transaction ends if `lock`.
pub(crate) async fn read_tickets(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = if lock {
        "SELECT id, state, order_id, hold_id, expires_ns, version FROM tickets
         WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    } else {
        "SELECT id, state, order_id, hold_id, expires_ns, version FROM tickets WHERE id = ANY($1)"
    };
    let rows = sqlx::query(sql).bind(ids).fetch_all(conn).await.db(PG)?;
    rows.iter()
        .map(|row| ticket_in(row, TICKET).map(|t| (t.id(), t)))
        .collect()
}

/// Writes tickets computed from locked rows, each only if its version is still `expected`.
pub(crate) async fn write_tickets(
    conn: &mut PgConnection,
    changes: &[(u64, Ticket)],
) -> Result<(), StoreError> {
    let written = write_unchanged(conn, changes).await?;
    all_written(written.len() as u64, changes.len(), "ticket")
}

/// Writes each of `changes` whose ticket is still at the version it was computed from (the
/// `u64`), in one statement; returns the tickets written.
pub(crate) async fn write_unchanged(
    conn: &mut PgConnection,
    changes: &[(u64, Ticket)],
) -> Result<HashSet<Uuid>, StoreError> {
    if changes.is_empty() {
        return Ok(HashSet::new());
    }
    let n = changes.len();
    let (mut ids, mut states, mut orders, mut holds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut expires, mut versions, mut expected) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (was, ticket) in changes {
        let c = TicketColumns::of(ticket)?;
        ids.push(*ticket.id().as_uuid());
        states.push(c.state);
        orders.push(c.order);
        holds.push(c.hold);
        expires.push(c.expires_ns);
        versions.push(c.version);
        expected.push(to_db(*was)?);
    }
    let written = sqlx::query(
        "UPDATE tickets t
         SET state = u.state, order_id = u.order_id, hold_id = u.hold_id,
             expires_ns = u.expires_ns, version = u.version
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[],
                     $7::bigint[]) AS u(id, state, order_id, hold_id, expires_ns, version, expected)
         WHERE t.id = u.id AND t.version = u.expected
         RETURNING t.id",
    )
    .bind(ids)
    .bind(states)
    .bind(orders)
    .bind(holds)
    .bind(expires)
    .bind(versions)
    .bind(expected)
    .fetch_all(conn)
    .await
    .db(PG)?;
    written.iter().map(|row| row.try_get("id").db(PG)).collect()
}

/// The step that frees `ticket` from `hold` (see [`giving_back`]), or `None` if `hold` no
/// longer holds it (taken over by another order after the hold lapsed).
pub(crate) fn free_step(
    ticket: &Ticket,
    hold: HoldId,
    expire: bool,
    now: Timestamp,
) -> Result<Option<Transition<Ticket>>, StoreError> {
    giving_back(ticket, hold, expire, now)
        .map(|command| ticket_step(ticket, command, now))
        .transpose()
}
