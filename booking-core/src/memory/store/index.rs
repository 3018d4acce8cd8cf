//! What the shards share: the index from every id to the event (and so the shard) it belongs
//! to, each buyer's orders across events, and the outbox with its sequence.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use foldhash::HashMap;

use crate::clock::Timestamp;
use crate::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::DomainEvent;
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{OrderPage, OutboxEntry, StoreError};

use super::super::sync::Mutex;
use super::state::{State, page_of};

/// One event's part of the store: its listings, holds, orders and payments.
#[derive(Debug)]
pub(super) struct Shard {
    pub(super) event: EventId,
    pub(super) state: Mutex<State>,
}

/// The orders (with their buyer) and payments (with their gateway reference) an operation
/// writes for the first time.
#[derive(Debug, Default)]
pub(super) struct NewRecords {
    pub(super) orders: Vec<(OrderId, UserId)>,
    pub(super) payments: Vec<(PaymentId, GatewayOrderId)>,
}

/// Where every id lives, and each buyer's orders (a buyer's orders span events).
///
/// Entries are only ever added, and only by an operation holding the shard the new record is
/// written to, before it writes the record there: whoever finds an id here and then locks its
/// shard finds the record.
#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) shards: HashMap<EventId, Arc<Shard>>,
    pub(super) tickets: HashMap<TicketId, EventId>,
    pub(super) stocks: HashMap<StockId, EventId>,
    pub(super) orders: HashMap<OrderId, EventId>,
    pub(super) payments: HashMap<PaymentId, EventId>,
    pub(super) order_refs: HashMap<GatewayOrderId, EventId>,
    pub(super) orders_by_user: HashMap<UserId, BTreeSet<OrderId>>,
}

impl Index {
    /// The shard of `event`, if anything was ever listed for it.
    pub(super) fn shard(&self, event: Option<&EventId>) -> Option<Arc<Shard>> {
        self.shards.get(event?).cloned()
    }

    /// The ids of one page of `user`'s orders, highest first.
    pub(super) fn user_page(&self, user: UserId, page: &OrderPage) -> Vec<OrderId> {
        page_of(self.orders_by_user.get(&user), page)
            .copied()
            .collect()
    }

    /// Indexes the orders and payments an operation on `event`'s shard is about to write for
    /// the first time, or refuses them all if one id is taken anywhere in the store.
    pub(super) fn add_records(
        &mut self,
        event: EventId,
        new: &NewRecords,
    ) -> Result<(), StoreError> {
        let (orders, payments) = (&new.orders, &new.payments);
        if let Some((id, _)) = orders.iter().find(|(id, _)| self.orders.contains_key(id)) {
            return Err(StoreError::AlreadyExists {
                what: "order",
                id: id.to_string(),
            });
        }
        if let Some((id, _)) = payments.iter().find(|(id, order_ref)| {
            self.payments.contains_key(id) || self.order_refs.contains_key(order_ref)
        }) {
            return Err(StoreError::AlreadyExists {
                what: "payment",
                id: id.to_string(),
            });
        }
        for &(id, user) in orders {
            self.orders.insert(id, event);
            self.orders_by_user.entry(user).or_default().insert(id);
        }
        for (id, order_ref) in payments {
            self.payments.insert(*id, event);
            self.order_refs.insert(order_ref.clone(), event);
        }
        Ok(())
    }
}

/// The outbox: every event committed, numbered without gaps in commit order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    last_seq: u64,
    /// Entries not yet acknowledged, by increasing `seq` (consecutive numbers).
    entries: VecDeque<OutboxEntry>,
}

impl Outbox {
    /// Numbers and appends an operation's events.
    pub(super) fn append(&mut self, events: Vec<DomainEvent>, now: Timestamp) {
        for event in events {
            self.last_seq = self.last_seq.saturating_add(1);
            self.entries.push_back(OutboxEntry {
                seq: self.last_seq,
                event,
                recorded_at: now,
            });
        }
    }

    /// Up to `limit` entries after `after`, in order.
    pub(super) fn read(&self, after: u64, limit: u32) -> Vec<OutboxEntry> {
        let start = self.entries.partition_point(|e| e.seq <= after);
        self.entries
            .range(start..)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    /// Drops the entries up to `upto`; returns how many were dropped.
    pub(super) fn acknowledge(&mut self, upto: u64) -> u64 {
        let end = self.entries.partition_point(|e| e.seq <= upto);
        self.entries.drain(..end);
        end as u64
    }
}
