//! Orders and payments on PostgreSQL: inserts, locked reads and version compare-and-set.
//!
//! A record's columns hold what conditions and indexes read (state, version, deadline, ids);
//! the whole record is `json` beside them, in booking-core's stored form (written as text and
//! cast). Every write goes through `WHERE version = expected`, so of two writers that read the
//! same version exactly one changes a row.

use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::{Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{Cas, OrderRecord, PaymentRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use super::PG;
use super::rows::all_written;
use crate::codec::{nanos, order_json, order_of, payment_json, payment_of, to_db};
use crate::error::Db;
use crate::store::database::Records;
use crate::store::pages::OrdersOf;
use crate::store::writes::cas_missed;

/// A query over PostgreSQL with its binds.
pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the columns of a new order's row, in the order `orders` declares them (`id`,
/// `event_id`, `user_id`, `hold_id`, `state`, `version`, `expires_ns`, `payment_id`,
/// `record`), as the next nine parameters of `query`; the record is text, to cast to `json`.
pub(crate) fn bind_order<'q>(
    query: PgQuery<'q>,
    record: &OrderRecord,
) -> Result<PgQuery<'q>, StoreError> {
    let order = &record.order;
    Ok(query
        .bind(*order.id().as_uuid())
        .bind(*record.event.as_uuid())
        .bind(*record.user.as_uuid())
        .bind(*record.hold.as_uuid())
        .bind(order.state().kind().name())
        .bind(to_db(order.version())?)
        .bind(nanos(order.expires_at())?)
        .bind(record.payment.map(|p| *p.as_uuid()))
        .bind(order_json(record)?))
}

/// Inserts a new order; whether it did (`false`: the id is taken).
pub(crate) async fn insert_order(
    conn: &mut PgConnection,
    record: &OrderRecord,
) -> Result<bool, StoreError> {
    let insert = sqlx::query(
        "INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns, payment_id, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json) ON CONFLICT (id) DO NOTHING",
    );
    let inserted = bind_order(insert, record)?
        .execute(conn)
        .await
        .db(PG)?
        .rows_affected();
    Ok(inserted == 1)
}

/// The order in a row's `record`.
pub(crate) fn order_in(row: &PgRow) -> Result<OrderRecord, StoreError> {
    let Json(stored) = row.try_get::<Json<serde_json::Value>, _>("record").db(PG)?;
    order_of(stored).db(PG)
}

/// The payment in a row's `record`, or `NotFound` for `id` without a row.
fn payment_in(row: Option<PgRow>, id: impl std::fmt::Display) -> Result<PaymentRecord, StoreError> {
    let row = row.ok_or_else(|| StoreError::not_found("payment", id))?;
    let Json(stored) = row.try_get::<Json<serde_json::Value>, _>("record").db(PG)?;
    payment_of(stored).db(PG)
}

/// Stores every `changes[i].next` whose order is still at `changes[i].expected`, in one
/// statement, for orders the caller has locked: a row that moved anyway is corrupt.
pub(crate) async fn cas_orders(
    conn: &mut PgConnection,
    changes: &[Cas<OrderRecord>],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let n = changes.len();
    let (mut ids, mut expected, mut states) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut versions, mut expires, mut payments, mut records) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for change in changes {
        let order = &change.next.order;
        ids.push(*order.id().as_uuid());
        expected.push(to_db(change.expected)?);
        states.push(order.state().kind().name());
        versions.push(to_db(order.version())?);
        expires.push(nanos(order.expires_at())?);
        payments.push(change.next.payment.map(|p| *p.as_uuid()));
        records.push(order_json(&change.next)?);
    }
    let written = sqlx::query(
        "UPDATE orders o
         SET state = u.state, version = u.version, expires_ns = u.expires_ns,
             payment_id = u.payment_id, record = u.record::json
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::uuid[], $7::text[])
              AS u(id, expected, state, version, expires_ns, payment_id, record)
         WHERE o.id = u.id AND o.version = u.expected",
    )
    .bind(ids)
    .bind(expected)
    .bind(states)
    .bind(versions)
    .bind(expires)
    .bind(payments)
    .bind(records)
    .execute(conn)
    .await
    .db(PG)?
    .rows_affected();
    all_written(written, n, "order")
}

/// Whether `exists` (a query for one id) finds record `id`.
async fn stored(
    conn: &mut PgConnection,
    exists: &'static str,
    id: impl Into<Uuid>,
) -> Result<bool, StoreError> {
    let row = sqlx::query(exists)
        .bind(id.into())
        .fetch_optional(conn)
        .await
        .db(PG)?;
    Ok(row.is_some())
}

impl Records for Postgres {
    async fn order(pool: &PgPool, id: OrderId) -> Result<OrderRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM orders WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(PG)?
            .ok_or_else(|| StoreError::not_found("order", id))?;
        order_in(&row)
    }

    async fn order_page(
        pool: &PgPool,
        of: OrdersOf,
        upto: Uuid,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        // The column name comes from `OrdersOf`, never from input.
        let sql = format!(
            "SELECT record FROM orders WHERE {} = $1 AND id <= $2 ORDER BY id DESC LIMIT $3",
            of.column()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(of.id())
            .bind(upto)
            .bind(limit)
            .fetch_all(pool)
            .await
            .db(PG)?;
        rows.iter().map(order_in).collect()
    }

    async fn payment(pool: &PgPool, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM payments WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(PG)?;
        payment_in(row, id)
    }

    async fn payment_by_order_ref(
        pool: &PgPool,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM payments WHERE order_ref = $1")
            .bind(order_ref.as_str())
            .fetch_optional(pool)
            .await
            .db(PG)?;
        payment_in(row, order_ref)
    }

    async fn payments_in(
        pool: &PgPool,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let names: Vec<&str> = states.iter().map(|s| s.name()).collect();
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let rows = sqlx::query(
            "SELECT id, record FROM payments WHERE state = ANY($1) ORDER BY id LIMIT $2",
        )
        .bind(names)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(PG)?;
        rows.into_iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").db(PG)?;
                payment_in(Some(row), id)
            })
            .collect()
    }

    async fn lock_order(
        conn: &mut PgConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<OrderRecord, StoreError> {
        let id = change.next.order.id();
        let row = sqlx::query("SELECT version, record FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .db(PG)?
            .ok_or_else(|| StoreError::not_found("order", id))?;
        let version: i64 = row.try_get("version").db(PG)?;
        if version != to_db(change.expected)? {
            return Err(StoreError::version_conflict("order", id, change.expected));
        }
        order_in(&row)
    }

    async fn lock_payment(
        conn: &mut PgConnection,
        id: PaymentId,
    ) -> Result<PaymentRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM payments WHERE id = $1 FOR UPDATE")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .db(PG)?;
        payment_in(row, id)
    }

    async fn cas_order(
        conn: &mut PgConnection,
        change: &Cas<OrderRecord>,
    ) -> Result<(), StoreError> {
        let next = &change.next;
        let order = &next.order;
        let updated = sqlx::query(
            "UPDATE orders SET state = $3, version = $4, expires_ns = $5, payment_id = $6,
                               record = $7::json
             WHERE id = $1 AND version = $2",
        )
        .bind(order.id().as_uuid())
        .bind(to_db(change.expected)?)
        .bind(order.state().kind().name())
        .bind(to_db(order.version())?)
        .bind(nanos(order.expires_at())?)
        .bind(next.payment.map(|p| *p.as_uuid()))
        .bind(order_json(next)?)
        .execute(&mut *conn)
        .await
        .db(PG)?
        .rows_affected();
        if updated == 1 {
            return Ok(());
        }
        let exists = stored(conn, "SELECT 1 FROM orders WHERE id = $1", order.id()).await?;
        Err(cas_missed("order", order.id(), change.expected, exists))
    }

    async fn cas_payment(
        conn: &mut PgConnection,
        change: &Cas<PaymentRecord>,
    ) -> Result<(), StoreError> {
        let next = &change.next;
        let payment = &next.payment;
        let updated = sqlx::query(
            "UPDATE payments SET state = $3, version = $4, order_ref = $5, record = $6::json
             WHERE id = $1 AND version = $2",
        )
        .bind(payment.id().as_uuid())
        .bind(to_db(change.expected)?)
        .bind(payment.state().name())
        .bind(to_db(payment.version())?)
        .bind(next.order_ref.as_str())
        .bind(payment_json(next)?)
        .execute(&mut *conn)
        .await
        .db(PG)?
        .rows_affected();
        if updated == 1 {
            return Ok(());
        }
        let exists = stored(conn, "SELECT 1 FROM payments WHERE id = $1", payment.id()).await?;
        Err(cas_missed("payment", payment.id(), change.expected, exists))
    }

    async fn insert_payment(
        conn: &mut PgConnection,
        record: &PaymentRecord,
    ) -> Result<(), StoreError> {
        let payment = &record.payment;
        let inserted = sqlx::query(
            "INSERT INTO payments (id, order_id, order_ref, state, version, record)
             VALUES ($1, $2, $3, $4, $5, $6::json) ON CONFLICT DO NOTHING",
        )
        .bind(payment.id().as_uuid())
        .bind(payment.order().as_uuid())
        .bind(record.order_ref.as_str())
        .bind(payment.state().name())
        .bind(to_db(payment.version())?)
        .bind(payment_json(record)?)
        .execute(conn)
        .await
        .db(PG)?
        .rows_affected();
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                what: "payment",
                id: payment.id().to_string(),
            })
        }
    }
}
