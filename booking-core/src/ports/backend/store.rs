//! For implementors of [`BookingStore`]: the checks and refusals every store makes the same
//! way, and what the sweep does with a due order's payment.

use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::ids::{EventId, StockId, TicketId};
use crate::machine::{Payment, PaymentCommand, PaymentState, Rejection, StockError, Transition};
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{ItemRef, OrderPage, OrderRecord, StoreError, TicketPage};

/// Checks `record`'s lines the way every store must before holding anything: at least one
/// line, no zero quantity, every item listed (`event_of` says the event of a listed item, or
/// `NotFound`), every item of the order's event, no item twice. Lines are checked in order,
/// so every backend reports the same first problem.
pub fn check_lines(
    record: &OrderRecord,
    mut event_of: impl FnMut(&ItemRef) -> Result<EventId, StoreError>,
) -> Result<(), StoreError> {
    if record.lines.is_empty() {
        return Err(StoreError::Invalid(
            "an order needs at least one line".to_owned(),
        ));
    }
    let mut seen = BTreeSet::new();
    for line in &record.lines {
        if let ItemRef::Stock { stock, quantity: 0 } = line.item {
            return Err(StoreError::Invalid(format!(
                "stock {stock}: quantity must be at least 1"
            )));
        }
        if event_of(&line.item)? != record.event {
            return Err(StoreError::Invalid(format!(
                "line {} belongs to another event",
                line.line
            )));
        }
        let item = match line.item {
            ItemRef::Ticket { ticket } => *ticket.as_uuid(),
            ItemRef::Stock { stock, .. } => *stock.as_uuid(),
        };
        if !seen.insert(item) {
            return Err(StoreError::Invalid(format!(
                "line {} repeats an item",
                line.line
            )));
        }
    }
    Ok(())
}

/// `Ok` if `restock` lists no item twice (a ticket, or a stock whatever the quantities), else
/// [`StoreError::Invalid`] naming the first item listed again: what every store checks before
/// [`BookingStore::settle_refund`] puts anything back on sale, so a refund never relists a
/// seat or returns units twice.
pub fn check_restock(restock: &[ItemRef]) -> Result<(), StoreError> {
    let mut seen = BTreeSet::new();
    for item in restock {
        let (kind, id) = match *item {
            ItemRef::Ticket { ticket } => ("ticket", *ticket.as_uuid()),
            ItemRef::Stock { stock, .. } => ("stock", *stock.as_uuid()),
        };
        if !seen.insert(id) {
            return Err(StoreError::Invalid(format!(
                "restock lists {kind} {id} twice"
            )));
        }
    }
    Ok(())
}

/// `Ok` if `page`'s limit is within 1 to [`OrderPage::MAX_LIMIT`], else
/// [`StoreError::Invalid`]: what every store checks before listing orders.
pub fn check_page(page: &OrderPage) -> Result<(), StoreError> {
    if (1..=OrderPage::MAX_LIMIT).contains(&page.limit) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a page of orders holds 1 to {} orders, not {}",
            OrderPage::MAX_LIMIT,
            page.limit
        )))
    }
}

/// `Ok` if `page`'s limit is one a store serves, else [`StoreError::Invalid`]: how
/// [`BookingStore::tickets_of_event`] refuses a page.
pub fn check_ticket_page(page: &TicketPage) -> Result<(), StoreError> {
    if (1..=TicketPage::MAX_LIMIT).contains(&page.limit) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a page of tickets holds 1 to {} tickets, not {}",
            TicketPage::MAX_LIMIT,
            page.limit
        )))
    }
}

/// `Ok` if no item was lost, else [`StoreError::ItemsLost`] naming every lost one: how
/// [`BookingStore::extend_hold`] and [`BookingStore::mark_paid`] refuse, after trying every
/// item of the order.
pub fn none_lost(tickets: Vec<TicketId>, stock: Vec<StockId>) -> Result<(), StoreError> {
    if tickets.is_empty() && stock.is_empty() {
        Ok(())
    } else {
        Err(StoreError::ItemsLost { tickets, stock })
    }
}

/// A stock machine's refusal as every store reports it: a shortage is
/// [`StoreError::InsufficientStock`], anything else [`StoreError::Refused`].
pub fn stock_refused(stock: StockId, err: StockError) -> StoreError {
    match err.reason {
        Rejection::InsufficientStock {
            requested,
            available,
        } => StoreError::InsufficientStock {
            stock,
            requested,
            available,
        },
        _ => StoreError::refused("Stock", err),
    }
}

/// What [`BookingStore::expire_due`] does with the payment of a due order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepStep {
    /// The payment is still open and its window has closed: expire it with the order.
    ExpirePayment(Transition<Payment>),
    /// The payment ended without keeping money (failed, expired, aborted, cancelled): expire
    /// the order alone.
    OrderOnly,
    /// Leave the order: its payment is confirming, unknown or paid, or still inside its
    /// confirm window.
    Skip,
}

impl SweepStep {
    /// The step for a due order whose payment is `payment`, at `now`.
    pub fn for_payment(payment: &Payment, now: Timestamp) -> SweepStep {
        match payment.state() {
            PaymentState::Ready | PaymentState::InProgress => payment
                .apply(PaymentCommand::Expire, now)
                .map_or(SweepStep::Skip, SweepStep::ExpirePayment),
            PaymentState::Failed
            | PaymentState::Expired
            | PaymentState::Aborted
            | PaymentState::Canceled => SweepStep::OrderOnly,
            PaymentState::Confirming
            | PaymentState::Unknown
            | PaymentState::Done
            | PaymentState::PartiallyCanceled => SweepStep::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_lost_is_ok_and_every_lost_item_is_named() {
        assert!(none_lost(Vec::new(), Vec::new()).is_ok());
        let (ticket, stock) = (TicketId::new(), StockId::new());
        assert!(matches!(
            none_lost(vec![ticket], vec![stock]),
            Err(StoreError::ItemsLost { tickets, stock: s }) if tickets == vec![ticket] && s == vec![stock]
        ));
    }

    #[test]
    fn pages_hold_one_to_a_thousand_orders() {
        assert!(check_page(&OrderPage::first(1)).is_ok());
        assert!(check_page(&OrderPage::first(OrderPage::MAX_LIMIT)).is_ok());
        for limit in [0, OrderPage::MAX_LIMIT + 1] {
            assert!(matches!(
                check_page(&OrderPage::first(limit)),
                Err(StoreError::Invalid(_))
            ));
        }
    }
}
