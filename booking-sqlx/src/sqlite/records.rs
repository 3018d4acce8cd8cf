//! Orders and payments on SQLite: inserts, reads at an expected version, and version
//! compare-and-set.
//!
//! The whole record is JSON text in booking-core's stored form (`record`) beside the columns
//! the sweep and reconciliation read. A compare-and-set reads the stored version, then writes
//! `WHERE version = ?`: inside a write transaction nothing changes in between, so the write
//! changes exactly the row read.

use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::{Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{Cas, OrderRecord, PaymentRecord, StoreError};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SQ;
use super::rows::{inserted, one_row};
use crate::codec::{nanos, order_json, order_of, payment_json, payment_of, to_db};
use crate::error::Db;
use crate::store::database::Records;
use crate::store::pages::OrdersOf;

/// Inserts a new order; `AlreadyExists` if its id is taken.
pub(super) async fn insert_order(
    conn: &mut SqliteConnection,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let order = &record.order;
    let rows = sqlx::query(
        "INSERT INTO orders
             (id, event_id, user_id, hold_id, state, version, expires_ns, payment_id, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(order.id().as_uuid())
    .bind(record.event.as_uuid())
    .bind(record.user.as_uuid())
    .bind(record.hold.as_uuid())
    .bind(order.state().kind().name())
    .bind(to_db(order.version())?)
    .bind(nanos(order.expires_at())?)
    .bind(record.payment.map(|p| *p.as_uuid()))
    .bind(order_json(record)?)
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    inserted("order", order.id(), rows)
}

/// The stored order `id`, or `NotFound`.
async fn find_order(conn: &mut SqliteConnection, id: OrderId) -> Result<OrderRecord, StoreError> {
    let text: String = sqlx::query_scalar("SELECT record FROM orders WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db(SQ)?
        .ok_or_else(|| StoreError::not_found("order", id))?;
    order_of(&text).db(SQ)
}

/// The stored payment `id`, or `NotFound`.
async fn find_payment(
    conn: &mut SqliteConnection,
    id: PaymentId,
) -> Result<PaymentRecord, StoreError> {
    let text: String = sqlx::query_scalar("SELECT record FROM payments WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db(SQ)?
        .ok_or_else(|| StoreError::not_found("payment", id))?;
    payment_of(&text).db(SQ)
}

/// The records stored in `texts`, in their order.
fn orders(texts: Vec<String>) -> Result<Vec<OrderRecord>, StoreError> {
    texts.iter().map(|t| order_of(t).db(SQ)).collect()
}

impl Records for Sqlite {
    async fn order(pool: &SqlitePool, id: OrderId) -> Result<OrderRecord, StoreError> {
        find_order(&mut *pool.acquire().await.db(SQ)?, id).await
    }

    async fn order_page(
        pool: &SqlitePool,
        of: OrdersOf,
        upto: Uuid,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        // The column name comes from `OrdersOf`, never from input.
        let sql = format!(
            "SELECT record FROM orders WHERE {} = ? AND id <= ? ORDER BY id DESC LIMIT ?",
            of.column()
        );
        let texts = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(of.id())
            .bind(upto)
            .bind(limit)
            .fetch_all(pool)
            .await
            .db(SQ)?;
        orders(texts)
    }

    async fn payment(pool: &SqlitePool, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        find_payment(&mut *pool.acquire().await.db(SQ)?, id).await
    }

    async fn payment_by_order_ref(
        pool: &SqlitePool,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let text: String = sqlx::query_scalar("SELECT record FROM payments WHERE order_ref = ?")
            .bind(order_ref.as_str())
            .fetch_optional(pool)
            .await
            .db(SQ)?
            .ok_or_else(|| StoreError::not_found("payment", order_ref))?;
        payment_of(&text).db(SQ)
    }

    async fn payments_in(
        pool: &SqlitePool,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        // The state names are JSON text of the machine's own names, never input.
        let names = serde_json::to_string(&states.iter().map(|s| s.name()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let texts: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM payments WHERE state IN (SELECT value FROM json_each(?))
             ORDER BY id LIMIT ?",
        )
        .bind(names)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(SQ)?;
        texts.iter().map(|t| payment_of(t).db(SQ)).collect()
    }

    /// Reading is locking: the write transaction holds the database's write lock.
    async fn lock_order(
        conn: &mut SqliteConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<OrderRecord, StoreError> {
        let id = change.next.order.id();
        let record = find_order(conn, id).await?;
        if record.version() != change.expected {
            return Err(StoreError::version_conflict("order", id, change.expected));
        }
        Ok(record)
    }

    async fn lock_payment(
        conn: &mut SqliteConnection,
        id: PaymentId,
    ) -> Result<PaymentRecord, StoreError> {
        find_payment(conn, id).await
    }

    async fn cas_order(
        conn: &mut SqliteConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<(), StoreError> {
        Self::lock_order(conn, change).await?;
        let next = &change.next;
        let order = &next.order;
        let written = sqlx::query(
            "UPDATE orders SET state = ?, version = ?, expires_ns = ?, payment_id = ?, record = ?
             WHERE id = ? AND version = ?",
        )
        .bind(order.state().kind().name())
        .bind(to_db(order.version())?)
        .bind(nanos(order.expires_at())?)
        .bind(next.payment.map(|p| *p.as_uuid()))
        .bind(order_json(next)?)
        .bind(order.id().as_uuid())
        .bind(to_db(change.expected)?)
        .execute(&mut *conn)
        .await
        .db(SQ)?
        .rows_affected();
        one_row("order", written)
    }

    async fn cas_payment(
        conn: &mut SqliteConnection,
        change: &Cas<PaymentRecord>,
    ) -> Result<(), StoreError> {
        let id = change.next.payment.id();
        if find_payment(conn, id).await?.version() != change.expected {
            return Err(StoreError::version_conflict("payment", id, change.expected));
        }
        let next = &change.next;
        let payment = &next.payment;
        let written = sqlx::query(
            "UPDATE payments SET state = ?, version = ?, order_ref = ?, record = ?
             WHERE id = ? AND version = ?",
        )
        .bind(payment.state().name())
        .bind(to_db(payment.version())?)
        .bind(next.order_ref.as_str())
        .bind(payment_json(next)?)
        .bind(payment.id().as_uuid())
        .bind(to_db(change.expected)?)
        .execute(&mut *conn)
        .await
        .db(SQ)?
        .rows_affected();
        one_row("payment", written)
    }

    async fn insert_payment(
        conn: &mut SqliteConnection,
        record: &PaymentRecord,
    ) -> Result<(), StoreError> {
        let payment = &record.payment;
        let rows = sqlx::query(
            "INSERT INTO payments (id, order_id, order_ref, state, version, record)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(payment.id().as_uuid())
        .bind(payment.order().as_uuid())
        .bind(record.order_ref.as_str())
        .bind(payment.state().name())
        .bind(to_db(payment.version())?)
        .bind(payment_json(record)?)
        .execute(conn)
        .await
        .db(SQ)?
        .rows_affected();
        inserted("payment", payment.id(), rows)
    }
}
