//! [`MemoryBookingStore`]: the booking store in process memory.
//!
//! One mutex guards everything, so each operation is a critical section. Inside it an operation
//! first computes every change from the current state — running the same state machines a
//! database backend runs — and only writes them once all have been computed, so an operation
//! that fails part way has changed nothing.
//!
//! | file | what |
//! |---|---|
//! | `state.rs` | the state behind the mutex, the changes an operation stages, and their commit |
//! | `inventory.rs` | listing, availability, placing an order |
//! | `orders.rs` | order and payment compare-and-set, extending a hold, starting a payment, cancelling an unpaid order |
//! | `settlement.rs` | the paid and refunded steps |
//! | `sweep.rs` | expiring due orders |

mod inventory;
mod orders;
mod settlement;
mod state;
mod sweep;

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{DomainEvent, PaymentState};
use crate::ports::backend::store::check_page;
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, MarkPaid, OrderPage, OrderRecord, OutboxEntry,
    PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing,
};

use state::State;

/// The booking store in memory: correct under real parallelism, lost on restart.
#[derive(Debug, Default)]
pub struct MemoryBookingStore {
    state: Mutex<State>,
}

impl MemoryBookingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Operations write only in `State::commit`, after every check passed, so the state is
        // consistent even if a thread panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BookingStore for MemoryBookingStore {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        self.lock().add_tickets(listings)
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
        self.lock().add_stock(listing)
    }

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        self.lock().ticket(id).cloned()
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        self.lock()
            .stocks
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("stock", id))
    }

    async fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        self.lock().availability(event, now)
    }

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        self.lock().place_order(record, now)
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        self.lock()
            .orders
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("order", id))
    }

    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        check_page(page)?;
        let state = self.lock();
        Ok(state.order_page(state.orders_by_user.get(&user), page))
    }

    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        check_page(page)?;
        let state = self.lock();
        Ok(state.order_page(state.orders_by_event.get(&event), page))
    }

    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().update_order(change, events, now)
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().extend_hold(change, events, now)
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().start_payment(order, payment, events, now)
    }

    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        self.lock()
            .payments
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("payment", id))
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let state = self.lock();
        state
            .by_order_ref
            .get(order_ref)
            .and_then(|id| state.payments.get(id))
            .cloned()
            .ok_or_else(|| StoreError::not_found("payment", order_ref))
    }

    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().update_payment(change, events, now)
    }

    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let state = self.lock();
        let mut found: Vec<PaymentRecord> = state
            .payments
            .values()
            .filter(|p| states.contains(&p.payment.state()))
            .cloned()
            .collect();
        // Payment ids are UUID v7: sorting by id is sorting by creation time.
        found.sort_by_key(|p| p.payment.id());
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError> {
        self.lock().mark_paid(paid, now)
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        self.lock().settle_refund(refund, now)
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().cancel_unpaid(change, events, now)
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        self.lock().expire_due(now, batch)
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let state = self.lock();
        Ok(state
            .outbox
            .range(after.saturating_add(1)..)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let keep = state.outbox.split_off(&upto.saturating_add(1));
        let removed = std::mem::replace(&mut state.outbox, keep).len();
        Ok(removed as u64)
    }
}
