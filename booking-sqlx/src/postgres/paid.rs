//! `mark_paid` in one autocommitted statement, for the common paid order: tickets only, every
//! one still held by the order's hold.
//!
//! The statement locks the order and the payment at the caller's expected versions and the
//! order's tickets held by its hold, in the order every writer uses (order, payment, tickets
//! by id); only if all of them are there does it sell the tickets, write the order and the
//! payment and append the events. Otherwise it writes nothing and the caller takes the
//! general path, one transaction that reports exactly what is wrong (a stale version, a
//! missing record, a lost ticket) or takes a freed ticket back. As for the hold (ADR 0008),
//! the machine's checks run after the statement committed: they report a disagreement as
//! corruption but cannot undo it.

use booking_core::clock::Timestamp;
use booking_core::machine::{DomainEvent, Kind, Ticket, TicketCommand, TicketState};
use booking_core::ports::store::{ItemRef, MarkPaid, StoreError};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::PG;
use super::rows::{TICKET, agree, ticket_in};
use super::tickets::{OLD_TICKET, ticket_step};
use crate::codec::{events_json, nanos, order_json, payment_json, to_db};
use crate::error::{Db, DbError};

/// The statement (see the module docs). `$1..$2` order id and expected version, `$3..$4`
/// payment id and expected version, `$5` the tickets, `$6` the hold, `$7..$11` the order's
/// next columns, `$12..$15` the payment's, `$16` the events in order, `$17` now. The tickets
/// are read from the list, with its own length as a limit, so that PostgreSQL keeps a generic
/// plan for the statement rather than planning every run (see the hold statement in
/// `hold.rs`).
const PAID: &str = "WITH o AS (SELECT id FROM orders WHERE id = $1 AND version = $2 FOR UPDATE),
     p AS (SELECT id FROM payments WHERE id = $3 AND version = $4 FOR UPDATE),
     t AS (SELECT k.id, k.state, k.order_id, k.hold_id, k.expires_ns, k.version
           FROM (SELECT id FROM unnest($5::uuid[]) AS l(id) LIMIT cardinality($5::uuid[])) l
           JOIN tickets k ON k.id = l.id
           WHERE k.state = 'Held' AND k.order_id = $1 AND k.hold_id = $6
           ORDER BY k.id FOR UPDATE OF k),
     go AS (SELECT EXISTS (SELECT FROM o) AND EXISTS (SELECT FROM p)
                   AND (SELECT count(*) FROM t) = cardinality($5::uuid[]) AS ok),
     sold AS (
         UPDATE tickets x SET state = 'Sold', hold_id = NULL, expires_ns = NULL,
                              version = x.version + 1
         FROM t WHERE x.id = t.id AND (SELECT ok FROM go)
         RETURNING t.id AS old_id, t.state AS old_state, t.order_id AS old_order,
                   t.hold_id AS old_hold, t.expires_ns AS old_expires, t.version AS old_version,
                   x.id, x.state, x.order_id, x.hold_id, x.expires_ns, x.version),
     ord AS (
         UPDATE orders SET state = $7, version = $8, expires_ns = $9, payment_id = $10,
                           record = $11::json
         WHERE id = $1 AND (SELECT ok FROM go) RETURNING id),
     pay AS (
         UPDATE payments SET state = $12, version = $13, order_ref = $14, record = $15::json
         WHERE id = $3 AND (SELECT ok FROM go) RETURNING id),
     logged AS (
         INSERT INTO outbox (event, recorded_ns)
         SELECT e::json, $17 FROM unnest($16::text[]) WITH ORDINALITY AS u(e, n)
         WHERE (SELECT ok FROM go) ORDER BY n RETURNING 1)
     SELECT g.ok, (SELECT count(*) FROM ord) AS orders, (SELECT count(*) FROM pay) AS payments,
            (SELECT count(*) FROM logged) AS logged, s.*
     FROM go g LEFT JOIN sold s ON true";

/// Marks `paid` in one statement if its order is the common case; `Ok(false)` if the
/// statement found it is not (a stock line, a ticket no longer held by the order's hold, a
/// record not at its expected version) and wrote nothing: the caller takes the general path.
pub(crate) async fn mark_paid(
    pool: &PgPool,
    paid: &MarkPaid,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let record = &paid.order.next;
    let (order, hold) = (record.order.id(), record.hold);
    let mut tickets = Vec::with_capacity(record.lines.len());
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => tickets.push(ticket),
            ItemRef::Stock { .. } => return Ok(false),
        }
    }
    if tickets.is_empty() {
        return Ok(false);
    }
    let sell = TicketCommand::Sell { order };
    // Each ticket's sale as the machine makes it from the hold the statement requires.
    let mut events = paid.events.clone();
    for &id in &tickets {
        let held = TicketState::Held {
            order,
            hold,
            expires_at: record.order.expires_at(),
        };
        events.push(ticket_step(&Ticket::from_parts(id, held, 1), sell, now)?.event);
    }
    let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
    let payment = &paid.payment.next;
    let rows = sqlx::query(PAID)
        .bind(order.as_uuid())
        .bind(to_db(paid.order.expected)?)
        .bind(payment.payment.id().as_uuid())
        .bind(to_db(paid.payment.expected)?)
        .bind(&ids)
        .bind(hold.as_uuid())
        .bind(record.order.state().kind().name())
        .bind(to_db(record.order.version())?)
        .bind(nanos(record.order.expires_at())?)
        .bind(record.payment.map(|p| *p.as_uuid()))
        .bind(order_json(record)?)
        .bind(payment.payment.state().name())
        .bind(to_db(payment.payment.version())?)
        .bind(payment.order_ref.as_str())
        .bind(payment_json(payment)?)
        .bind(events_json(&events)?)
        .bind(nanos(now)?)
        .fetch_all(pool)
        .await
        .db(PG)?;
    let Some(first) = rows.first() else {
        return Err(DbError::corrupt(
            "order",
            "the paid statement returned no row",
        ))
        .db(PG);
    };
    if !first.try_get::<bool, _>("ok").db(PG)? {
        return Ok(false);
    }
    let count = |col: &str| -> Result<i64, StoreError> { first.try_get(col).db(PG) };
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if (count("orders")?, count("payments")?, count("logged")?) != (1, 1, n)
        || rows.len() != tickets.len()
    {
        return Err(DbError::corrupt(
            "order",
            "the paid statement wrote only part of it",
        ))
        .db(PG);
    }
    let template = events.split_off(paid.events.len());
    for row in &rows {
        let t = ticket_step(&ticket_in(row, OLD_TICKET)?, sell, now)?;
        agree("ticket", &t.next, &ticket_in(row, TICKET)?)?;
        let sold = t.next.id();
        let expected = template.iter().find(|e| sold_event_of(e) == Some(sold));
        agree("outbox event", &expected, &Some(&t.event))?;
    }
    Ok(true)
}

/// The ticket a `TicketSold` event names.
fn sold_event_of(event: &DomainEvent) -> Option<booking_core::ids::TicketId> {
    match event {
        DomainEvent::TicketSold { ticket, .. } => Some(*ticket),
        _ => None,
    }
}
