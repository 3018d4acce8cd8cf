//! Tickets and counted stock: the statements that hold, sell, release and expire them.
//!
//! The hot paths are single conditional statements whose `WHERE` is the machine's guard:
//! a hold of tickets takes only rows that are available or held by a lapsed hold, and a stock
//! count moves only while `held + sold <= capacity` stays true. The state machines then run
//! in Rust on the rows the statement changed, to produce the domain events and to check that
//! the database and the machine agree. Steps off the hot path (sell, release, refund) lock
//! the order's rows, run the machines and write back with a version check.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, StockId, TicketId};
use booking_core::machine::{DomainEvent, Stock, StockCommand, Ticket, TicketCommand};
use booking_core::ports::backend::store::stock_refused;
use booking_core::ports::store::StoreError;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PG;
use super::codec::{TICKET, TicketColumns, from_db, nanos, stock_in, ticket_in, to_db};
use crate::error::{Db, DbError};

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
) -> Result<booking_core::machine::Transition<Ticket>, StoreError> {
    ticket
        .apply(command, now)
        .map_err(|e| StoreError::refused("Ticket", e))
}

/// The tickets `ids`, locked until the transaction ends.
pub(crate) async fn lock_tickets(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<TicketId, Ticket>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT id, state, order_id, hold_id, expires_ns, version FROM tickets
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
    .db(PG)?;
    rows.iter()
        .map(|row| ticket_in(row, TICKET).map(|t| (t.id(), t)))
        .collect()
}

/// Writes tickets computed from locked rows, each only if its version is still `expected`.
pub(crate) async fn write_tickets(
    conn: &mut PgConnection,
    changes: &[(u64, Ticket)],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
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
         WHERE t.id = u.id AND t.version = u.expected",
    )
    .bind(ids)
    .bind(states)
    .bind(orders)
    .bind(holds)
    .bind(expires)
    .bind(versions)
    .bind(expected)
    .execute(conn)
    .await
    .db(PG)?
    .rows_affected();
    all_written(written, n, "ticket")
}

/// Fails unless a write of `n` rows the transaction has locked changed `written` of them:
/// only a change behind its back gets here.
pub(crate) fn all_written(written: u64, n: usize, what: &'static str) -> Result<(), StoreError> {
    if written == n as u64 {
        Ok(())
    } else {
        Err(DbError::corrupt(
            what,
            format!("a locked {what} changed during the transaction"),
        ))
        .db(PG)
    }
}

/// How a store step moves a stock's counts: `(held delta, sold delta, needs Open)`.
fn stock_deltas(command: StockCommand) -> Result<(i64, i64, bool), StoreError> {
    use StockCommand as C;
    Ok(match command {
        C::Hold { quantity, .. } => (i64::from(quantity), 0, true),
        C::Release { quantity, .. } | C::Expire { quantity, .. } => {
            (-i64::from(quantity), 0, false)
        }
        C::Sell { quantity, .. } => (-i64::from(quantity), i64::from(quantity), false),
        C::Refund { quantity, .. } => (0, -i64::from(quantity), false),
        C::SetCapacity { .. } | C::Close | C::Reopen => {
            return Err(StoreError::Invalid(format!(
                "{} is not a booking store step",
                command.kind()
            )));
        }
    })
}

/// How often a stock step re-runs its statement when the row moved between the statement
/// and the read that explains its refusal.
const STOCK_ATTEMPTS: usize = 3;

/// Applies `command` to stock `id` as one conditional update of its counts; returns its event.
pub(crate) async fn apply_stock(
    conn: &mut PgConnection,
    id: StockId,
    command: StockCommand,
    now: Timestamp,
) -> Result<DomainEvent, StoreError> {
    let (held, sold, open) = stock_deltas(command)?;
    for _ in 0..STOCK_ATTEMPTS {
        let moved = sqlx::query(
            "UPDATE stocks SET held = held + $2, sold = sold + $3, version = version + 1
             WHERE id = $1 AND held + $2 >= 0 AND sold + $3 >= 0
               AND held + sold + $2 + $3 <= capacity AND (state = 'Open' OR NOT $4)
             RETURNING id, state, capacity, held, sold, version",
        )
        .bind(id.as_uuid())
        .bind(held)
        .bind(sold)
        .bind(open)
        .fetch_optional(&mut *conn)
        .await
        .db(PG)?;
        if let Some(row) = moved {
            let after = stock_in(&row)?;
            let before = Stock::from_parts(
                id,
                after.state(),
                after.capacity(),
                from_db(i64::from(after.held()) - held, "stock held").db(PG)?,
                from_db(i64::from(after.sold()) - sold, "stock sold").db(PG)?,
                after.version().saturating_sub(1),
            )
            .map_err(|e| DbError::corrupt("stock", e))
            .db(PG)?;
            let t = before
                .apply(command, now)
                .map_err(|e| stock_refused(id, e))?;
            agree("stock", &t.next, &after)?;
            return Ok(t.event);
        }
        // Refused: the machine, run on the row as it is now, says why.
        let row = sqlx::query(
            "SELECT id, state, capacity, held, sold, version FROM stocks WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .db(PG)?
        .ok_or_else(|| StoreError::not_found("stock", id))?;
        if let Err(e) = stock_in(&row)?.apply(command, now) {
            return Err(stock_refused(id, e));
        }
    }
    Err(StoreError::Busy(format!("stock {id} kept changing")))
}

/// Expires the lapsed holds of `stock` at `now` (lazy expiry), returning their events.
pub(crate) async fn reclaim_lapsed(
    conn: &mut PgConnection,
    stock: StockId,
    now: Timestamp,
) -> Result<Vec<DomainEvent>, StoreError> {
    // Concurrent reclaimers block on the same hold rows and skip them once expired, so each
    // lapsed hold is given back once.
    let rows = sqlx::query(
        "UPDATE stock_holds SET status = 'expired'
         WHERE stock_id = $1 AND status = 'active' AND expires_ns <= $2
         RETURNING hold_id, quantity",
    )
    .bind(stock.as_uuid())
    .bind(nanos(now)?)
    .fetch_all(&mut *conn)
    .await
    .db(PG)?;
    let mut lapsed = rows
        .iter()
        .map(|row| {
            let hold = HoldId::from_uuid(row.try_get("hold_id").db(PG)?);
            let quantity: u32 = from_db(row.try_get("quantity").db(PG)?, "hold quantity").db(PG)?;
            Ok((hold, quantity))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    lapsed.sort_unstable();
    let mut events = Vec::with_capacity(lapsed.len());
    for (hold, quantity) in lapsed {
        events.push(apply_stock(conn, stock, StockCommand::Expire { hold, quantity }, now).await?);
    }
    Ok(events)
}

/// Fails unless the machine's next state is what the statement wrote.
pub(crate) fn agree<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    machine: &T,
    stored: &T,
) -> Result<(), StoreError> {
    if machine == stored {
        Ok(())
    } else {
        Err(DbError::corrupt(
            what,
            format!("machine computed {machine:?}, database wrote {stored:?}"),
        ))
        .db(PG)
    }
}

/// The step that frees `ticket` from `hold` — its expiry if `expire` and the hold's deadline
/// has passed at `now`, else its release — or `None` if `hold` no longer holds it (taken over
/// by another order after the hold lapsed).
pub(crate) fn free_step(
    ticket: &Ticket,
    hold: HoldId,
    expire: bool,
    now: Timestamp,
) -> Result<Option<booking_core::machine::Transition<Ticket>>, StoreError> {
    let Some((_, expires_at)) = held_by(ticket, hold) else {
        return Ok(None);
    };
    let command = if expire && expires_at <= now {
        TicketCommand::Expire
    } else {
        TicketCommand::Release { hold }
    };
    ticket_step(ticket, command, now).map(Some)
}

/// The order a ticket is held for, if `hold` holds it.
pub(crate) fn held_by(ticket: &Ticket, hold: HoldId) -> Option<(OrderId, Timestamp)> {
    match ticket.state() {
        booking_core::machine::TicketState::Held {
            order,
            hold: h,
            expires_at,
        } if h == hold => Some((order, expires_at)),
        _ => None,
    }
}
