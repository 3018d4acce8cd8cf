//! Orders and payments: inserts, reads at an expected version, and version compare-and-set.
//!
//! The whole record is JSON beside the columns the sweep and reconciliation read. A
//! compare-and-set reads the stored version, then writes `WHERE version = ?`: inside a write
//! transaction nothing changes in between, so the write changes exactly the row read.

use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::Kind;
use booking_core::ports::store::{Cas, OrderRecord, PaymentRecord, StoreError};
use sqlx::types::Json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SQ;
use super::rows::{inserted, one_row};
use crate::codec::{nanos, to_db};
use crate::error::Db;
use crate::order_pages::OrdersOf;

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
    .bind(Json(record))
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    inserted("order", order.id(), rows)
}

/// The stored order `id`, if any.
pub(super) async fn find_order(
    conn: &mut SqliteConnection,
    id: OrderId,
) -> Result<Option<OrderRecord>, StoreError> {
    let row: Option<(Json<OrderRecord>,)> =
        sqlx::query_as("SELECT record FROM orders WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .db(SQ)?;
    Ok(row.map(|(Json(record),)| record))
}

/// At most `limit` orders of `of` with ids up to `upto`, highest id first
/// (`crate::order_pages`).
pub(super) async fn order_page(
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
    let rows: Vec<(Json<OrderRecord>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(of.id())
        .bind(upto)
        .bind(limit)
        .fetch_all(pool)
        .await
        .db(SQ)?;
    Ok(rows.into_iter().map(|(Json(record),)| record).collect())
}

/// The stored order `change` is based on: `NotFound`, or `VersionConflict` if it moved on.
pub(super) async fn order_at(
    conn: &mut SqliteConnection,
    change: &Cas<OrderRecord>,
) -> Result<OrderRecord, StoreError> {
    let id = change.next.order.id();
    let record = find_order(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("order", id))?;
    if record.version() != change.expected {
        return Err(StoreError::version_conflict("order", id, change.expected));
    }
    Ok(record)
}

/// Stores `change.next` if the order is still at `change.expected` (`NotFound` or
/// `VersionConflict` otherwise).
pub(super) async fn cas_order(
    conn: &mut SqliteConnection,
    change: &Cas<OrderRecord>,
) -> Result<(), StoreError> {
    order_at(conn, change).await?;
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
    .bind(Json(next))
    .bind(order.id().as_uuid())
    .bind(to_db(change.expected)?)
    .execute(&mut *conn)
    .await
    .db(SQ)?
    .rows_affected();
    one_row("order", written)
}

/// Inserts a new payment; `AlreadyExists` if its id or gateway order id is taken.
pub(super) async fn insert_payment(
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
    .bind(Json(record))
    .execute(conn)
    .await
    .db(SQ)?
    .rows_affected();
    inserted("payment", payment.id(), rows)
}

/// The stored payment `id`, or `NotFound`.
pub(super) async fn payment_by_id(
    conn: &mut SqliteConnection,
    id: PaymentId,
) -> Result<PaymentRecord, StoreError> {
    let row: Option<(Json<PaymentRecord>,)> =
        sqlx::query_as("SELECT record FROM payments WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .db(SQ)?;
    row.map(|(Json(record),)| record)
        .ok_or_else(|| StoreError::not_found("payment", id))
}

/// Checks that the payment `change` is based on is stored at `change.expected`.
pub(super) async fn payment_at(
    conn: &mut SqliteConnection,
    change: &Cas<PaymentRecord>,
) -> Result<(), StoreError> {
    let id = change.next.payment.id();
    if payment_by_id(conn, id).await?.version() != change.expected {
        return Err(StoreError::version_conflict("payment", id, change.expected));
    }
    Ok(())
}

/// Stores `change.next` if the payment is still at `change.expected` (`NotFound` or
/// `VersionConflict` otherwise).
pub(super) async fn cas_payment(
    conn: &mut SqliteConnection,
    change: &Cas<PaymentRecord>,
) -> Result<(), StoreError> {
    payment_at(conn, change).await?;
    let next = &change.next;
    let payment = &next.payment;
    let written = sqlx::query(
        "UPDATE payments SET state = ?, version = ?, order_ref = ?, record = ?
         WHERE id = ? AND version = ?",
    )
    .bind(payment.state().name())
    .bind(to_db(payment.version())?)
    .bind(next.order_ref.as_str())
    .bind(Json(next))
    .bind(payment.id().as_uuid())
    .bind(to_db(change.expected)?)
    .execute(&mut *conn)
    .await
    .db(SQ)?
    .rows_affected();
    one_row("payment", written)
}
