//! The SQL of `expire_due` on MySQL, safe on many nodes at once (the sweep itself is
//! `crate::expiry_sweep`).
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index (on the
//! generated `due_ns` column, NULL once an order is paid or closed), oldest deadline first.
//! Each is then claimed with `FOR UPDATE SKIP LOCKED`, re-checking that it is still due: an
//! order another sweeper (or a paying buyer) holds is passed over instead of waited for, and
//! an order that moved on is not found again.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::{MySqlConnection, MySqlPool};
use uuid::Uuid;

use super::MY;
use super::rows::record;
use crate::codec::nanos;
use crate::error::Db;

/// `(id, deadline)` of at most `limit` unpaid orders due at `now_ns` after the cursor
/// `after`, oldest deadline first.
pub(super) async fn due_page(
    pool: &MySqlPool,
    now_ns: i64,
    after: (i64, Uuid),
    limit: i64,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    sqlx::query_as(
        "SELECT id, due_ns FROM orders
         WHERE due_ns <= ? AND (due_ns > ? OR (due_ns = ? AND id > ?))
         ORDER BY due_ns, id LIMIT ?",
    )
    .bind(now_ns)
    .bind(after.0)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await
    .db(MY)
}

/// Order `id`, locked, if it is still due and no other transaction holds it.
pub(super) async fn claim_due(
    conn: &mut MySqlConnection,
    id: OrderId,
    now: Timestamp,
) -> Result<Option<OrderRecord>, StoreError> {
    let claimed: Option<String> = sqlx::query_scalar(
        "SELECT record FROM orders WHERE id = ? AND due_ns <= ? FOR UPDATE SKIP LOCKED",
    )
    .bind(id.as_uuid())
    .bind(nanos(now)?)
    .fetch_optional(conn)
    .await
    .db(MY)?;
    claimed.map(|text| record(&text, "order")).transpose()
}
