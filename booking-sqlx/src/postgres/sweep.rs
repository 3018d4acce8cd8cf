//! The SQL of `expire_due` on PostgreSQL, safe on many nodes at once (the sweep itself is
//! `crate::expiry_sweep`).
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index. Each is
//! then claimed with `FOR UPDATE SKIP LOCKED`, re-checking that it is still unpaid and due:
//! an order another sweeper (or a paying buyer) holds is passed over instead of waited for,
//! and an order that moved on is not found again.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::PG;
use super::codec::nanos;
use crate::error::Db;

/// `(id, deadline)` of at most `limit` unpaid orders due at `now_ns` after the cursor
/// `after`, oldest deadline first.
pub(super) async fn due_page(
    pool: &PgPool,
    now_ns: i64,
    after: (i64, Uuid),
    limit: i64,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    sqlx::query_as(
        "SELECT id, expires_ns FROM orders
         WHERE state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $1
           AND (expires_ns, id) > ($2, $3)
         ORDER BY expires_ns, id LIMIT $4",
    )
    .bind(now_ns)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await
    .db(PG)
}

/// Order `id`, locked, if it is still unpaid and due and no other transaction holds it.
pub(super) async fn claim_due(
    conn: &mut PgConnection,
    id: OrderId,
    now: Timestamp,
) -> Result<Option<OrderRecord>, StoreError> {
    let claimed: Option<(Json<OrderRecord>,)> = sqlx::query_as(
        "SELECT record FROM orders
         WHERE id = $1 AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(conn)
    .await
    .db(PG)?;
    Ok(claimed.map(|(Json(record),)| record))
}
