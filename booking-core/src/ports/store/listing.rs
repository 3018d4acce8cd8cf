//! What a store sells: seats one by one, and counted stock.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::EventId;
use crate::machine::{Stock, Ticket};
use crate::money::Money;

/// A seat (or other unit sold one by one) and what it sells for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TicketListing {
    /// The unit and its state.
    pub ticket: Ticket,
    /// The event it belongs to.
    pub event: EventId,
    /// The price class, matched by discount rules' item filters (`"R"`, `"economy"`).
    pub item: String,
    /// Tags matched by discount rules' tag filters.
    pub tags: BTreeSet<String>,
    /// The price of the unit before discounts.
    pub price: Money,
}

/// A counted inventory (general admission, product stock) and the price of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StockListing {
    /// The counts and their state.
    pub stock: Stock,
    /// The event it belongs to.
    pub event: EventId,
    /// The item name, matched by discount rules' item filters.
    pub item: String,
    /// Tags matched by discount rules' tag filters.
    pub tags: BTreeSet<String>,
    /// The price of one unit before discounts.
    pub price: Money,
}

impl TicketListing {
    /// `ticket` of `event`, in price class `item`, at `price` before discounts, untagged.
    pub fn new(ticket: Ticket, event: EventId, item: impl Into<String>, price: Money) -> Self {
        TicketListing {
            ticket,
            event,
            item: item.into(),
            tags: BTreeSet::new(),
            price,
        }
    }

    /// Adds tags for discount rules' tag filters.
    #[must_use]
    pub fn tagged<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}

impl StockListing {
    /// `stock` of `event`, named `item`, at `price` a unit before discounts, untagged.
    pub fn new(stock: Stock, event: EventId, item: impl Into<String>, price: Money) -> Self {
        StockListing {
            stock,
            event,
            item: item.into(),
            tags: BTreeSet::new(),
            price,
        }
    }

    /// Adds tags for discount rules' tag filters.
    #[must_use]
    pub fn tagged<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}
