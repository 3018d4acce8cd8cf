//! The hot path of `place_order` on MySQL: a pending order of distinct tickets placed in the
//! fewest round trips MariaDB allows.
//!
//! MariaDB has no `UPDATE … RETURNING` and no multi-statement prepared statements, so one
//! statement cannot both take the seats and say what they were. The order goes in one short
//! transaction of four statements: insert the order row (a taken id fails with a duplicate
//! key; rows are locked order first, as on every path), lock the free tickets with
//! `FOR UPDATE SKIP LOCKED` (a ticket another transaction holds is passed over instead of
//! waited for), write the hold to all of them in one `UPDATE`, append the events. Nothing is written unless every ticket was
//! free; a refused order is explained by plain reads after its transaction rolled back. If one
//! of the tickets passed over is free as last committed (its locker is still at work), the
//! order goes to the general path, which waits for that writer and answers exactly.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::TicketId;
use booking_core::machine::{Ticket, TicketCommand};
use booking_core::ports::backend::store::check_lines;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::{MySql, MySqlConnection, MySqlPool};
use uuid::Uuid;

use super::MY;
use super::place::events_in;
use super::records::insert_order;
use super::rows::marks;
use super::store::begin;
use super::tickets::{FREE, lock_free_skipping, step};
use crate::codec::{TicketColumns, nanos};
use crate::error::{Db, DbError};
use crate::store::database::Outbox;
use crate::store::rules::listed_event;

/// Places the pending order `record` of the distinct `tickets` (in line order) on `pool`.
/// Reports as the general path does: the order id taken, else an unknown ticket or one of
/// another event, else every ticket that was not free, in line order. `Ok(false)`: nothing
/// was written, and a ticket free as last committed was locked by another transaction: only
/// the general path, which waits for it, can answer exactly, so the caller takes it.
pub(crate) async fn place_tickets(
    pool: &MySqlPool,
    record: &OrderRecord,
    tickets: &[TicketId],
    now: Timestamp,
) -> Result<bool, StoreError> {
    let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
    let mut tx = begin(pool).await.db(MY)?;
    // The order row first, as on the general path: a repeat of this order waits here for the
    // first (then fails with a duplicate key), never while holding tickets the first wants.
    insert_order(&mut tx, record).await?;
    let free = lock_free_skipping(&mut tx, &ids, record.event, now).await?;
    if free.len() == ids.len() {
        hold_all(&mut tx, record, tickets, &free, now).await?;
        return tx.commit().await.db(MY).map(|()| true);
    }
    tx.rollback().await.db(MY)?;
    refusal(pool, record, tickets, &free, now).await
}

/// Holds every ticket of `tickets` (all in `free`, locked) for `record`, whose row the caller
/// inserted, and appends the events, inside the caller's transaction.
async fn hold_all(
    conn: &mut MySqlConnection,
    record: &OrderRecord,
    tickets: &[TicketId],
    free: &HashMap<TicketId, Ticket>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (order, hold, expires_at) = (record.order.id(), record.hold, record.order.expires_at());
    let command = TicketCommand::Hold {
        order,
        hold,
        expires_at,
    };
    let mut events = Vec::with_capacity(tickets.len());
    let written = TicketColumns {
        state: "Held",
        order: Some(*order.as_uuid()),
        hold: Some(*hold.as_uuid()),
        expires_ns: Some(nanos(expires_at)?),
        version: 0,
    };
    for id in tickets {
        let before = free
            .get(id)
            .ok_or_else(|| StoreError::not_found("ticket", id))?;
        let t = step(before, command, now)?;
        // The one `UPDATE` below writes the same hold to every ticket and bumps each version:
        // only if that is the machine's next state for each of them.
        let next = TicketColumns::of(&t.next)?;
        let bumped = TicketColumns::of(before)?.version.checked_add(1);
        if (next.state, next.order, next.hold, next.expires_ns)
            != (
                written.state,
                written.order,
                written.hold,
                written.expires_ns,
            )
            || Some(next.version) != bumped
        {
            return Err(DbError::corrupt(
                "ticket",
                format!("the hold of {id} is not a plain hold"),
            ))
            .db(MY);
        }
        events.push(t.event);
    }
    let sql = format!(
        "UPDATE tickets SET state = ?, order_id = ?, hold_id = ?, expires_ns = ?,
                            version = version + 1
         WHERE id IN ({})",
        marks(tickets.len(), "?")
    );
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(written.state)
        .bind(written.order)
        .bind(written.hold)
        .bind(written.expires_ns);
    for id in tickets {
        update = update.bind(*id.as_uuid());
    }
    let matched = update.execute(&mut *conn).await.db(MY)?.rows_affected();
    if matched != tickets.len() as u64 {
        return Err(DbError::corrupt(
            "ticket",
            "a locked ticket changed during the hold",
        ))
        .db(MY);
    }
    MySql::append_outbox(conn, &events, now).await
}

/// Why `record` was not placed, read after its transaction rolled back: its id taken, else
/// an invalid line, else every ticket missing from `free`, in line order; `Ok(false)` if one
/// of those is free as last committed (it was locked by a writer still at work).
async fn refusal(
    pool: &MySqlPool,
    record: &OrderRecord,
    tickets: &[TicketId],
    free: &HashMap<TicketId, Ticket>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await.db(MY)?;
    let unavailable: Vec<TicketId> = tickets
        .iter()
        .filter(|t| !free.contains_key(t))
        .copied()
        .collect();
    // The tickets first, then the order id: a twin of this order that took the tickets has
    // committed its order row with them, so the second read sees it.
    let sql = format!(
        "SELECT COUNT(*) FROM tickets WHERE id IN ({}) AND event_id = ? {FREE}",
        marks(unavailable.len(), "?")
    );
    let mut still_free = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    for id in &unavailable {
        still_free = still_free.bind(*id.as_uuid());
    }
    let still_free = still_free
        .bind(record.event.as_uuid())
        .bind(nanos(now)?)
        .fetch_one(&mut *conn)
        .await
        .db(MY)?;
    let id = record.order.id();
    let taken: Option<i32> = sqlx::query_scalar("SELECT 1 FROM orders WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .db(MY)?;
    if taken.is_some() {
        return Err(StoreError::AlreadyExists {
            what: "order",
            id: id.to_string(),
        });
    }
    let ids: Vec<Uuid> = tickets.iter().map(|t| *t.as_uuid()).collect();
    let listed = events_in(&mut conn, "tickets", &ids).await?;
    check_lines(record, |item| listed_event(item, &listed, &HashMap::new()))?;
    if still_free > 0 {
        return Ok(false);
    }
    Err(StoreError::Unavailable {
        tickets: unavailable,
    })
}
