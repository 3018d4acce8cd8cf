//! Where each row-level step of the store's writes is done on PostgreSQL: the
//! [`StoreDatabase`] and [`StoreRows`] that `crate::store_writes` and `crate::expiry_sweep`
//! run on.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{OrderId, PaymentId};
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{Cas, ItemRef, OrderRecord, PaymentRecord, StoreError};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::codec::append_outbox;
use super::{PG, flow, place, records, sweep};
use crate::error::Backend;
use crate::store_writes::{StoreDatabase, StoreRows};

#[async_trait]
impl StoreDatabase for Postgres {
    const BACKEND: Backend = PG;

    /// A transaction at the default `READ COMMITTED`: the statements' own conditions and
    /// row locks make each write correct.
    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    async fn due_page(
        pool: &PgPool,
        now_ns: i64,
        after: (i64, Uuid),
        limit: i64,
    ) -> Result<Vec<(Uuid, i64)>, StoreError> {
        sweep::due_page(pool, now_ns, after, limit).await
    }
}

#[async_trait]
impl StoreRows for PgConnection {
    async fn place_order(
        &mut self,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        place::place_order(self, record, now).await
    }

    async fn lock_order(&mut self, change: &Cas<OrderRecord>) -> Result<OrderRecord, StoreError> {
        records::lock_order(self, change).await
    }

    async fn claim_due(
        &mut self,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, StoreError> {
        sweep::claim_due(self, id, now).await
    }

    async fn lock_payment(&mut self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        records::lock_payment_by_id(self, id).await
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
