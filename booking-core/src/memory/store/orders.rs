//! The order and payment steps before the sale: compare-and-set updates, extending a hold,
//! starting a payment, and giving back what an unpaid order holds.

use crate::clock::Timestamp;
use crate::machine::{DomainEvent, StockCommand, TicketCommand, TicketState};
use crate::ports::backend::store::none_lost;
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{Cas, ItemRef, OrderRecord, PaymentRecord, StoreError};

use super::state::{HoldStatus, Staged, State, StockHold};

impl State {
    /// Releases (or expires) everything `record`'s hold still holds, into `staged`.
    pub(super) fn free_items(
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

    /// See [`BookingStore::update_order`].
    pub(super) fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
    ) -> Result<Staged, StoreError> {
        self.order_at(change)?;
        let staged = Staged {
            orders: vec![change.next.clone()],
            events: events.to_vec(),
            ..Staged::default()
        };
        Ok(staged)
    }

    /// See [`BookingStore::extend_hold`].
    pub(super) fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<Staged, StoreError> {
        let record = self.order_at(change)?.clone();
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
                    let listing = self.ticket(ticket)?;
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
                ItemRef::Stock { stock, .. } => match self.stock_hold(record.hold, stock) {
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
        Ok(staged)
    }

    /// See [`BookingStore::start_payment`].
    pub(super) fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
    ) -> Result<Staged, StoreError> {
        self.order_at(order)?;
        let id = payment.payment.id();
        if self.payments.contains_key(&id) || self.by_order_ref.contains_key(&payment.order_ref) {
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
        Ok(staged)
    }

    /// See [`BookingStore::update_payment`].
    pub(super) fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
    ) -> Result<Staged, StoreError> {
        self.payment_at(change)?;
        let staged = Staged {
            payments: vec![change.next.clone()],
            events: events.to_vec(),
            ..Staged::default()
        };
        Ok(staged)
    }

    /// See [`BookingStore::cancel_unpaid`].
    pub(super) fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<Staged, StoreError> {
        let record = self.order_at(change)?.clone();
        let mut staged = Staged {
            events: events.to_vec(),
            ..Staged::default()
        };
        self.free_items(&mut staged, &record, false, now)?;
        staged.orders.push(change.next.clone());
        Ok(staged)
    }
}
