//! Listing tickets and stock, availability, and placing an order.

use crate::clock::Timestamp;
use crate::ids::EventId;
use crate::machine::{StockCommand, TicketCommand};
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{
    Availability, ItemRef, OrderRecord, StockListing, StoreError, TicketListing,
};

use super::state::{HoldStatus, Staged, State, StockHold};

impl State {
    /// Lists `listings` of this shard's event (their ids checked new by the caller).
    pub(super) fn add_tickets<'a>(&mut self, listings: impl Iterator<Item = &'a TicketListing>) {
        for listing in listings {
            self.by_event
                .entry(listing.event)
                .or_default()
                .0
                .push(listing.ticket.id());
            self.tickets.insert(listing.ticket.id(), listing.clone());
        }
    }

    /// Lists `listing` of this shard's event (its id checked new by the caller).
    pub(super) fn add_stock(&mut self, listing: &StockListing) {
        let id = listing.stock.id();
        self.by_event.entry(listing.event).or_default().1.push(id);
        self.stocks.insert(id, listing.clone());
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

    /// See [`BookingStore::place_order`]: the holds, once the order is checked.
    pub(super) fn place_order(
        &self,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<Staged, StoreError> {
        // The caller checked the order is pending and its lines are of this event, and that
        // the id was new when it looked; a placement of the same id that committed to this
        // shard since is seen here, under the shard's lock (one in another shard is refused by
        // the index when this one commits).
        let id = record.order.id();
        if self.orders.contains_key(&id) {
            return Err(StoreError::AlreadyExists {
                what: "order",
                id: id.to_string(),
            });
        }
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
        Ok(staged)
    }
}
