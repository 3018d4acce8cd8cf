//! One shard's state behind its mutex, and the changes an operation stages before writing
//! them all at once.

use std::collections::BTreeSet;

use foldhash::HashMap;

use crate::clock::Timestamp;
use crate::ids::{EventId, HoldId, OrderId, PaymentId, StockId, TicketId};
use crate::machine::{DomainEvent, OrderStateKind, Stock, StockCommand, Ticket, TicketCommand};
use crate::ports::backend::store::stock_refused;
use crate::ports::gateway::GatewayOrderId;

use super::index::NewRecords;
use crate::ports::store::{
    Cas, OrderPage, OrderRecord, PaymentRecord, StockListing, StoreError, TicketListing,
};

/// The life of one stock hold record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HoldStatus {
    Active,
    Released,
    Expired,
    Sold,
}

/// `quantity` units of one stock held for one order until `expires_at`.
#[derive(Debug, Clone, Copy)]
pub(super) struct StockHold {
    pub(super) stock: StockId,
    pub(super) quantity: u32,
    pub(super) expires_at: Timestamp,
    pub(super) status: HoldStatus,
}

/// Everything one shard holds: the listings of one event, and the holds, orders and payments
/// made on them.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) tickets: HashMap<TicketId, TicketListing>,
    pub(super) stocks: HashMap<StockId, StockListing>,
    /// Tickets and stocks listed per event.
    pub(super) by_event: HashMap<EventId, (Vec<TicketId>, Vec<StockId>)>,
    /// Stock hold records per hold, one per stock.
    pub(super) stock_holds: HashMap<HoldId, Vec<StockHold>>,
    /// Active stock holds per stock by deadline, so lapsed ones are found without a scan.
    pub(super) active_by_stock: HashMap<StockId, BTreeSet<(Timestamp, HoldId)>>,
    /// Unpaid orders by deadline, so the sweep finds due ones without a scan.
    pub(super) unpaid_by_deadline: BTreeSet<(Timestamp, OrderId)>,
    pub(super) orders: HashMap<OrderId, OrderRecord>,
    /// Order ids per event, as placed, for listing pages without a scan.
    pub(super) orders_by_event: HashMap<EventId, BTreeSet<OrderId>>,
    pub(super) payments: HashMap<PaymentId, PaymentRecord>,
    pub(super) by_order_ref: HashMap<GatewayOrderId, PaymentId>,
}

/// Changes computed by an operation, written only when the whole operation succeeded.
#[derive(Debug, Default)]
pub(super) struct Staged {
    pub(super) tickets: Vec<Ticket>,
    pub(super) stocks: HashMap<StockId, Stock>,
    pub(super) holds: Vec<(HoldId, StockHold)>,
    pub(super) orders: Vec<OrderRecord>,
    pub(super) payments: Vec<PaymentRecord>,
    pub(super) events: Vec<DomainEvent>,
}

impl Staged {
    /// The stock as this operation has changed it so far.
    pub(super) fn stock(&self, state: &State, id: StockId) -> Result<Stock, StoreError> {
        match self.stocks.get(&id) {
            Some(stock) => Ok(*stock),
            None => Ok(state
                .stocks
                .get(&id)
                .ok_or_else(|| StoreError::not_found("stock", id))?
                .stock),
        }
    }

    pub(super) fn apply_stock(
        &mut self,
        state: &State,
        id: StockId,
        command: StockCommand,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let stock = self.stock(state, id)?;
        let t = stock
            .apply(command, now)
            .map_err(|e| stock_refused(id, e))?;
        self.events.push(t.event);
        self.stocks.insert(id, t.next);
        Ok(())
    }

    pub(super) fn apply_ticket(
        &mut self,
        ticket: &Ticket,
        command: TicketCommand,
        now: Timestamp,
    ) -> Result<Ticket, StoreError> {
        let t = ticket
            .apply(command, now)
            .map_err(|e| StoreError::refused("Ticket", e))?;
        self.events.push(t.event);
        Ok(t.next)
    }
}

/// The ids of one page of `ids` (of one buyer or event), highest first.
pub(super) fn page_of<'a>(
    ids: Option<&'a BTreeSet<OrderId>>,
    page: &OrderPage,
) -> impl Iterator<Item = &'a OrderId> {
    let below = ids.into_iter().flat_map(|ids| match page.before {
        Some(before) => ids.range(..before),
        None => ids.range(..),
    });
    below
        .rev()
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
}

impl State {
    pub(super) fn ticket(&self, id: TicketId) -> Result<&TicketListing, StoreError> {
        self.tickets
            .get(&id)
            .ok_or_else(|| StoreError::not_found("ticket", id))
    }

    /// One page of the orders `ids` (of one event), highest id first.
    pub(super) fn order_page(
        &self,
        ids: Option<&BTreeSet<OrderId>>,
        page: &OrderPage,
    ) -> Vec<OrderRecord> {
        page_of(ids, page)
            .filter_map(|id| self.orders.get(id).cloned())
            .collect()
    }

    pub(super) fn order_at(&self, change: &Cas<OrderRecord>) -> Result<&OrderRecord, StoreError> {
        let id = change.next.order.id();
        let current = self
            .orders
            .get(&id)
            .ok_or_else(|| StoreError::not_found("order", id))?;
        if current.version() != change.expected {
            return Err(StoreError::version_conflict("order", id, change.expected));
        }
        Ok(current)
    }

    pub(super) fn payment_at(
        &self,
        change: &Cas<PaymentRecord>,
    ) -> Result<&PaymentRecord, StoreError> {
        let id = change.next.payment.id();
        let current = self
            .payments
            .get(&id)
            .ok_or_else(|| StoreError::not_found("payment", id))?;
        if current.version() != change.expected {
            return Err(StoreError::version_conflict("payment", id, change.expected));
        }
        Ok(current)
    }

    /// Units of `stock` held by lapsed active holds at `now`, with those holds.
    pub(super) fn lapsed_stock_holds(
        &self,
        stock: StockId,
        now: Timestamp,
    ) -> Vec<(HoldId, StockHold)> {
        let Some(active) = self.active_by_stock.get(&stock) else {
            return Vec::new();
        };
        active
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .filter_map(|&(_, hold)| Some((hold, self.stock_hold(hold, stock)?)))
            .filter(|(_, r)| r.status == HoldStatus::Active)
            .collect()
    }

    /// Reclaims lapsed holds of `stock` into `staged` (lazy expiry for counted stock).
    pub(super) fn reclaim_lapsed(
        &self,
        staged: &mut Staged,
        stock: StockId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for (hold, record) in self.lapsed_stock_holds(stock, now) {
            staged.apply_stock(
                self,
                stock,
                StockCommand::Expire {
                    hold,
                    quantity: record.quantity,
                },
                now,
            )?;
            staged.holds.push((
                hold,
                StockHold {
                    status: HoldStatus::Expired,
                    ..record
                },
            ));
        }
        Ok(())
    }

    pub(super) fn stock_hold(&self, hold: HoldId, stock: StockId) -> Option<StockHold> {
        self.stock_holds
            .get(&hold)?
            .iter()
            .find(|r| r.stock == stock)
            .copied()
    }

    /// The orders and payments `staged` writes that this shard does not hold yet.
    pub(super) fn new_records(&self, staged: &Staged) -> NewRecords {
        let orders = staged
            .orders
            .iter()
            .filter(|o| !self.orders.contains_key(&o.order.id()))
            .map(|o| (o.order.id(), o.user))
            .collect();
        let payments = staged
            .payments
            .iter()
            .filter(|p| !self.payments.contains_key(&p.payment.id()))
            .map(|p| (p.payment.id(), p.order_ref.clone()))
            .collect();
        NewRecords { orders, payments }
    }

    /// Writes everything `staged` computed; returns its events, for the outbox.
    pub(super) fn commit(&mut self, staged: Staged) -> Vec<DomainEvent> {
        for ticket in staged.tickets {
            if let Some(listing) = self.tickets.get_mut(&ticket.id()) {
                listing.ticket = ticket;
            }
        }
        for (id, stock) in staged.stocks {
            if let Some(listing) = self.stocks.get_mut(&id) {
                listing.stock = stock;
            }
        }
        for (hold, record) in staged.holds {
            let records = self.stock_holds.entry(hold).or_default();
            let previous = match records.iter_mut().find(|r| r.stock == record.stock) {
                Some(existing) => Some(std::mem::replace(existing, record)),
                None => {
                    records.push(record);
                    None
                }
            };
            let active = self.active_by_stock.entry(record.stock).or_default();
            if let Some(old) = previous {
                active.remove(&(old.expires_at, hold));
            }
            if record.status == HoldStatus::Active {
                active.insert((record.expires_at, hold));
            }
        }
        for order in staged.orders {
            let id = order.order.id();
            if let Some(old) = self.orders.get(&id) {
                self.unpaid_by_deadline
                    .remove(&(old.order.expires_at(), id));
            }
            if matches!(
                order.order.state().kind(),
                OrderStateKind::Pending | OrderStateKind::AwaitingPayment
            ) {
                self.unpaid_by_deadline
                    .insert((order.order.expires_at(), id));
            }
            let event = order.event;
            if self.orders.insert(id, order).is_none() {
                // Listed under the event it was placed with, as the SQL stores index the
                // columns written when the order is inserted.
                self.orders_by_event.entry(event).or_default().insert(id);
            }
        }
        for payment in staged.payments {
            self.by_order_ref
                .insert(payment.order_ref.clone(), payment.payment.id());
            self.payments.insert(payment.payment.id(), payment);
        }
        staged.events
    }
}
