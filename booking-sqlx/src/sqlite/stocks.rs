//! Stock counts and stock hold records, read and written inside a write transaction.
//!
//! Callers read a row, run its state machine in Rust and write the machine's next state back
//! with `WHERE version = ?`: the write lock the transaction holds since `BEGIN IMMEDIATE`
//! keeps the row as read, and the version check would catch a row changed behind its back.

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, StockId};
use booking_core::machine::{DomainEvent, Kind, Stock, StockCommand};
use booking_core::ports::backend::store::stock_refused;
use booking_core::ports::store::StoreError;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::SQ;
use super::rows::{STOCK_COLUMNS, StockRow, one_row, stock_of_row};
use crate::codec::{from_db, nanos, to_db};
use crate::error::Db;

/// The stock `id` and its event, if listed.
pub(super) async fn find_stock(
    conn: &mut SqliteConnection,
    id: StockId,
) -> Result<Option<(Stock, EventId)>, StoreError> {
    let sql = format!("SELECT {STOCK_COLUMNS} FROM stocks WHERE id = ?");
    let row: Option<StockRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db(SQ)?;
    row.map(|row| Ok((stock_of_row(&row)?, EventId::from_uuid(row.6))))
        .transpose()
}

/// Applies `command` to stock `id` and writes the result; returns its event. A refusal is
/// `InsufficientStock` or `Refused`; an unknown stock `NotFound`.
pub(super) async fn apply_stock(
    conn: &mut SqliteConnection,
    id: StockId,
    command: StockCommand,
    now: Timestamp,
) -> Result<DomainEvent, StoreError> {
    let (stock, _) = find_stock(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("stock", id))?;
    let t = stock
        .apply(command, now)
        .map_err(|e| stock_refused(id, e))?;
    let next = t.next;
    let written = sqlx::query(
        "UPDATE stocks SET state = ?, capacity = ?, held = ?, sold = ?, version = ?
         WHERE id = ? AND version = ?",
    )
    .bind(next.state().name())
    .bind(i64::from(next.capacity()))
    .bind(i64::from(next.held()))
    .bind(i64::from(next.sold()))
    .bind(to_db(next.version())?)
    .bind(id.as_uuid())
    .bind(to_db(stock.version())?)
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    one_row("stock", written)?;
    Ok(t.event)
}

/// How a stock hold record ended, or that it is still active.
pub(super) mod status {
    /// Holding its units.
    pub(crate) const ACTIVE: &str = "active";
    /// Given back by a cancel.
    pub(crate) const RELEASED: &str = "released";
    /// Given back after its deadline (by the sweep or a later order).
    pub(crate) const EXPIRED: &str = "expired";
    /// Its units were sold.
    pub(crate) const SOLD: &str = "sold";
}

/// One stock hold record: its quantity, deadline and status.
#[derive(Debug, Clone)]
pub(super) struct HoldRecord {
    pub(super) quantity: u32,
    pub(super) expires_ns: i64,
    pub(super) status: String,
}

impl HoldRecord {
    /// Whether the hold still keeps its units.
    pub(super) fn is_active(&self) -> bool {
        self.status == status::ACTIVE
    }
}

/// `hold`'s record of `stock`, if it has one.
pub(super) async fn stock_hold(
    conn: &mut SqliteConnection,
    hold: HoldId,
    stock: StockId,
) -> Result<Option<HoldRecord>, StoreError> {
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT quantity, expires_ns, status FROM stock_holds WHERE hold_id = ? AND stock_id = ?",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .fetch_optional(conn)
    .await
    .db(SQ)?;
    row.map(|(quantity, expires_ns, status)| {
        Ok(HoldRecord {
            quantity: from_db(quantity, "hold quantity").db(SQ)?,
            expires_ns,
            status,
        })
    })
    .transpose()
}

/// Writes `hold`'s record of `stock`, replacing any earlier one.
pub(super) async fn put_stock_hold(
    conn: &mut SqliteConnection,
    hold: HoldId,
    stock: StockId,
    record: &HoldRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_holds (hold_id, stock_id, quantity, expires_ns, status)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (hold_id, stock_id) DO UPDATE
         SET quantity = excluded.quantity, expires_ns = excluded.expires_ns,
             status = excluded.status",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(i64::from(record.quantity))
    .bind(record.expires_ns)
    .bind(&record.status)
    .execute(conn)
    .await
    .db(SQ)?;
    Ok(())
}

/// Gives back the units of every lapsed active hold of `stock` at `now` (lazy expiry),
/// oldest deadline first; returns their events.
pub(super) async fn reclaim_lapsed(
    conn: &mut SqliteConnection,
    stock: StockId,
    now: Timestamp,
) -> Result<Vec<DomainEvent>, StoreError> {
    let lapsed: Vec<(Uuid, i64)> = sqlx::query_as(
        "UPDATE stock_holds SET status = 'expired'
         WHERE stock_id = ? AND status = 'active' AND expires_ns <= ?
         RETURNING hold_id, quantity",
    )
    .bind(stock.as_uuid())
    .bind(nanos(now)?)
    .fetch_all(&mut *conn)
    .await
    .db(SQ)?;
    let mut events = Vec::with_capacity(lapsed.len());
    for (hold, quantity) in lapsed {
        let command = StockCommand::Expire {
            hold: HoldId::from_uuid(hold),
            quantity: from_db(quantity, "hold quantity").db(SQ)?,
        };
        events.push(apply_stock(conn, stock, command, now).await?);
    }
    Ok(events)
}
