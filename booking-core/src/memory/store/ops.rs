//! The port's operations over the shards: each finds its shard through the index, then runs
//! in that shard's critical section (see the lock order in the module above).

use std::sync::Arc;

use async_trait::async_trait;
use foldhash::HashSet;

use crate::clock::Timestamp;
use crate::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{DomainEvent, OrderStateKind, PaymentState};
use crate::ports::backend::store::{check_lines, check_page, check_ticket_page};
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, ItemRef, MarkPaid, OrderPage, OrderRecord,
    OutboxEntry, PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing, TicketPage,
};

use super::index::Shard;
use super::{MemoryBookingStore, lock};

impl MemoryBookingStore {
    fn shard_of_order(&self, id: OrderId) -> Result<Arc<Shard>, StoreError> {
        let index = self.index();
        index
            .shard(index.orders.get(&id))
            .ok_or_else(|| StoreError::not_found("order", id))
    }

    fn shard_of_payment(&self, id: PaymentId) -> Result<Arc<Shard>, StoreError> {
        let index = self.index();
        index
            .shard(index.payments.get(&id))
            .ok_or_else(|| StoreError::not_found("payment", id))
    }

    /// The shard `record` is placed in, once it is checked new, pending, and of one event.
    fn shard_to_place(&self, record: &OrderRecord) -> Result<Arc<Shard>, StoreError> {
        let index = self.index();
        let id = record.order.id();
        if index.orders.contains_key(&id) {
            return Err(StoreError::AlreadyExists {
                what: "order",
                id: id.to_string(),
            });
        }
        if record.order.state().kind() != OrderStateKind::Pending {
            return Err(StoreError::Invalid(
                "a new order must be pending".to_owned(),
            ));
        }
        // A listing never changes event, so what the index says here still holds below.
        check_lines(record, |item| match *item {
            ItemRef::Ticket { ticket } => index
                .tickets
                .get(&ticket)
                .copied()
                .ok_or_else(|| StoreError::not_found("ticket", ticket)),
            ItemRef::Stock { stock, .. } => index
                .stocks
                .get(&stock)
                .copied()
                .ok_or_else(|| StoreError::not_found("stock", stock)),
        })?;
        index
            .shard(Some(&record.event))
            .ok_or_else(|| StoreError::not_found("event", record.event))
    }
}

#[async_trait]
impl BookingStore for MemoryBookingStore {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        let mut events: Vec<EventId> = listings.iter().map(|l| l.event).collect();
        events.sort_unstable();
        events.dedup();
        // Several shards are locked in ascending event id (the documented order).
        let shards: Vec<Arc<Shard>> = events.into_iter().map(|e| self.shard_for(e)).collect();
        let mut states: Vec<_> = shards.iter().map(|s| lock(s)).collect();
        {
            let mut index = self.index_mut();
            let mut ids = HashSet::default();
            for listing in listings {
                let id = listing.ticket.id();
                if index.tickets.contains_key(&id) || !ids.insert(id) {
                    return Err(StoreError::AlreadyExists {
                        what: "ticket",
                        id: id.to_string(),
                    });
                }
            }
            for listing in listings {
                index.tickets.insert(listing.ticket.id(), listing.event);
            }
        }
        for (shard, state) in shards.iter().zip(&mut states) {
            state.add_tickets(listings.iter().filter(|l| l.event == shard.event));
        }
        Ok(())
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
        let shard = self.shard_for(listing.event);
        let mut state = lock(&shard);
        let id = listing.stock.id();
        {
            let mut index = self.index_mut();
            if index.stocks.contains_key(&id) {
                return Err(StoreError::AlreadyExists {
                    what: "stock",
                    id: id.to_string(),
                });
            }
            index.stocks.insert(id, listing.event);
        }
        state.add_stock(listing);
        Ok(())
    }

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        let shard = {
            let index = self.index();
            index.shard(index.tickets.get(&id))
        };
        let shard = shard.ok_or_else(|| StoreError::not_found("ticket", id))?;
        lock(&shard).ticket(id).cloned()
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        let shard = {
            let index = self.index();
            index.shard(index.stocks.get(&id))
        };
        shard
            .and_then(|shard| lock(&shard).stocks.get(&id).cloned())
            .ok_or_else(|| StoreError::not_found("stock", id))
    }

    async fn tickets_of_event(
        &self,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        check_ticket_page(page)?;
        let Some(shard) = self.index().shard(Some(&event)) else {
            return Ok(Vec::new());
        };
        let state = lock(&shard);
        let mut listed: Vec<&TicketListing> = state
            .tickets
            .values()
            .filter(|l| l.event == event && page.after.is_none_or(|after| l.ticket.id() > after))
            .collect();
        listed.sort_unstable_by_key(|l| l.ticket.id());
        listed.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
        Ok(listed.into_iter().cloned().collect())
    }

    async fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        let shard = self.index().shard(Some(&event));
        match shard {
            Some(shard) => lock(&shard).availability(event, now),
            None => Ok(Availability::default()),
        }
    }

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        let shard = self.shard_to_place(record)?;
        self.write(&shard, now, |state| state.place_order(record, now))
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        let shard = self.shard_of_order(id)?;
        let order = lock(&shard).orders.get(&id).cloned();
        order.ok_or_else(|| StoreError::not_found("order", id))
    }

    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        check_page(page)?;
        let found: Vec<(OrderId, Option<Arc<Shard>>)> = {
            let index = self.index();
            index
                .user_page(user, page)
                .into_iter()
                .map(|id| (id, index.shard(index.orders.get(&id))))
                .collect()
        };
        // Ids are indexed only by an operation that writes the order before releasing its
        // shard, and orders are never removed: every id found here has its order.
        Ok(found
            .into_iter()
            .filter_map(|(id, shard)| lock(&*shard?).orders.get(&id).cloned())
            .collect())
    }

    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        check_page(page)?;
        let Some(shard) = self.index().shard(Some(&event)) else {
            return Ok(Vec::new());
        };
        let state = lock(&shard);
        Ok(state.order_page(state.orders_by_event.get(&event), page))
    }

    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let shard = self.shard_of_order(change.next.order.id())?;
        self.write(&shard, now, |state| state.update_order(change, events))
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let shard = self.shard_of_order(change.next.order.id())?;
        self.write(&shard, now, |state| state.extend_hold(change, events, now))
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let shard = self.shard_of_order(order.next.order.id())?;
        self.write(&shard, now, |state| {
            state.start_payment(order, payment, events)
        })
    }

    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        let shard = self.shard_of_payment(id)?;
        let payment = lock(&shard).payments.get(&id).cloned();
        payment.ok_or_else(|| StoreError::not_found("payment", id))
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let shard = {
            let index = self.index();
            index.shard(index.order_refs.get(order_ref))
        };
        shard
            .and_then(|shard| {
                let state = lock(&shard);
                let id = state.by_order_ref.get(order_ref)?;
                state.payments.get(id).cloned()
            })
            .ok_or_else(|| StoreError::not_found("payment", order_ref))
    }

    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let shard = self.shard_of_payment(change.next.payment.id())?;
        self.write(&shard, now, |state| state.update_payment(change, events))
    }

    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let mut found: Vec<PaymentRecord> = Vec::new();
        for shard in self.shards() {
            let state = lock(&shard);
            found.extend(
                state
                    .payments
                    .values()
                    .filter(|p| states.contains(&p.payment.state()))
                    .cloned(),
            );
        }
        // Payment ids are UUID v7: sorting by id is sorting by creation time.
        found.sort_by_key(|p| p.payment.id());
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError> {
        let shard = self.shard_of_order(paid.order.next.order.id())?;
        self.write(&shard, now, |state| state.mark_paid(paid, now))
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        let shard = self.shard_of_order(refund.order.next.order.id())?;
        self.write(&shard, now, |state| state.settle_refund(refund, now))
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let shard = self.shard_of_order(change.next.order.id())?;
        self.write(&shard, now, |state| {
            state.cancel_unpaid(change, events, now)
        })
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        let mut due = Vec::new();
        for shard in self.shards() {
            let found = lock(&shard).due(now);
            due.extend(found.into_iter().map(|d| (d, Arc::clone(&shard))));
        }
        // Earliest deadline first across events; each order expires in its shard's critical
        // section, after checking it is still due.
        due.sort_unstable_by_key(|(d, _)| *d);
        let batch = usize::try_from(batch).unwrap_or(usize::MAX);
        let mut sweep = ExpirySweep::default();
        for (d, shard) in due {
            if sweep.expired.len() >= batch {
                break;
            }
            let mut state = lock(&shard);
            if let Some(staged) = state.expire_order(d, now, &mut sweep)? {
                self.commit(shard.event, &mut state, staged, now)?;
            }
        }
        Ok(sweep)
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.outbox_lock().read(after, limit))
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        Ok(self.outbox_lock().acknowledge(upto))
    }
}
