//! Counted stock on PostgreSQL: the conditional updates of a stock's counts, and the stock
//! hold records (which hold keeps how many units of a stock, until when, and how the hold
//! ended: `active`, `released`, `expired`, `sold`).
//!
//! A count moves only while `held + sold <= capacity` stays true, in one statement; the stock
//! machine then runs on the row before and after to produce the event and check that the
//! database and the machine agree. The counts a hold record stands for live on the stock row;
//! callers change both in one transaction, the hold record first.

use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, StockId};
use booking_core::machine::{DomainEvent, Stock, StockCommand};
use booking_core::ports::backend::store::stock_refused;
use booking_core::ports::store::StoreError;
use sqlx::{PgConnection, Row};

use super::PG;
use super::rows::{agree, stock_in};
use crate::codec::{from_db, nanos};
use crate::error::{Db, DbError};

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

/// Records `quantity` units of `stock` held by `hold` until `expires_at`.
pub(crate) async fn insert_stock_hold(
    conn: &mut PgConnection,
    hold: HoldId,
    stock: StockId,
    quantity: u32,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_holds (hold_id, stock_id, quantity, expires_ns, status)
         VALUES ($1, $2, $3, $4, 'active')",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(i64::from(quantity))
    .bind(nanos(expires_at)?)
    .execute(conn)
    .await
    .db(PG)?;
    Ok(())
}

/// Moves `hold`'s active record of `stock` to `status`; its quantity, or `None` if the hold
/// is no longer active (reclaimed by another order, or settled).
pub(crate) async fn settle_stock_hold(
    conn: &mut PgConnection,
    hold: HoldId,
    stock: StockId,
    status: &'static str,
) -> Result<Option<u32>, StoreError> {
    let row = sqlx::query(
        "UPDATE stock_holds SET status = $3
         WHERE hold_id = $1 AND stock_id = $2 AND status = 'active' RETURNING quantity",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(status)
    .fetch_optional(conn)
    .await
    .db(PG)?;
    row.map(|r| from_db(r.try_get("quantity").db(PG)?, "hold quantity").db(PG))
        .transpose()
}

/// Records `hold`'s units of `stock` as sold after they were taken again at `now`.
pub(crate) async fn record_retaken_sale(
    conn: &mut PgConnection,
    hold: HoldId,
    stock: StockId,
    quantity: u32,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_holds (hold_id, stock_id, quantity, expires_ns, status)
         VALUES ($1, $2, $3, $4, 'sold')
         ON CONFLICT (hold_id, stock_id) DO UPDATE SET status = 'sold', quantity = $3",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(i64::from(quantity))
    .bind(nanos(now)?)
    .execute(conn)
    .await
    .db(PG)?;
    Ok(())
}

/// Moves the deadline of `hold`'s record of `stock` if it is active and not lapsed at `now`;
/// whether it did.
pub(crate) async fn extend_stock_hold(
    conn: &mut PgConnection,
    hold: HoldId,
    stock: StockId,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let moved = sqlx::query(
        "UPDATE stock_holds SET expires_ns = $3
         WHERE hold_id = $1 AND stock_id = $2 AND status = 'active' AND expires_ns > $4",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(nanos(expires_at)?)
    .bind(nanos(now)?)
    .execute(conn)
    .await
    .db(PG)?
    .rows_affected();
    Ok(moved == 1)
}
