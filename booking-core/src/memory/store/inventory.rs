//! Listing tickets and stock, availability, and placing an order.

use std::collections::HashSet;

use crate::clock::Timestamp;
use crate::ids::EventId;
use crate::machine::{OrderStateKind, StockCommand, TicketCommand};
use crate::ports::backend::store::check_lines;
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{
    Availability, ItemRef, OrderRecord, StockListing, StoreError, TicketListing,
};

use super::state::{HoldStatus, Staged, State, StockHold};

impl State {
    /// See [`BookingStore::add_tickets`].
    pub(super) fn add_tickets(&mut self, listings: &[TicketListing]) -> Result<(), StoreError> {
        let mut ids = HashSet::new();
        for listing in listings {
            let id = listing.ticket.id();
            if self.tickets.contains_key(&id) || !ids.insert(id) {
                return Err(StoreError::AlreadyExists {
                    what: "ticket",
                    id: id.to_string(),
                });
            }
        }
        for listing in listings {
            self.by_event
                .entry(listing.event)
                .or_default()
                .0
                .push(listing.ticket.id());
            self.tickets.insert(listing.ticket.id(), listing.clone());
        }
        Ok(())
    }

    /// See [`BookingStore::add_stock`].
    pub(super) fn add_stock(&mut self, listing: &StockListing) -> Result<(), StoreError> {
        let id = listing.stock.id();
        if self.stocks.contains_key(&id) {
            return Err(StoreError::AlreadyExists {
                what: "stock",
                id: id.to_string(),
            });
        }
        self.by_event.entry(listing.event).or_default().1.push(id);
        self.stocks.insert(id, listing.clone());
        Ok(())
    }

    /// See [`BookingStore::availability`].
    pub(super) fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        let Some((tickets, stocks)) = self.by_event.get(&event) else {
            return Ok(Availability::default());
        };
        let available = tickets
            .iter()
            .filter_map(|id| self.tickets.get(id))
            .filter(|l| l.ticket.is_available_at(now))
            .count();
        let stock_available = stocks
            .iter()
            .filter_map(|id| self.stocks.get(id))
            .map(|l| {
                let lapsed: u32 = self
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

    /// See [`BookingStore::place_order`].
    pub(super) fn place_order(
        &mut self,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = record.order.id();
        if self.orders.contains_key(&id) {
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
            ItemRef::Ticket { ticket } => Ok(self.ticket(ticket)?.event),
            ItemRef::Stock { stock, .. } => self
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
                ItemRef::Ticket { ticket } => match self.ticket(ticket)?.ticket.apply(hold, now) {
                    Ok(t) => {
                        staged.events.push(t.event);
                        staged.tickets.push(t.next);
                    }
                    Err(_) => unavailable.push(ticket),
                },
                ItemRef::Stock { stock, quantity } => {
                    self.reclaim_lapsed(&mut staged, stock, now)?;
                    staged.apply_stock(
                        self,
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
        self.commit(staged, now);
        Ok(())
    }
}
