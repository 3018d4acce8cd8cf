//! Where each row-level step of the store's writes is done on SQLite: the
//! [`StoreDatabase`] and [`StoreRows`] that `crate::store_writes` and `crate::expiry_sweep`
//! run on.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{Cas, ItemRef, OrderRecord, PaymentRecord, StoreError};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use uuid::Uuid;

use super::rows::append_outbox;
use super::{SQ, begin_write, flow, place, records, sweep};
use crate::error::Backend;
use crate::store_writes::{StoreDatabase, StoreRows};

#[async_trait]
impl StoreDatabase for Sqlite {
    const BACKEND: Backend = SQ;

    /// A `BEGIN IMMEDIATE` transaction: it holds the database's one write lock from its
    /// first statement, so every row it reads stays as read until it commits.
    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        begin_write(pool).await
    }

    async fn due_page(
        pool: &SqlitePool,
        now_ns: i64,
        after: (i64, Uuid),
        limit: i64,
    ) -> Result<Vec<(Uuid, i64)>, StoreError> {
        sweep::due_page(pool, now_ns, after, limit).await
    }
}

#[async_trait]
impl StoreRows for SqliteConnection {
    async fn place_order(
        &mut self,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        place::place_order(self, record, now).await
    }

    async fn lock_order(&mut self, change: &Cas<OrderRecord>) -> Result<OrderRecord, StoreError> {
        records::order_at(self, change).await
    }

    async fn claim_due(
        &mut self,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, StoreError> {
        sweep::claim_due(self, id, now).await
    }

    async fn lock_payment(&mut self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        records::payment_by_id(self, id).await
    }

    async fn cas_order(&mut self, change: &Cas<OrderRecord>) -> Result<(), StoreError> {
        records::cas_order(self, change).await
    }

    async fn cas_payment(&mut self, change: &Cas<PaymentRecord>) -> Result<(), StoreError> {
        records::cas_payment(self, change).await
    }

    async fn insert_payment(&mut self, record: &PaymentRecord) -> Result<(), StoreError> {
        records::insert_payment(self, record).await
    }

    async fn append_outbox(
        &mut self,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        append_outbox(self, events, now).await
    }

    async fn extend_items(
        &mut self,
        record: &OrderRecord,
        expires_at: Timestamp,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        flow::extend_items(self, record, expires_at, now, events).await
    }

    async fn sell_items(
        &mut self,
        record: &OrderRecord,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        flow::sell_items(self, record, now, events).await
    }

    async fn restock_items(
        &mut self,
        order: OrderId,
        restock: &[ItemRef],
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), StoreError> {
        flow::restock_items(self, order, restock, now, events).await
    }

    async fn free_items(
        &mut self,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(u32, u32), StoreError> {
        flow::free_items(self, record, expire, now, events).await
    }
}
