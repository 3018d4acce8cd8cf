//! Orders and payments: inserts, locked reads and version compare-and-set.
//!
//! A record's columns hold what conditions and indexes read (state, version, deadline, ids);
//! the whole record is JSON beside them, in booking-core's stored form. Every write is `UPDATE … WHERE id = ? AND version =
//! ?`, and the new version always differs from the old, so a matched row is a changed row
//! and of two writers that read one version exactly one gets a count of 1.

use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::{Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{Cas, OrderRecord, PaymentRecord, StoreError};
use sqlx::{MySql, MySqlConnection, MySqlPool, Row};
use uuid::Uuid;

use super::MY;
use super::rows::marks;
use crate::codec::{nanos, order_json, order_of, payment_json, payment_of, to_db};
use crate::error::{Db, DbError, Failure};
use crate::store::database::Records;
use crate::store::pages::OrdersOf;
use crate::store::writes::cas_missed;

/// Inserts a new order; `AlreadyExists` if its id is taken. A concurrent insert of the same
/// id waits for this transaction and then fails.
pub(crate) async fn insert_order(
    conn: &mut MySqlConnection,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let order = &record.order;
    let inserted = sqlx::query(
        "INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .await;
    taken_is_exists(inserted, "order", order.id())
}

/// A duplicate key as `AlreadyExists { what, id }`; any other failure as the store's error.
fn taken_is_exists<T>(
    result: Result<T, sqlx::Error>,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => match DbError::Sql(e).classify(MY) {
            Failure::Unique { .. } => Err(StoreError::AlreadyExists {
                what,
                id: id.to_string(),
            }),
            other => Err(other.into_store(MY)),
        },
    }
}

/// Whether `exists` (a count of one id) finds record `id`.
async fn stored(
    conn: &mut MySqlConnection,
    exists: &'static str,
    id: impl Into<Uuid>,
) -> Result<bool, StoreError> {
    let count = sqlx::query_scalar::<_, i64>(exists)
        .bind(id.into())
        .fetch_one(conn)
        .await
        .db(MY)?;
    Ok(count > 0)
}

impl Records for MySql {
    /// The stored order `change` is based on, locked until the transaction ends; `NotFound` or
    /// `VersionConflict` if it is missing or has moved on.
    async fn lock_order(
        conn: &mut MySqlConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<OrderRecord, StoreError> {
        let id = change.next.order.id();
        let row = sqlx::query("SELECT version, record FROM orders WHERE id = ? FOR UPDATE")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .db(MY)?
            .ok_or_else(|| StoreError::not_found("order", id))?;
        if row.try_get::<i64, _>("version").db(MY)? != to_db(change.expected)? {
            return Err(StoreError::version_conflict("order", id, change.expected));
        }
        order_of(&row.try_get::<String, _>("record").db(MY)?).db(MY)
    }

    /// The stored payment `id`, locked until the transaction ends.
    async fn lock_payment(
        conn: &mut MySqlConnection,
        id: PaymentId,
    ) -> Result<PaymentRecord, StoreError> {
        let text: String =
            sqlx::query_scalar("SELECT record FROM payments WHERE id = ? FOR UPDATE")
                .bind(id.as_uuid())
                .fetch_optional(conn)
                .await
                .db(MY)?
                .ok_or_else(|| StoreError::not_found("payment", id))?;
        payment_of(&text).db(MY)
    }

    /// Stores `change.next` if the order is still at `change.expected`.
    async fn cas_order(
        conn: &mut MySqlConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<(), StoreError> {
        let next = &change.next;
        let order = &next.order;
        let matched = sqlx::query(
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
        .db(MY)?
        .rows_affected();
        if matched == 1 {
            return Ok(());
        }
        let exists = stored(conn, "SELECT COUNT(*) FROM orders WHERE id = ?", order.id()).await?;
        Err(cas_missed("order", order.id(), change.expected, exists))
    }

    /// Stores `change.next` if the payment is still at `change.expected`.
    async fn cas_payment(
        conn: &mut MySqlConnection,
        change: &Cas<PaymentRecord>,
    ) -> Result<(), StoreError> {
        let next = &change.next;
        let payment = &next.payment;
        let matched = sqlx::query(
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
        .db(MY)?
        .rows_affected();
        if matched == 1 {
            return Ok(());
        }
        let exists = stored(
            conn,
            "SELECT COUNT(*) FROM payments WHERE id = ?",
            payment.id(),
        )
        .await?;
        Err(cas_missed("payment", payment.id(), change.expected, exists))
    }

    /// Inserts a new payment; `AlreadyExists` if its id or gateway order id is taken.
    async fn insert_payment(
        conn: &mut MySqlConnection,
        record: &PaymentRecord,
    ) -> Result<(), StoreError> {
        let payment = &record.payment;
        let inserted = sqlx::query(
            "INSERT INTO payments (id, order_id, order_ref, state, version, record)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(payment.id().as_uuid())
        .bind(payment.order().as_uuid())
        .bind(record.order_ref.as_str())
        .bind(payment.state().name())
        .bind(to_db(payment.version())?)
        .bind(payment_json(record)?)
        .execute(conn)
        .await;
        taken_is_exists(inserted, "payment", payment.id())
    }

    async fn order(pool: &MySqlPool, id: OrderId) -> Result<OrderRecord, StoreError> {
        let text: String = sqlx::query_scalar("SELECT record FROM orders WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(MY)?
            .ok_or_else(|| StoreError::not_found("order", id))?;
        order_of(&text).db(MY)
    }

    async fn order_page(
        pool: &MySqlPool,
        of: OrdersOf,
        upto: Uuid,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        // The column name comes from `OrdersOf`, never from input.
        let sql = format!(
            "SELECT record FROM orders WHERE {} = ? AND id <= ? ORDER BY id DESC LIMIT ?",
            of.column()
        );
        let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(of.id())
            .bind(upto)
            .bind(limit)
            .fetch_all(pool)
            .await
            .db(MY)?;
        texts.iter().map(|text| order_of(text).db(MY)).collect()
    }

    async fn payment(pool: &MySqlPool, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        let text: String = sqlx::query_scalar("SELECT record FROM payments WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(MY)?
            .ok_or_else(|| StoreError::not_found("payment", id))?;
        payment_of(&text).db(MY)
    }

    async fn payment_by_order_ref(
        pool: &MySqlPool,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let text: String = sqlx::query_scalar("SELECT record FROM payments WHERE order_ref = ?")
            .bind(order_ref.as_str())
            .fetch_optional(pool)
            .await
            .db(MY)?
            .ok_or_else(|| StoreError::not_found("payment", order_ref))?;
        payment_of(&text).db(MY)
    }

    async fn payments_in(
        pool: &MySqlPool,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let sql = format!(
            "SELECT record FROM payments WHERE state IN ({}) ORDER BY id LIMIT ?",
            marks(states.len(), "?")
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for state in states {
            query = query.bind(state.name());
        }
        let texts = query.bind(i64::from(limit)).fetch_all(pool).await.db(MY)?;
        texts.iter().map(|text| payment_of(text).db(MY)).collect()
    }
}
