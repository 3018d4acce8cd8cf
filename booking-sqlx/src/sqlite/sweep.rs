//! The SQL of `expire_due` on SQLite (the sweep itself is `crate::expiry_sweep`).
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first, outside any transaction. Each is then re-read inside its own write
//! transaction, checking it is still unpaid and due: a sweeper in another task or process
//! that got there first, or a buyer who paid meanwhile, leaves nothing to do. SQLite has no
//! `SKIP LOCKED`, so concurrent sweepers take turns one order at a time rather than working
//! side by side; each order is still expired once.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::types::Json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SQ;
use crate::codec::nanos;
use crate::error::Db;

/// `(id, deadline)` of at most `limit` unpaid orders due at `now_ns` after the cursor
/// `after`, oldest deadline first.
pub(super) async fn due_page(
    pool: &SqlitePool,
    now_ns: i64,
    after: (i64, Uuid),
    limit: i64,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    sqlx::query_as(
        "SELECT id, expires_ns FROM orders
         WHERE state IN ('Pending', 'AwaitingPayment') AND expires_ns <= ?
           AND (expires_ns, id) > (?, ?)
         ORDER BY expires_ns, id LIMIT ?",
    )
    .bind(now_ns)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await
    .db(SQ)
}

/// Order `id` if it is still unpaid and due; the write transaction keeps it so.
pub(super) async fn claim_due(
    conn: &mut SqliteConnection,
    id: OrderId,
    now: Timestamp,
) -> Result<Option<OrderRecord>, StoreError> {
    let due: Option<(Json<OrderRecord>,)> = sqlx::query_as(
        "SELECT record FROM orders
         WHERE id = ? AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= ?",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(conn)
    .await
    .db(SQ)?;
    Ok(due.map(|(Json(record),)| record))
}
