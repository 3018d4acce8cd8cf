//! The [`BookingStore`] side of the gate: holds go through the counters, every other step
//! goes to the store first and tells the counters after.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use booking_core::machine::{DomainEvent, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, ItemRef, MarkPaid, OrderPage, OrderRecord,
    OutboxEntry, PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing, TicketPage,
};

use super::counter::Settle;
use super::{RedisStockGate, demand};

#[async_trait]
impl<S: BookingStore> BookingStore for RedisStockGate<S> {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        self.inner.add_tickets(listings).await
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
        self.inner.add_stock(listing).await
    }

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        self.inner.ticket(id).await
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        self.inner.stock(id).await
    }

    async fn tickets_of_event(
        &self,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        self.inner.tickets_of_event(event, page).await
    }

    async fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        self.inner.availability(event, now).await
    }

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        let wanted = demand(record).unwrap_or_default();
        let mut taken = Vec::new();
        for (&stock, &n) in &wanted {
            match self.take(stock, n, record, now).await {
                Ok(true) => taken.push(stock),
                Ok(false) => {}
                Err(refusal) => {
                    self.turned_away.fetch_add(1, Ordering::Relaxed);
                    self.give_back(record, &taken, None).await;
                    return Err(refusal);
                }
            }
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let placed = self.inner.place_order(record, now).await;
        if let Err(refused) = &placed {
            // A store short of a stock has fewer units than its counter said: only what the
            // store has comes back, so the counter stops letting through units that are not
            // there.
            let short = match refused {
                StoreError::InsufficientStock {
                    stock, available, ..
                } => Some((*stock, u64::from(*available))),
                _ => None,
            };
            self.give_back(record, &taken, short).await;
        }
        placed
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        self.inner.order(id).await
    }

    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.inner.orders_of_user(user, page).await
    }

    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.inner.orders_of_event(event, page).await
    }

    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.update_order(change, events, now).await
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.extend_hold(change, events, now).await?;
        let until = change.next.order.expires_at();
        self.settle_order(&change.next, Settle::Extend(until)).await;
        Ok(())
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.start_payment(order, payment, events, now).await
    }

    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        self.inner.payment(id).await
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        self.inner.payment_by_order_ref(order_ref).await
    }

    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.update_payment(change, events, now).await
    }

    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.inner.payments_in(states, limit).await
    }

    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError> {
        self.inner.mark_paid(paid, now).await?;
        self.settle_order(&paid.order.next, Settle::Sold).await;
        Ok(())
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        self.inner.settle_refund(refund, now).await?;
        let mut back: BTreeMap<StockId, u64> = BTreeMap::new();
        for item in &refund.restock {
            if let ItemRef::Stock { stock, quantity } = *item {
                *back.entry(stock).or_insert(0) += u64::from(quantity);
            }
        }
        for (stock, n) in back {
            self.settle(stock, None, Settle::Restock(n)).await;
        }
        Ok(())
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.cancel_unpaid(change, events, now).await?;
        self.settle_order(&change.next, Settle::Release(0)).await;
        Ok(())
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        // Lapsed holds come back to the counters at their end already (every take gives
        // them back first), so the sweep needs nothing from the gate.
        self.inner.expire_due(now, batch).await
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox(after, limit).await
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        self.inner.acknowledge_outbox(upto).await
    }
}
