//! `store_steps!`: how a backend says which of its functions does each row-level step of the
//! store's writes (`crate::store_writes`), so that the traits' signatures are written once.

/// Implements [`StoreDatabase`](crate::store_writes::StoreDatabase) for a database and
/// [`StoreRows`](crate::store_writes::StoreRows) for its connection by naming the backend
/// function that does each step. Every function takes the pool (`begin_write`, `due_page`,
/// `order_page`) or the connection first, then the arguments of the trait method of that
/// name.
macro_rules! store_steps {
    (
        database: $db:ty,
        connection: $conn:ty,
        backend: $backend:expr,
        begin_write: $begin_write:path,
        due_page: $due_page:path,
        order_page: $order_page:path,
        place_order: $place_order:path,
        lock_order: $lock_order:path,
        claim_due: $claim_due:path,
        lock_payment: $lock_payment:path,
        cas_order: $cas_order:path,
        cas_payment: $cas_payment:path,
        insert_payment: $insert_payment:path,
        append_outbox: $append_outbox:path,
        extend_items: $extend_items:path,
        sell_items: $sell_items:path,
        restock_items: $restock_items:path,
        free_items: $free_items:path $(,)?
    ) => {
        // An unnamed const gives the impls their own imports, away from the caller's names.
        const _: () = {
            use booking_core::clock::Timestamp;
            use booking_core::ids::{OrderId, PaymentId};
            use booking_core::machine::DomainEvent;
            use booking_core::ports::store::{
                Cas, ItemRef, OrderRecord, PaymentRecord, StoreError,
            };

            #[async_trait::async_trait]
            impl $crate::store_writes::StoreDatabase for $db {
                const BACKEND: $crate::error::Backend = $backend;

                async fn begin_write(
                    pool: &sqlx::Pool<Self>,
                ) -> Result<sqlx::Transaction<'static, Self>, sqlx::Error> {
                    $begin_write(pool).await
                }

                async fn due_page(
                    pool: &sqlx::Pool<Self>,
                    now_ns: i64,
                    after: (i64, uuid::Uuid),
                    limit: i64,
                ) -> Result<Vec<(uuid::Uuid, i64)>, StoreError> {
                    $due_page(pool, now_ns, after, limit).await
                }

                async fn order_page(
                    pool: &sqlx::Pool<Self>,
                    of: $crate::order_pages::OrdersOf,
                    upto: uuid::Uuid,
                    limit: i64,
                ) -> Result<Vec<OrderRecord>, StoreError> {
                    $order_page(pool, of, upto, limit).await
                }
            }

            #[async_trait::async_trait]
            impl $crate::store_writes::StoreRows for $conn {
                async fn place_order(
                    &mut self,
                    record: &OrderRecord,
                    now: Timestamp,
                ) -> Result<(), StoreError> {
                    $place_order(self, record, now).await
                }

                async fn lock_order(
                    &mut self,
                    change: &Cas<OrderRecord>,
                ) -> Result<OrderRecord, StoreError> {
                    $lock_order(self, change).await
                }

                async fn claim_due(
                    &mut self,
                    id: OrderId,
                    now: Timestamp,
                ) -> Result<Option<OrderRecord>, StoreError> {
                    $claim_due(self, id, now).await
                }

                async fn lock_payment(
                    &mut self,
                    id: PaymentId,
                ) -> Result<PaymentRecord, StoreError> {
                    $lock_payment(self, id).await
                }

                async fn cas_order(&mut self, change: &Cas<OrderRecord>) -> Result<(), StoreError> {
                    $cas_order(self, change).await
                }

                async fn cas_payment(
                    &mut self,
                    change: &Cas<PaymentRecord>,
                ) -> Result<(), StoreError> {
                    $cas_payment(self, change).await
                }

                async fn insert_payment(
                    &mut self,
                    record: &PaymentRecord,
                ) -> Result<(), StoreError> {
                    $insert_payment(self, record).await
                }

                async fn append_outbox(
                    &mut self,
                    events: &[DomainEvent],
                    now: Timestamp,
                ) -> Result<(), StoreError> {
                    $append_outbox(self, events, now).await
                }

                async fn extend_items(
                    &mut self,
                    record: &OrderRecord,
                    expires_at: Timestamp,
                    now: Timestamp,
                    events: &mut Vec<DomainEvent>,
                ) -> Result<(), StoreError> {
                    $extend_items(self, record, expires_at, now, events).await
                }

                async fn sell_items(
                    &mut self,
                    record: &OrderRecord,
                    now: Timestamp,
                    events: &mut Vec<DomainEvent>,
                ) -> Result<(), StoreError> {
                    $sell_items(self, record, now, events).await
                }

                async fn restock_items(
                    &mut self,
                    order: OrderId,
                    restock: &[ItemRef],
                    now: Timestamp,
                    events: &mut Vec<DomainEvent>,
                ) -> Result<(), StoreError> {
                    $restock_items(self, order, restock, now, events).await
                }

                async fn free_items(
                    &mut self,
                    record: &OrderRecord,
                    expire: bool,
                    now: Timestamp,
                    events: &mut Vec<DomainEvent>,
                ) -> Result<(u32, u32), StoreError> {
                    $free_items(self, record, expire, now, events).await
                }
            }
        };
    };
}
pub(crate) use store_steps;
