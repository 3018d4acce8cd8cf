//! Which page of a buyer's or an event's orders to read.

use crate::ids::OrderId;

#[cfg(doc)]
use super::BookingStore;
use super::OrderRecord;

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
