//! The hot path of `place_order`: a pending order of distinct tickets placed by one
//! autocommitted statement, in one round trip.
//!
//! The statement is all or nothing by itself, so it needs no transaction around it:
//!
//! - `free` locks the requested tickets that are free (available, or held by a lapsed hold)
//!   with `FOR UPDATE SKIP LOCKED`: a ticket another statement has locked — a hold being
//!   written, a sale, a release, a sweep — is passed over instead of waited for. A locked row
//!   that is taken is re-checked on its newest version, so two statements can never both
//!   take one ticket. A ticket taken as last committed refuses the order at once; a ticket
//!   free as last committed but passed over (locked by a writer still at work) makes the
//!   statement run once more waiting for that writer (`FOR UPDATE`), which then answers
//!   exactly. Every path locks tickets before the order row, so repeats of one order cannot
//!   deadlock.
//! - `held` writes the hold only if every requested ticket was free and locked;
//! - `placed` inserts the order row only if `held` took every ticket, and `logged` appends
//!   one outbox event per ticket `held` took; a taken order id makes the insert, and so the
//!   whole statement, fail with a unique violation: nothing is written.
//!
//! The machine then checks every row the statement changed and every event it stored; the
//! statement has committed by then, so a disagreement is reported as corruption but cannot
//! be undone (see ADR 0008).

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, TicketId};
use booking_core::machine::{DomainEvent, Ticket, TicketCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::PG;
use super::records::bind_order;
use super::rows::{TICKET, agree, ticket_in};
use super::tickets::{OLD_TICKET, ticket_step};
use crate::codec::{events_json, nanos};
use crate::error::{Db, DbError};
use crate::store::rules::listed_event;

/// The hold statement (see the module docs) with the locking clause `$lock` of its ticket
/// read. Parameters: `$1..$9` the order row as [`bind_order`] binds it, `$10` the tickets in
/// line order, `$11` the machine's event for each, `$12` now.
///
/// It is written for the plan cache. sqlx prepares it once per connection, and PostgreSQL
/// plans a prepared statement's first five runs for their parameters, then keeps one generic
/// plan only if that plan's estimated cost is no higher. Read through `id = ANY($10)`, the
/// generic plan assumed ten tickets and a bitmap scan, cost six times the custom plan, and
/// every hold was planned afresh — most of the statement's time at one connection. So the
/// lines drive the read (a primary-key look-up per line), and `LIMIT cardinality($10)`, the
/// array's own length and so no limit at all, lets the generic estimate assume one line
/// instead of ten: its cost then matches the custom plan's and it is kept.
macro_rules! hold_statement {
    ($lock:literal) => {
        concat!("WITH lines AS (
         SELECT id, event, n FROM unnest($10::uuid[], $11::text[]) WITH ORDINALITY AS l(id, event, n)
         LIMIT cardinality($10::uuid[])),
     free AS (
         SELECT t.id, t.state, t.order_id, t.hold_id, t.expires_ns, t.version
         FROM lines JOIN tickets t ON t.id = lines.id
         WHERE t.event_id = $2
           AND (t.state = 'Available' OR (t.state = 'Held' AND t.expires_ns <= $12))
         ORDER BY t.id FOR UPDATE OF t ", $lock, "),
     held AS (
         UPDATE tickets t
         SET state = 'Held', order_id = $1, hold_id = $4, expires_ns = $7, version = t.version + 1
         FROM free
         WHERE t.id = free.id AND (SELECT count(*) FROM free) = cardinality($10::uuid[])
         RETURNING free.id AS old_id, free.state AS old_state, free.order_id AS old_order,
                   free.hold_id AS old_hold, free.expires_ns AS old_expires,
                   free.version AS old_version, t.id, t.state, t.order_id, t.hold_id,
                   t.expires_ns, t.version),
     placed AS (
         INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::text, $6::bigint, $7::bigint,
                $8::uuid, $9::json
         WHERE (SELECT count(*) FROM held) = cardinality($10::uuid[])
         RETURNING id),
     logged AS (
         INSERT INTO outbox (event, recorded_ns)
         SELECT CASE WHEN h.old_state = 'Held'
                     THEN (l.event::jsonb || jsonb_build_object('replaced', h.old_hold))::json
                     ELSE l.event::json END, $12
         FROM lines l JOIN held h ON h.id = l.id ORDER BY l.n
         RETURNING event)
     SELECT EXISTS (SELECT FROM placed) AS placed,
            EXISTS (SELECT FROM orders WHERE id = $1) AS taken,
            listed.event_id AS listed_event, f.id IS NOT NULL AS free,
            listed.event_id = $2 AND (listed.state = 'Available'
                OR (listed.state = 'Held' AND listed.expires_ns <= $12)) AS was_free,
            h.old_id, h.old_state, h.old_order, h.old_hold, h.old_expires, h.old_version,
            h.id, h.state, h.order_id, h.hold_id, h.expires_ns, h.version, g.event
     FROM lines l
     LEFT JOIN tickets listed ON listed.id = l.id
     LEFT JOIN free f ON f.id = l.id
     LEFT JOIN held h ON h.id = l.id
     LEFT JOIN logged g ON g.event ->> 'ticket' = l.id::text
     ORDER BY l.n")
    };
}

/// The machine's command that holds a ticket for `record`.
pub(super) fn hold_command(record: &OrderRecord) -> TicketCommand {
    TicketCommand::Hold {
        order: record.order.id(),
        hold: record.hold,
        expires_at: record.order.expires_at(),
    }
}

/// The machine's event for each of `tickets` taken by `command` while available. The hold
/// statements add the lapsed hold a ticket's event replaced, and [`check_taken`] compares
/// what they stored with the machine.
pub(super) fn event_templates(
    tickets: &[TicketId],
    command: TicketCommand,
    now: Timestamp,
) -> Result<Vec<DomainEvent>, StoreError> {
    tickets
        .iter()
        .map(|&id| ticket_step(&Ticket::new(id), command, now).map(|t| t.event))
        .collect()
}

/// Checks one ticket a hold statement took (`row`: the ticket before and after, and the
/// stored event) against the machine's step `command` at `now`.
pub(super) fn check_taken(
    row: &PgRow,
    command: TicketCommand,
    now: Timestamp,
) -> Result<(), StoreError> {
    let t = ticket_step(&ticket_in(row, OLD_TICKET)?, command, now)?;
    agree("ticket", &t.next, &ticket_in(row, TICKET)?)?;
    let stored: Option<Json<DomainEvent>> = row.try_get("event").db(PG)?;
    agree("outbox event", &Some(t.event), &stored.map(|e| e.0))
}

/// The hot path: a ticket another statement has locked is passed over.
const HOLD_SKIPPING: &str = hold_statement!("SKIP LOCKED");
/// After a ticket was passed over: the same statement, waiting for the locker.
const HOLD_WAITING: &str = hold_statement!("");

/// Places the pending order `record` of the distinct `tickets` (in line order) on `pool`: the
/// statement skipping locked tickets, and only if it passed over a ticket that was free as
/// last committed (its locker still at work), the same statement waiting for the locker.
/// Reports as the general path does: the order id taken, else an unknown ticket or one of
/// another event, else every ticket that was not free, in line order.
pub(crate) async fn place(
    pool: &PgPool,
    record: &OrderRecord,
    tickets: &[TicketId],
    now: Timestamp,
) -> Result<(), StoreError> {
    if place_tickets(pool, record, tickets, now, false).await? {
        return Ok(());
    }
    if place_tickets(pool, record, tickets, now, true).await? {
        return Ok(());
    }
    Err(DbError::corrupt(
        "ticket",
        "the waiting hold passed over a ticket",
    ))
    .db(PG)
}

/// One run of the hold statement, skipping locked tickets or (`wait`) waiting for them.
/// `Ok(false)`: nothing was written, and a ticket free as last committed was passed over.
pub(crate) async fn place_tickets(
    pool: &PgPool,
    record: &OrderRecord,
    tickets: &[TicketId],
    now: Timestamp,
    wait: bool,
) -> Result<bool, StoreError> {
    let command = hold_command(record);
    let templates = event_templates(tickets, command, now)?;
    let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
    let taken = || StoreError::AlreadyExists {
        what: "order",
        id: record.order.id().to_string(),
    };
    let sql = if wait { HOLD_WAITING } else { HOLD_SKIPPING };
    let rows = match bind_order(sqlx::query(sql), record)?
        .bind(&ids)
        .bind(events_json(&templates)?)
        .bind(nanos(now)?)
        .fetch_all(pool)
        .await
        .db(PG)
    {
        Ok(rows) => rows,
        // The only unique key the statement writes is the order's id.
        Err(StoreError::AlreadyExists { what: "order", .. }) => return Err(taken()),
        Err(e) => return Err(e),
    };
    let flag = |col: &str| -> Result<bool, StoreError> {
        match rows.first() {
            Some(row) => row.try_get::<bool, _>(col).db(PG),
            None => Ok(false),
        }
    };
    let placed = flag("placed")?;
    if !placed && flag("taken")? {
        return Err(taken());
    }
    let mut held = 0_usize;
    let (mut listed, mut unavailable, mut contended) = (HashMap::new(), Vec::new(), false);
    for (row, &id) in rows.iter().zip(tickets) {
        if let Some(event) = row.try_get::<Option<Uuid>, _>("listed_event").db(PG)? {
            listed.insert(*id.as_uuid(), EventId::from_uuid(event));
        }
        if !row.try_get::<bool, _>("free").db(PG)? {
            unavailable.push(id);
            // Waiting, a ticket free in the snapshot was re-checked after its writer finished.
            contended |= !wait && row.try_get::<Option<bool>, _>("was_free").db(PG)? == Some(true);
        }
        if row.try_get::<Option<Uuid>, _>("id").db(PG)?.is_none() {
            continue;
        }
        held += 1;
        check_taken(row, command, now)?;
    }
    let all = rows.len() == tickets.len() && held == tickets.len();
    if placed && all {
        return Ok(true);
    }
    if placed || held > 0 || unavailable.is_empty() {
        return Err(DbError::corrupt(
            "order",
            "the hold statement wrote only part of an order",
        ))
        .db(PG);
    }
    // Unknown or of another event is reported before unavailable.
    check_lines(record, |item| listed_event(item, &listed, &HashMap::new()))?;
    if contended {
        return Ok(false);
    }
    if wait {
        // The statement's snapshot predates the writer it waited for: a repeat of this order
        // that took the tickets has committed its row since, and a fresh read sees it.
        let exists =
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT FROM orders WHERE id = $1)")
                .bind(record.order.id().as_uuid())
                .fetch_one(pool)
                .await
                .db(PG)?;
        if exists {
            return Err(taken());
        }
    }
    Err(StoreError::Unavailable {
        tickets: unavailable,
    })
}
