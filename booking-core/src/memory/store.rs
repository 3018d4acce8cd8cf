//! [`MemoryBookingStore`]: the booking store in process memory.
//!
//! One mutex guards everything, so each operation is a critical section. Inside it an operation
//! first computes every change from the current state — running the same state machines a
//! database backend runs — and only writes them once all have been computed, so an operation
//! that fails part way has changed nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{EventId, HoldId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{
    DomainEvent, OrderStateKind, PaymentState, Stock, StockCommand, Ticket, TicketCommand,
    TicketState,
};
use crate::ports::backend::store::{SweepStep, check_lines, check_page, none_lost, stock_refused};
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, ItemRef, MarkPaid, OrderPage, OrderRecord,
    OutboxEntry, PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing,
};

/// The booking store in memory: correct under real parallelism, lost on restart.
#[derive(Debug, Default)]
pub struct MemoryBookingStore {
    state: Mutex<State>,
}

/// The life of one stock hold record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldStatus {
    Active,
    Released,
    Expired,
    Sold,
}

/// `quantity` units of one stock held for one order until `expires_at`.
#[derive(Debug, Clone, Copy)]
struct StockHold {
    stock: StockId,
    quantity: u32,
    expires_at: Timestamp,
    status: HoldStatus,
}

#[derive(Debug, Default)]
struct State {
    tickets: HashMap<TicketId, TicketListing>,
    stocks: HashMap<StockId, StockListing>,
    /// Tickets and stocks listed per event.
    by_event: HashMap<EventId, (Vec<TicketId>, Vec<StockId>)>,
    /// Stock hold records per hold, one per stock.
    stock_holds: HashMap<HoldId, Vec<StockHold>>,
    /// Active stock holds per stock by deadline, so lapsed ones are found without a scan.
    active_by_stock: HashMap<StockId, BTreeSet<(Timestamp, HoldId)>>,
    /// Unpaid orders by deadline, so the sweep finds due ones without a scan.
    unpaid_by_deadline: BTreeSet<(Timestamp, OrderId)>,
    orders: HashMap<OrderId, OrderRecord>,
    /// Order ids per buyer and per event, as placed, for listing pages without a scan.
    orders_by_user: HashMap<UserId, BTreeSet<OrderId>>,
    orders_by_event: HashMap<EventId, BTreeSet<OrderId>>,
    payments: HashMap<PaymentId, PaymentRecord>,
    by_order_ref: HashMap<GatewayOrderId, PaymentId>,
    outbox: BTreeMap<u64, OutboxEntry>,
    next_seq: u64,
}

/// Changes computed by an operation, written only when the whole operation succeeded.
#[derive(Debug, Default)]
struct Staged {
    tickets: Vec<Ticket>,
    stocks: HashMap<StockId, Stock>,
    holds: Vec<(HoldId, StockHold)>,
    orders: Vec<OrderRecord>,
    payments: Vec<PaymentRecord>,
    events: Vec<DomainEvent>,
}

impl Staged {
    /// The stock as this operation has changed it so far.
    fn stock(&self, state: &State, id: StockId) -> Result<Stock, StoreError> {
        match self.stocks.get(&id) {
            Some(stock) => Ok(*stock),
            None => Ok(state
                .stocks
                .get(&id)
                .ok_or_else(|| StoreError::not_found("stock", id))?
                .stock),
        }
    }

    fn apply_stock(
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

    fn apply_ticket(
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

impl State {
    fn ticket(&self, id: TicketId) -> Result<&TicketListing, StoreError> {
        self.tickets
            .get(&id)
            .ok_or_else(|| StoreError::not_found("ticket", id))
    }

    /// One page of the orders `ids` (of one buyer or event), highest id first.
    fn order_page(&self, ids: Option<&BTreeSet<OrderId>>, page: &OrderPage) -> Vec<OrderRecord> {
        let Some(ids) = ids else {
            return Vec::new();
        };
        let below = match page.before {
            Some(before) => ids.range(..before),
            None => ids.range(..),
        };
        below
            .rev()
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .filter_map(|id| self.orders.get(id).cloned())
            .collect()
    }

    fn order_at(&self, change: &Cas<OrderRecord>) -> Result<&OrderRecord, StoreError> {
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

    fn payment_at(&self, change: &Cas<PaymentRecord>) -> Result<&PaymentRecord, StoreError> {
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
    fn lapsed_stock_holds(&self, stock: StockId, now: Timestamp) -> Vec<(HoldId, StockHold)> {
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
    fn reclaim_lapsed(
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

    fn stock_hold(&self, hold: HoldId, stock: StockId) -> Option<StockHold> {
        self.stock_holds
            .get(&hold)?
            .iter()
            .find(|r| r.stock == stock)
            .copied()
    }

    /// Releases (or expires) everything `record`'s hold still holds, into `staged`.
    fn free_items(
        &self,
        staged: &mut Staged,
        record: &OrderRecord,
        expire: bool,
        now: Timestamp,
    ) -> Result<(u32, u32), StoreError> {
        let (mut tickets, mut units) = (0_u32, 0_u32);
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let listing = self.ticket(ticket)?;
                    let TicketState::Held {
                        hold, expires_at, ..
                    } = listing.ticket.state()
                    else {
                        continue;
                    };
                    if hold != record.hold {
                        continue; // taken over by another order after the hold lapsed
                    }
                    let command = if expire && expires_at <= now {
                        TicketCommand::Expire
                    } else {
                        TicketCommand::Release { hold }
                    };
                    let next = staged.apply_ticket(&listing.ticket, command, now)?;
                    staged.tickets.push(next);
                    tickets = tickets.saturating_add(1);
                }
                ItemRef::Stock { stock, .. } => {
                    let Some(held) = self.stock_hold(record.hold, stock) else {
                        continue;
                    };
                    if held.status != HoldStatus::Active {
                        continue; // reclaimed by a later order, or already settled
                    }
                    let (command, status) = if expire {
                        (
                            StockCommand::Expire {
                                hold: record.hold,
                                quantity: held.quantity,
                            },
                            HoldStatus::Expired,
                        )
                    } else {
                        (
                            StockCommand::Release {
                                hold: record.hold,
                                quantity: held.quantity,
                            },
                            HoldStatus::Released,
                        )
                    };
                    staged.apply_stock(self, stock, command, now)?;
                    staged
                        .holds
                        .push((record.hold, StockHold { status, ..held }));
                    units = units.saturating_add(held.quantity);
                }
            }
        }
        Ok((tickets, units))
    }

    /// Writes everything `staged` computed, and its events to the outbox.
    fn commit(&mut self, staged: Staged, now: Timestamp) {
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
            let (user, event) = (order.user, order.event);
            if self.orders.insert(id, order).is_none() {
                // Listed under the buyer and event it was placed with, as the SQL stores
                // index the columns written when the order is inserted.
                self.orders_by_user.entry(user).or_default().insert(id);
                self.orders_by_event.entry(event).or_default().insert(id);
            }
        }
        for payment in staged.payments {
            self.by_order_ref
                .insert(payment.order_ref.clone(), payment.payment.id());
            self.payments.insert(payment.payment.id(), payment);
        }
        for event in staged.events {
            self.next_seq = self.next_seq.saturating_add(1);
            let seq = self.next_seq;
            self.outbox.insert(
                seq,
                OutboxEntry {
                    seq,
                    event,
                    recorded_at: now,
                },
            );
        }
    }
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
        let mut state = self.lock();
        let mut ids = HashSet::new();
        for listing in listings {
            let id = listing.ticket.id();
            if state.tickets.contains_key(&id) || !ids.insert(id) {
                return Err(StoreError::AlreadyExists {
                    what: "ticket",
                    id: id.to_string(),
                });
            }
        }
        for listing in listings {
            state
                .by_event
                .entry(listing.event)
                .or_default()
                .0
                .push(listing.ticket.id());
            state.tickets.insert(listing.ticket.id(), listing.clone());
        }
        Ok(())
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
        let mut state = self.lock();
        let id = listing.stock.id();
        if state.stocks.contains_key(&id) {
            return Err(StoreError::AlreadyExists {
                what: "stock",
                id: id.to_string(),
            });
        }
        state.by_event.entry(listing.event).or_default().1.push(id);
        state.stocks.insert(id, listing.clone());
        Ok(())
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
        let state = self.lock();
        let Some((tickets, stocks)) = state.by_event.get(&event) else {
            return Ok(Availability::default());
        };
        let available = tickets
            .iter()
            .filter_map(|id| state.tickets.get(id))
            .filter(|l| l.ticket.is_available_at(now))
            .count();
        let stock_available = stocks
            .iter()
            .filter_map(|id| state.stocks.get(id))
            .map(|l| {
                let lapsed: u32 = state
                    .lapsed_stock_holds(l.stock.id(), now)
                    .iter()
                    .fold(0, |sum, (_, r)| sum.saturating_add(r.quantity));
                (l.stock.id(), l.stock.available().saturating_add(lapsed))
            })
            .collect();
        Ok(Availability {
            tickets_available: available as u64,
            tickets_total: tickets.len() as u64,
            stock_available,
        })
    }

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock();
        let id = record.order.id();
        if state.orders.contains_key(&id) {
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
        check_lines(record, |item| match *item {
            ItemRef::Ticket { ticket } => Ok(state.ticket(ticket)?.event),
            ItemRef::Stock { stock, .. } => state
                .stocks
                .get(&stock)
                .map(|l| l.event)
                .ok_or_else(|| StoreError::not_found("stock", stock)),
        })?;
        let mut staged = Staged::default();
        let mut unavailable = Vec::new();
        let hold = TicketCommand::Hold {
            order: id,
            hold: record.hold,
            expires_at: record.order.expires_at(),
        };
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => match state.ticket(ticket)?.ticket.apply(hold, now) {
                    Ok(t) => {
                        staged.events.push(t.event);
                        staged.tickets.push(t.next);
                    }
                    Err(_) => unavailable.push(ticket),
                },
                ItemRef::Stock { stock, quantity } => {
                    state.reclaim_lapsed(&mut staged, stock, now)?;
                    staged.apply_stock(
                        &state,
                        stock,
                        StockCommand::Hold {
                            order: id,
                            hold: record.hold,
                            quantity,
                        },
                        now,
                    )?;
                    staged.holds.push((
                        record.hold,
                        StockHold {
                            stock,
                            quantity,
                            expires_at: record.order.expires_at(),
                            status: HoldStatus::Active,
                        },
                    ));
                }
            }
        }
        if !unavailable.is_empty() {
            return Err(StoreError::Unavailable {
                tickets: unavailable,
            });
        }
        staged.orders.push(record.clone());
        state.commit(staged, now);
        Ok(())
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
        let mut state = self.lock();
        state.order_at(change)?;
        let staged = Staged {
            orders: vec![change.next.clone()],
            events: events.to_vec(),
            ..Staged::default()
        };
        state.commit(staged, now);
        Ok(())
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let record = state.order_at(change)?.clone();
        let expires_at = change.next.order.expires_at();
        let mut staged = Staged {
            events: events.to_vec(),
            ..Staged::default()
        };
        // Every lapsed item is collected, so the error names them all whatever the line order.
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let listing = state.ticket(ticket)?;
                    match listing.ticket.apply(
                        TicketCommand::Extend {
                            hold: record.hold,
                            expires_at,
                        },
                        now,
                    ) {
                        Ok(t) => {
                            staged.events.push(t.event);
                            staged.tickets.push(t.next);
                        }
                        Err(_) => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, .. } => match state.stock_hold(record.hold, stock) {
                    Some(held) if held.status == HoldStatus::Active && held.expires_at > now => {
                        staged
                            .holds
                            .push((record.hold, StockHold { expires_at, ..held }));
                    }
                    _ => lost_stock.push(stock),
                },
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        staged.orders.push(change.next.clone());
        state.commit(staged, now);
        Ok(())
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.order_at(order)?;
        let id = payment.payment.id();
        if state.payments.contains_key(&id) || state.by_order_ref.contains_key(&payment.order_ref) {
            return Err(StoreError::AlreadyExists {
                what: "payment",
                id: id.to_string(),
            });
        }
        let staged = Staged {
            orders: vec![order.next.clone()],
            payments: vec![payment.clone()],
            events: events.to_vec(),
            ..Staged::default()
        };
        state.commit(staged, now);
        Ok(())
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
        let mut state = self.lock();
        state.payment_at(change)?;
        let staged = Staged {
            payments: vec![change.next.clone()],
            events: events.to_vec(),
            ..Staged::default()
        };
        state.commit(staged, now);
        Ok(())
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
        let mut state = self.lock();
        let record = state.order_at(&paid.order)?.clone();
        state.payment_at(&paid.payment)?;
        let order = record.order.id();
        let mut staged = Staged {
            events: paid.events.clone(),
            ..Staged::default()
        };
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = &state.ticket(ticket)?.ticket;
                    // Held by this order (even past its deadline) sells; free again (released,
                    // or held by a lapsed hold) is taken back first; anything else is lost.
                    let sold = current
                        .apply(TicketCommand::Sell { order }, now)
                        .or_else(|_| {
                            let hold = TicketCommand::Hold {
                                order,
                                hold: record.hold,
                                expires_at: now,
                            };
                            let held = current.apply(hold, now)?;
                            staged.events.push(held.event);
                            held.next.apply(TicketCommand::Sell { order }, now)
                        });
                    match sold {
                        Ok(t) => {
                            staged.events.push(t.event);
                            staged.tickets.push(t.next);
                        }
                        Err(_) => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, quantity } => {
                    let held = state.stock_hold(record.hold, stock);
                    let active = held.is_some_and(|h| h.status == HoldStatus::Active);
                    if !active {
                        // Reclaimed after it lapsed: take the units again if they are there.
                        state.reclaim_lapsed(&mut staged, stock, now)?;
                        let retake = StockCommand::Hold {
                            order,
                            hold: record.hold,
                            quantity,
                        };
                        if staged.apply_stock(&state, stock, retake, now).is_err() {
                            lost_stock.push(stock);
                            continue;
                        }
                    }
                    staged.apply_stock(
                        &state,
                        stock,
                        StockCommand::Sell { order, quantity },
                        now,
                    )?;
                    let expires_at = held.map_or(now, |h| h.expires_at);
                    staged.holds.push((
                        record.hold,
                        StockHold {
                            stock,
                            quantity,
                            expires_at,
                            status: HoldStatus::Sold,
                        },
                    ));
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        staged.orders.push(paid.order.next.clone());
        staged.payments.push(paid.payment.next.clone());
        state.commit(staged, now);
        Ok(())
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock();
        let record = state.order_at(&refund.order)?.clone();
        state.payment_at(&refund.payment)?;
        let order = record.order.id();
        let mut staged = Staged {
            events: refund.events.clone(),
            ..Staged::default()
        };
        for item in &refund.restock {
            match *item {
                ItemRef::Ticket { ticket } => {
                    let refunded = staged.apply_ticket(
                        &state.ticket(ticket)?.ticket,
                        TicketCommand::Refund { order },
                        now,
                    )?;
                    let relisted = staged.apply_ticket(&refunded, TicketCommand::Relist, now)?;
                    staged.tickets.push(relisted);
                }
                ItemRef::Stock { stock, quantity } => {
                    staged.apply_stock(
                        &state,
                        stock,
                        StockCommand::Refund { order, quantity },
                        now,
                    )?;
                }
            }
        }
        staged.orders.push(refund.order.next.clone());
        staged.payments.push(refund.payment.next.clone());
        state.commit(staged, now);
        Ok(())
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let record = state.order_at(change)?.clone();
        let mut staged = Staged {
            events: events.to_vec(),
            ..Staged::default()
        };
        state.free_items(&mut staged, &record, false, now)?;
        staged.orders.push(change.next.clone());
        state.commit(staged, now);
        Ok(())
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        let mut state = self.lock();
        let due: Vec<(Timestamp, OrderId)> = state
            .unpaid_by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .copied()
            .collect();
        let mut sweep = ExpirySweep::default();
        for (_, id) in due {
            if sweep.expired.len() >= usize::try_from(batch).unwrap_or(usize::MAX) {
                break;
            }
            let Some(record) = state.orders.get(&id).cloned() else {
                continue;
            };
            let mut staged = Staged::default();
            if let Some(payment) = record.payment.and_then(|p| state.payments.get(&p)).cloned() {
                match SweepStep::for_payment(&payment.payment, now) {
                    SweepStep::ExpirePayment(t) => {
                        staged.events.push(t.event);
                        staged.payments.push(PaymentRecord {
                            payment: t.next,
                            ..payment
                        });
                        sweep.payments_expired = sweep.payments_expired.saturating_add(1);
                    }
                    SweepStep::OrderOnly => {}
                    SweepStep::Skip => {
                        sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                        continue;
                    }
                }
            }
            let expired = record
                .order
                .apply(crate::machine::OrderCommand::Expire, now)
                .map_err(|e| StoreError::refused("Order", e))?;
            staged.events.push(expired.event);
            let (tickets, units) = state.free_items(&mut staged, &record, true, now)?;
            sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
            sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
            sweep
                .expired
                .push((id, record.user, record.coupons.clone()));
            staged.orders.push(OrderRecord {
                order: expired.next,
                ..record
            });
            state.commit(staged, now);
        }
        Ok(sweep)
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
