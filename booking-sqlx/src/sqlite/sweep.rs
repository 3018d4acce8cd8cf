//! The SQL of `expire_due` on SQLite (the sweep itself is `crate::store::expiry`).
//!
//! Due orders are read a page at a time from the `orders_unpaid_by_deadline` index, oldest
//! deadline first, outside any transaction. Each is then re-read inside its own write
//! transaction, checking it is still unpaid and due: a sweeper in another task or process
//! that got there first, or a buyer who paid meanwhile, leaves nothing to do. SQLite has no
//! `SKIP LOCKED`, so concurrent sweepers take turns one order at a time rather than working
//! side by side; each order is still expired once.

use booking_core::clock::Timestamp;
use booking_core::ids::OrderId;
use booking_core::ports::store::{ExpirySweep, OrderRecord, StoreError};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SQ;
use crate::codec::{nanos, order_of};
use crate::error::Db;
use crate::store::database::{DuePages, Sweep};
use crate::store::expiry;

impl Sweep for Sqlite {
    async fn expire_due(
        pool: &SqlitePool,
        now: Timestamp,
        batch: u32,
    ) -> Result<ExpirySweep, StoreError> {
        expiry::expire_due(pool, now, batch).await
    }

    /// The write transaction keeps the order as read.
    async fn claim_due(
        conn: &mut SqliteConnection,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let due: Option<String> = sqlx::query_scalar(
            "SELECT record FROM orders
             WHERE id = ? AND state IN ('Pending', 'AwaitingPayment') AND expires_ns <= ?",
        )
        .bind(id.as_uuid())
        .bind(nanos(now)?)
        .fetch_optional(conn)
        .await
        .db(SQ)?;
        due.map(|text| order_of(&text).db(SQ)).transpose()
    }
}

impl DuePages for Sqlite {
    async fn due_page(
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
}
