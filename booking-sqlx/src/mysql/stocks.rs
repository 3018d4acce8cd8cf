//! Counted stock and its hold records.
//!
//! A stock's row is the lock for its counts *and* for its hold records (which hold keeps how
//! many units until when, and how the hold ended: `active`, `released`, `expired`, `sold`).
//! A step locks the stocks it touches with one `SELECT … FOR UPDATE` in id order, reads and
//! writes their hold records under that lock, runs booking-core's stock machine on the
//! counts, and writes each stock back with a version check. The machine is what refuses a
//! hold that would break `held + sold <= capacity` (and the table's `CHECK` refuses it once
//! more), so buyers of one stock queue on its row and none can oversell it.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, StockId};
use booking_core::machine::{DomainEvent, Stock, StockCommand};
use booking_core::ports::backend::store::stock_refused;
use booking_core::ports::store::StoreError;
use sqlx::MySqlConnection;
use uuid::Uuid;

use super::MY;
use super::rows::{STOCK_COLUMNS, StockRow, marks};
use crate::codec::{from_db, nanos, to_db};
use crate::error::{Db, DbError};

/// A stock locked by this transaction, with its counts as the transaction changed them.
#[derive(Debug)]
pub(crate) struct LockedStock {
    stock: Stock,
    read_version: u64,
}

impl LockedStock {
    /// Applies `command`; on refusal the stock is unchanged.
    pub(crate) fn apply(
        &mut self,
        command: StockCommand,
        now: Timestamp,
    ) -> Result<DomainEvent, StoreError> {
        let id = self.stock.id();
        let t = self
            .stock
            .apply(command, now)
            .map_err(|e| stock_refused(id, e))?;
        self.stock = t.next;
        Ok(t.event)
    }

    /// Expires the lapsed holds of this stock at `now` (lazy expiry), oldest hold id first,
    /// returning their events.
    pub(crate) async fn reclaim_lapsed(
        &mut self,
        conn: &mut MySqlConnection,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, StoreError> {
        let id = *self.stock.id().as_uuid();
        let now_ns = nanos(now)?;
        let lapsed: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT hold_id, quantity FROM stock_holds
             WHERE stock_id = ? AND status = 'active' AND expires_ns <= ? ORDER BY hold_id",
        )
        .bind(id)
        .bind(now_ns)
        .fetch_all(&mut *conn)
        .await
        .db(MY)?;
        if lapsed.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "UPDATE stock_holds SET status = 'expired'
             WHERE stock_id = ? AND status = 'active' AND expires_ns <= ?",
        )
        .bind(id)
        .bind(now_ns)
        .execute(&mut *conn)
        .await
        .db(MY)?;
        let mut events = Vec::with_capacity(lapsed.len());
        for (hold, quantity) in lapsed {
            let hold = HoldId::from_uuid(hold);
            let quantity = from_db(quantity, "hold quantity").db(MY)?;
            events.push(self.apply(StockCommand::Expire { hold, quantity }, now)?);
        }
        Ok(events)
    }

    /// Writes the counts back if the transaction changed them.
    async fn save(&self, conn: &mut MySqlConnection) -> Result<(), StoreError> {
        if self.stock.version() == self.read_version {
            return Ok(());
        }
        let matched = sqlx::query(
            "UPDATE stocks SET held = ?, sold = ?, version = ? WHERE id = ? AND version = ?",
        )
        .bind(i64::from(self.stock.held()))
        .bind(i64::from(self.stock.sold()))
        .bind(to_db(self.stock.version())?)
        .bind(self.stock.id().as_uuid())
        .bind(to_db(self.read_version)?)
        .execute(conn)
        .await
        .db(MY)?
        .rows_affected();
        if matched == 1 {
            Ok(())
        } else {
            let what = format!("{} changed while locked", self.stock.id());
            Err(DbError::corrupt("stock", what)).db(MY)
        }
    }
}

/// The stocks `ids`, locked until the transaction ends (missing ones are absent).
pub(crate) async fn lock_stocks(
    conn: &mut MySqlConnection,
    ids: &[StockId],
) -> Result<HashMap<StockId, LockedStock>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT {STOCK_COLUMNS} FROM stocks WHERE id IN ({}) ORDER BY id FOR UPDATE",
        marks(ids.len(), "?")
    );
    let mut query = sqlx::query_as::<_, StockRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id.as_uuid());
    }
    let rows = query.fetch_all(conn).await.db(MY)?;
    rows.iter()
        .map(|row| {
            let stock = row.stock()?;
            let locked = LockedStock {
                read_version: stock.version(),
                stock,
            };
            Ok((locked.stock.id(), locked))
        })
        .collect()
}

/// A locked stock of `stocks`, or `NotFound`.
pub(crate) fn locked_stock(
    stocks: &mut HashMap<StockId, LockedStock>,
    id: StockId,
) -> Result<&mut LockedStock, StoreError> {
    stocks
        .get_mut(&id)
        .ok_or_else(|| StoreError::not_found("stock", id))
}

/// Writes back every stock the transaction changed.
pub(crate) async fn save_stocks(
    conn: &mut MySqlConnection,
    stocks: &HashMap<StockId, LockedStock>,
) -> Result<(), StoreError> {
    for stock in stocks.values() {
        stock.save(conn).await?;
    }
    Ok(())
}

/// Records `quantity` units of `stock` held by `hold` until `expires_at` (or, with
/// `status = "sold"`, sold at once after a lapsed hold was taken again). A record left by
/// the hold's earlier life is replaced.
pub(crate) async fn put_hold_record(
    conn: &mut MySqlConnection,
    (hold, stock): (HoldId, StockId),
    quantity: u32,
    expires_at: Timestamp,
    status: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_holds (hold_id, stock_id, quantity, expires_ns, status)
         VALUES (?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), expires_ns = VALUES(expires_ns),
                                 status = VALUES(status)",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(i64::from(quantity))
    .bind(nanos(expires_at)?)
    .bind(status)
    .execute(conn)
    .await
    .db(MY)?;
    Ok(())
}

/// Moves `hold`'s active record of `stock` to `status`; its quantity, or `None` if the hold
/// is no longer active (reclaimed by another order, or settled). The stock must be locked.
pub(crate) async fn settle_hold_record(
    conn: &mut MySqlConnection,
    (hold, stock): (HoldId, StockId),
    status: &'static str,
) -> Result<Option<u32>, StoreError> {
    let quantity: Option<i64> = sqlx::query_scalar(
        "SELECT quantity FROM stock_holds
         WHERE hold_id = ? AND stock_id = ? AND status = 'active'",
    )
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .db(MY)?;
    let Some(quantity) = quantity else {
        return Ok(None);
    };
    sqlx::query("UPDATE stock_holds SET status = ? WHERE hold_id = ? AND stock_id = ?")
        .bind(status)
        .bind(hold.as_uuid())
        .bind(stock.as_uuid())
        .execute(conn)
        .await
        .db(MY)?;
    Ok(Some(from_db(quantity, "hold quantity").db(MY)?))
}

/// Moves the deadline of `hold`'s record of `stock` if it is active and not lapsed at `now`;
/// whether it did.
pub(crate) async fn extend_hold_record(
    conn: &mut MySqlConnection,
    (hold, stock): (HoldId, StockId),
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let matched = sqlx::query(
        "UPDATE stock_holds SET expires_ns = ?
         WHERE hold_id = ? AND stock_id = ? AND status = 'active' AND expires_ns > ?",
    )
    .bind(nanos(expires_at)?)
    .bind(hold.as_uuid())
    .bind(stock.as_uuid())
    .bind(nanos(now)?)
    .execute(conn)
    .await
    .db(MY)?
    .rows_affected();
    Ok(matched == 1)
}
