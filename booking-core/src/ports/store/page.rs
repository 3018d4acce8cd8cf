//! Which page of a buyer's or an event's orders, or of an event's tickets, to read.

use crate::ids::{OrderId, TicketId};

#[cfg(doc)]
use super::BookingStore;
use super::{OrderRecord, TicketListing};

/// Which page of a list of orders to read: see [`BookingStore::orders_of_user`].
///
/// Orders are listed by id, highest first: for ids made by [`OrderId::new`] (UUID v7, time
/// ordered) that is newest first — exactly, among ids made in one process; to the millisecond
/// across processes. Pages follow each other by the id of the last order read (keyset
/// paging), not by a count of orders to skip, so orders placed while a caller pages never
/// shift the pages still to come: a walk from [`OrderPage::first`] through
/// [`OrderPage::next`] reads every order that existed when it started exactly once.
///
/// ```
/// use booking_core::ids::OrderId;
/// use booking_core::ports::store::OrderPage;
///
/// let first = OrderPage::first(50);
/// assert_eq!((first.before, first.limit), (None, 50));
/// let last_read = OrderId::new();
/// assert_eq!(OrderPage::first(50).before(last_read).before, Some(last_read));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OrderPage {
    /// Lists only orders whose id is below this one (the last id of the previous page);
    /// `None` starts at the highest id. Any order id works as a position, even one of
    /// another owner or one never stored.
    pub before: Option<OrderId>,
    /// At most this many orders: 1 to [`OrderPage::MAX_LIMIT`]; stores refuse any other
    /// value with [`StoreError::Invalid`](super::StoreError::Invalid).
    pub limit: u32,
}

impl OrderPage {
    /// The most orders one page may hold.
    pub const MAX_LIMIT: u32 = 1_000;

    /// The first page: the `limit` orders with the highest ids.
    pub fn first(limit: u32) -> Self {
        OrderPage {
            before: None,
            limit,
        }
    }

    /// This page, starting after the order `id` (below it in id order).
    #[must_use]
    pub fn before(self, id: OrderId) -> Self {
        OrderPage {
            before: Some(id),
            ..self
        }
    }

    /// The page after `listed`, the orders this page returned; `None` if it held fewer than
    /// `limit` orders (there are no more). A full last page is followed by an empty one.
    pub fn next(&self, listed: &[OrderRecord]) -> Option<Self> {
        let full = usize::try_from(self.limit).is_ok_and(|limit| listed.len() >= limit);
        match listed.last() {
            Some(last) if full => Some(self.before(last.order.id())),
            _ => None,
        }
    }
}

/// Which page of an event's tickets to read: see [`BookingStore::tickets_of_event`].
///
/// Tickets are listed by id, lowest first; a page follows the last ticket id read (keyset
/// paging), so a walk from [`TicketPage::first`] through [`TicketPage::next`] reads every
/// ticket listed when it started exactly once, whatever is listed meanwhile.
///
/// ```
/// use booking_core::ids::TicketId;
/// use booking_core::ports::store::TicketPage;
///
/// let first = TicketPage::first(500);
/// assert_eq!((first.after, first.limit), (None, 500));
/// let last_read = TicketId::new();
/// assert_eq!(first.after(last_read).after, Some(last_read));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TicketPage {
    /// Lists only tickets whose id is above this one (the last id of the previous page);
    /// `None` starts at the lowest id. Any ticket id works as a position.
    pub after: Option<TicketId>,
    /// At most this many tickets: 1 to [`TicketPage::MAX_LIMIT`]; stores refuse any other
    /// value with [`StoreError::Invalid`](super::StoreError::Invalid).
    pub limit: u32,
}

impl TicketPage {
    /// The most tickets one page may hold: a large venue's seat map in one read.
    pub const MAX_LIMIT: u32 = 10_000;

    /// The first page: the `limit` tickets with the lowest ids.
    pub fn first(limit: u32) -> Self {
        TicketPage { after: None, limit }
    }

    /// This page, starting after the ticket `id` (above it in id order).
    #[must_use]
    pub fn after(self, id: TicketId) -> Self {
        TicketPage {
            after: Some(id),
            ..self
        }
    }

    /// The page after `listed`, the tickets this page returned; `None` if it held fewer than
    /// `limit` tickets (there are no more). A full last page is followed by an empty one.
    pub fn next(&self, listed: &[TicketListing]) -> Option<Self> {
        let full = usize::try_from(self.limit).is_ok_and(|limit| listed.len() >= limit);
        match listed.last() {
            Some(last) if full => Some(self.after(last.ticket.id())),
            _ => None,
        }
    }
}
