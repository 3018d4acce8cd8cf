//! Stock hold records: which hold keeps how many units of a stock, until when, and how the
//! hold ended (`active`, `released`, `expired`, `sold`). The counts they stand for live on
//! the stock row; callers change both in one transaction, the hold record first.

use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, StockId};
use booking_core::ports::store::StoreError;
use sqlx::{PgConnection, Row};

use super::PG;
use super::codec::{from_db, nanos};
use crate::error::Db;

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
