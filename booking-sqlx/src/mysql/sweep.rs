//! The SQL of `expire_due` on MySQL, safe on many nodes at once (the sweep itself is
//! `crate::store::expiry`).
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index (on the
//! generated `due_ns` column, NULL once an order is paid or closed), oldest deadline first.
//! Each is then claimed with `FOR UPDATE SKIP LOCKED`, re-checking that it is still due: an
//! order another sweeper (or a paying buyer) holds is passed over instead of waited for, and
//! an order that moved on is not found again.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::ports::store::{ExpirySweep, OrderRecord, StoreError};
use sqlx::{MySql, MySqlConnection, MySqlPool};
use uuid::Uuid;

use super::MY;
use crate::codec::{nanos, order_of};
use crate::error::Db;
use crate::store::database::{DuePages, Sweep};
use crate::store::expiry;

impl Sweep for MySql {
    async fn expire_due(
        pool: &MySqlPool,
        now: Timestamp,
        batch: u32,
    ) -> Result<ExpirySweep, StoreError> {
        expiry::expire_due(pool, now, batch).await
    }

    /// Locked, and only if no other transaction holds it (`SKIP LOCKED`).
    async fn claim_due(
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
        claimed.map(|text| order_of(&text).db(MY)).transpose()
    }
}

impl DuePages for MySql {
    async fn due_page(
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
}
