//! The stream's events: what a change of a seat or a stock says, and how the relay derives
//! the changes from outbox entries.

use std::collections::BTreeMap;

use booking_core::ids::{EventId, StockId};
use booking_core::machine::DomainEvent;
use booking_core::ports::store::OutboxEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Index;
use crate::routes::catalog::{SeatView, StockView};

/// What happened to a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeatChange {
    /// Held for an order (`held_until` says until when).
    Held,
    /// Released by its holder (an order cancelled).
    Released,
    /// The hold lapsed and the sweeper freed the seat.
    Expired,
    /// Sold.
    Sold,
    /// Refunded (not on sale until relisted).
    Refunded,
    /// Put back on sale after a refund.
    Relisted,
    /// Taken off sale.
    Blocked,
    /// Put on sale again.
    Unblocked,
}

impl SeatChange {
    /// Whether the seat can be held after this change.
    pub fn available(self) -> bool {
        matches!(
            self,
            SeatChange::Released
                | SeatChange::Expired
                | SeatChange::Relisted
                | SeatChange::Unblocked
        )
    }
}

/// What happened to units of a counted stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockChange {
    /// Units held for an order.
    Held,
    /// Held units released by their holder.
    Released,
    /// Held units returned by the sweeper after the hold lapsed.
    Expired,
    /// Held units sold.
    Sold,
    /// Sold units refunded and on sale again.
    Refunded,
}

/// One change of a sale, as a `seat` or `stock` event of the stream. Its SSE `id` is
/// `position`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// The outbox position of the domain event behind it.
    pub position: u64,
    /// The sale (performance or flight).
    #[schema(value_type = String)]
    pub sale: EventId,
    /// A seat's change or a stock's.
    pub what: What,
}

/// A seat's change or a stock's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A seat (SSE event `seat`).
    Seat {
        /// The seat's ticket id (orders name it in `seats`).
        ticket: String,
        /// `A1`, `12C`.
        label: String,
        /// What happened.
        change: SeatChange,
        /// Whether it can be held now.
        available: bool,
        /// Until when a `held` seat is held.
        held_until: Option<String>,
    },
    /// A counted stock (SSE event `stock`).
    Stock {
        /// The stock's id.
        stock: String,
        /// What happened.
        change: StockChange,
        /// Units concerned.
        quantity: u32,
        /// Units available when the relay published it (as new as the change, or newer).
        available: u32,
    },
}

impl Change {
    /// The SSE event name: `seat` or `stock`.
    pub fn event_name(&self) -> &'static str {
        match self.what {
            What::Seat { .. } => "seat",
            What::Stock { .. } => "stock",
        }
    }
}

/// What the relay publishes per step: the changes derived from the outbox entries `from..=upto`
/// it read (entries that change no seat or stock give none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The first entry's position.
    pub from: u64,
    /// The last entry's position.
    pub upto: u64,
    /// The changes, in outbox order.
    pub changes: Vec<Change>,
}

/// The `snapshot` event: the seat map as `GET /v1/performances/{id}/seats` gives it, read
/// after `position` was published, so it reflects every change up to `position` (and maybe
/// some later ones, which the stream delivers next: each says the seat's state outright).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Snapshot {
    /// The sale.
    pub sale: String,
    /// The outbox position the map is consistent with (`null`: nothing published yet); also
    /// the event's SSE `id`.
    pub position: Option<u64>,
    /// Every seat.
    pub seats: Vec<SeatView>,
    /// Every counted stock.
    pub stock: Vec<StockView>,
}

/// The `lagged` and `goodbye` events, sent before the server closes a stream: it fell behind,
/// or the server is shutting down.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Goodbye {
    /// Why the stream ends: `lagged` or `goodbye`.
    pub reason: String,
    /// The last position delivered: reconnect with it as `Last-Event-ID`.
    pub position: Option<u64>,
}

/// A stock change before its availability is read: its stock, sale, kind and units.
type StockStep = (StockId, EventId, StockChange, u32);

/// The changes of `entries`. `available` gives the units of a stock available now, per sale
/// (read by the relay for the sales whose stock changed).
pub fn changes_of(
    entries: &[OutboxEntry],
    index: &Index,
    available: &BTreeMap<EventId, Vec<(StockId, u32)>>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for entry in entries {
        let position = entry.seq;
        if let Some((ticket, change, held_until)) = seat_step(&entry.event)
            && let Some((sale, label)) = index.tickets.get(&ticket)
        {
            changes.push(Change {
                position,
                sale: *sale,
                what: What::Seat {
                    ticket: ticket.to_string(),
                    label: label.clone(),
                    change,
                    available: change.available(),
                    held_until,
                },
            });
        } else if let Some((stock, sale, change, quantity)) = stock_step(&entry.event, index) {
            let units = available
                .get(&sale)
                .and_then(|list| list.iter().find(|(id, _)| *id == stock))
                .map_or(0, |(_, n)| *n);
            changes.push(Change {
                position,
                sale,
                what: What::Stock {
                    stock: stock.to_string(),
                    change,
                    quantity,
                    available: units,
                },
            });
        }
    }
    changes
}

/// The sales whose stock changes in `entries`.
pub fn stock_sales(entries: &[OutboxEntry], index: &Index) -> Vec<EventId> {
    let mut sales: Vec<EventId> = entries
        .iter()
        .filter_map(|e| stock_step(&e.event, index).map(|(_, sale, ..)| sale))
        .collect();
    sales.sort_unstable();
    sales.dedup();
    sales
}

/// A seat's change in `event`: the ticket, the change, and the hold's deadline.
fn seat_step(
    event: &DomainEvent,
) -> Option<(booking_core::ids::TicketId, SeatChange, Option<String>)> {
    let (ticket, change, until) = match event {
        DomainEvent::TicketHeld {
            ticket, expires_at, ..
        } => (ticket, SeatChange::Held, Some(expires_at.to_string())),
        DomainEvent::TicketReleased { ticket, .. } => (ticket, SeatChange::Released, None),
        DomainEvent::TicketHoldExpired { ticket, .. } => (ticket, SeatChange::Expired, None),
        DomainEvent::TicketSold { ticket, .. } => (ticket, SeatChange::Sold, None),
        DomainEvent::TicketRefunded { ticket, .. } => (ticket, SeatChange::Refunded, None),
        DomainEvent::TicketRelisted { ticket } => (ticket, SeatChange::Relisted, None),
        DomainEvent::TicketBlocked { ticket } => (ticket, SeatChange::Blocked, None),
        DomainEvent::TicketUnblocked { ticket } => (ticket, SeatChange::Unblocked, None),
        _ => return None,
    };
    Some((*ticket, change, until))
}

/// A stock's change in `event`, with the stock's sale.
fn stock_step(event: &DomainEvent, index: &Index) -> Option<StockStep> {
    let (stock, change, quantity) = match event {
        DomainEvent::StockHeld {
            stock, quantity, ..
        } => (stock, StockChange::Held, quantity),
        DomainEvent::StockReleased {
            stock, quantity, ..
        } => (stock, StockChange::Released, quantity),
        DomainEvent::StockHoldExpired {
            stock, quantity, ..
        } => (stock, StockChange::Expired, quantity),
        DomainEvent::StockSold {
            stock, quantity, ..
        } => (stock, StockChange::Sold, quantity),
        DomainEvent::StockRefunded {
            stock, quantity, ..
        } => (stock, StockChange::Refunded, quantity),
        _ => return None,
    };
    let sale = *index.stocks.get(stock)?;
    Some((*stock, sale, change, *quantity))
}
