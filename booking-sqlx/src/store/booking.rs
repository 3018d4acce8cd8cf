//! [`BookingStore`] for [`SqlStore`]: every operation once, for every database.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use booking_core::machine::{DomainEvent, PaymentState};
use booking_core::ports::backend::store::check_restock;
use booking_core::ports::backend::store::check_ticket_page;
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, MarkPaid, OrderPage, OrderRecord, OutboxEntry,
    PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing, TicketPage,
};

use super::SqlStore;
use super::database::StoreDatabase;
use super::pages::{OrdersOf, order_page};
use super::rules::distinct_tickets_only;
use super::writes::{Write, write};

#[async_trait]
impl<DB: StoreDatabase> BookingStore for SqlStore<DB> {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        self.located(DB::add_tickets(&self.pool, listings).await)
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
        self.located(DB::add_stock(&self.pool, listing).await)
    }

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        self.located(DB::ticket(&self.pool, id).await)
    }

    async fn tickets_of_event(
        &self,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        check_ticket_page(page)?;
        self.located(DB::tickets_of_event(&self.pool, event, page).await)
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        self.located(DB::stock(&self.pool, id).await)
    }

    async fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        self.located(DB::availability(&self.pool, event, now).await)
    }

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        // An order of distinct tickets passes the hold gate: it waits for this store's other
        // holds of its seats and may be answered by them (`gate.rs`).
        let placed = match distinct_tickets_only(record) {
            Some(tickets) => {
                let read = |tickets, orders| DB::seen(&self.pool, tickets, orders);
                let place = || self.place_usual(record, now);
                self.gate.place(record, &tickets, now, place, read).await
            }
            None => self.place_usual(record, now).await,
        };
        self.located(placed)
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        self.located(DB::order(&self.pool, id).await)
    }

    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.located(order_page(&self.pool, OrdersOf::User(user), page).await)
    }

    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.located(order_page(&self.pool, OrdersOf::Event(event), page).await)
    }

    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.located(write(&self.pool, Write::UpdateOrder(change, events), now).await)
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.located(write(&self.pool, Write::ExtendHold(change, events), now).await)
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let start = Write::StartPayment(order, payment, events);
        self.located(write(&self.pool, start, now).await)
    }

    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        self.located(DB::payment(&self.pool, id).await)
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        self.located(DB::payment_by_order_ref(&self.pool, order_ref).await)
    }

    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.located(write(&self.pool, Write::UpdatePayment(change, events), now).await)
    }

    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.located(DB::payments_in(&self.pool, states, limit).await)
    }

    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError> {
        if let Some(done) = DB::mark_paid_at_once(&self.pool, paid, now).await {
            return self.located(done);
        }
        self.located(write(&self.pool, Write::MarkPaid(paid), now).await)
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        check_restock(&refund.restock)?;
        self.located(write(&self.pool, Write::SettleRefund(refund), now).await)
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.located(write(&self.pool, Write::CancelUnpaid(change, events), now).await)
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        self.located(DB::expire_due(&self.pool, now, batch).await)
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.located(DB::outbox(&self.pool, after, limit).await)
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        self.located(DB::acknowledge_outbox(&self.pool, upto).await)
    }
}

#[allow(private_bounds)]
impl<DB: StoreDatabase> SqlStore<DB> {
    /// Places `record` the store's usual way: the hot path first (batched with others if the
    /// store was built so, else one statement on the pool where the backend has one), else
    /// the write transaction.
    async fn place_usual(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        if let Some(placer) = &self.placer
            && let Some(placed) = placer.place(record, now).await
        {
            return placed;
        }
        if let Some(placed) = DB::place_at_once(&self.pool, record, now).await {
            return placed;
        }
        write(&self.pool, Write::PlaceOrder(record), now).await
    }
}
