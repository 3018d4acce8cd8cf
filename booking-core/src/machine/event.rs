//! Domain events: what each accepted command did, in the shape an outbox stores.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{HoldId, OrderId, PaymentId, StockId, TicketId};
use crate::money::Money;

/// One thing that happened to an aggregate. Every accepted transition emits exactly one.
///
/// Serialized with a `type` tag, e.g. `{"type":"TicketSold","ticket":"…","order":"…"}`, so an
/// outbox row can be read without knowing which machine wrote it. The store adds the envelope
/// (event id, aggregate version, time written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum DomainEvent {
    /// A ticket was held for an order.
    TicketHeld {
        /// The ticket.
        ticket: TicketId,
        /// The order it is held for.
        order: OrderId,
        /// The new hold.
        hold: HoldId,
        /// When the hold lapses.
        expires_at: Timestamp,
        /// The expired hold this one took the ticket from, if any (lazy expiry).
        replaced: Option<HoldId>,
    },
    /// A live hold's deadline was moved later.
    TicketHoldExtended {
        /// The ticket.
        ticket: TicketId,
        /// The extended hold.
        hold: HoldId,
        /// The new deadline.
        expires_at: Timestamp,
    },
    /// A hold was released by its holder.
    TicketReleased {
        /// The ticket.
        ticket: TicketId,
        /// The released hold.
        hold: HoldId,
    },
    /// An expired hold was cleared by a sweeper.
    TicketHoldExpired {
        /// The ticket.
        ticket: TicketId,
        /// The expired hold.
        hold: HoldId,
    },
    /// A held ticket was sold to its order.
    TicketSold {
        /// The ticket.
        ticket: TicketId,
        /// The buying order.
        order: OrderId,
    },
    /// A sold ticket was refunded.
    TicketRefunded {
        /// The ticket.
        ticket: TicketId,
        /// The order that bought it.
        order: OrderId,
    },
    /// A refunded ticket was put back on sale.
    TicketRelisted {
        /// The ticket.
        ticket: TicketId,
    },
    /// A ticket was taken off sale.
    TicketBlocked {
        /// The ticket.
        ticket: TicketId,
    },
    /// A blocked ticket was put on sale.
    TicketUnblocked {
        /// The ticket.
        ticket: TicketId,
    },
    /// Units of a stock were held for an order.
    StockHeld {
        /// The stock.
        stock: StockId,
        /// The order they are held for.
        order: OrderId,
        /// The hold record the store keeps for them.
        hold: HoldId,
        /// How many units.
        quantity: u32,
    },
    /// Held units were released by their holder.
    StockReleased {
        /// The stock.
        stock: StockId,
        /// The released hold.
        hold: HoldId,
        /// How many units.
        quantity: u32,
    },
    /// Held units of an expired hold were returned by a sweeper.
    StockHoldExpired {
        /// The stock.
        stock: StockId,
        /// The expired hold.
        hold: HoldId,
        /// How many units.
        quantity: u32,
    },
    /// Held units were sold.
    StockSold {
        /// The stock.
        stock: StockId,
        /// The buying order.
        order: OrderId,
        /// How many units.
        quantity: u32,
    },
    /// Sold units were refunded and are available again.
    StockRefunded {
        /// The stock.
        stock: StockId,
        /// The order that bought them.
        order: OrderId,
        /// How many units.
        quantity: u32,
    },
    /// The capacity changed.
    StockCapacityChanged {
        /// The stock.
        stock: StockId,
        /// The capacity before.
        from: u32,
        /// The capacity after.
        to: u32,
    },
    /// The stock stopped taking new holds.
    StockClosed {
        /// The stock.
        stock: StockId,
    },
    /// The stock takes new holds again.
    StockReopened {
        /// The stock.
        stock: StockId,
    },
    /// An order is waiting for a payment.
    OrderAwaitingPayment {
        /// The order.
        order: OrderId,
        /// The payment it waits for.
        payment: PaymentId,
    },
    /// An unpaid order's deadline was moved later.
    OrderExtended {
        /// The order.
        order: OrderId,
        /// The new deadline.
        expires_at: Timestamp,
    },
    /// An order's total was collected.
    OrderPaid {
        /// The order.
        order: OrderId,
        /// The payment that collected it.
        payment: PaymentId,
        /// The amount collected (the order's total).
        amount: Money,
    },
    /// A paid order was confirmed (its items are the buyer's).
    OrderConfirmed {
        /// The order.
        order: OrderId,
    },
    /// A cancel or refund of an order started; `refund` is being returned to the buyer.
    OrderCancelling {
        /// The order.
        order: OrderId,
        /// The amount being returned (zero when nothing was collected).
        refund: Money,
    },
    /// An order that was never paid was cancelled.
    OrderCancelled {
        /// The order.
        order: OrderId,
    },
    /// Money was returned to the buyer of an order.
    OrderRefunded {
        /// The order.
        order: OrderId,
        /// The amount of this refund.
        amount: Money,
        /// Everything refunded so far, this refund included.
        refunded: Money,
        /// Whether the whole total has now been refunded.
        fully: bool,
    },
    /// The gateway refused a refund for good: nothing was returned and the order is paid
    /// again, as before the refund started.
    OrderRefundAbandoned {
        /// The order.
        order: OrderId,
        /// The amount that was not returned.
        refund: Money,
    },
    /// The refund in flight changed sender: a caller took over sending it to the gateway, or
    /// gave it back after an answer that settled nothing. No money moved.
    OrderRefundHandedOver {
        /// The order.
        order: OrderId,
        /// The amount in flight.
        refund: Money,
    },
    /// An unpaid order passed its payment window.
    OrderExpired {
        /// The order.
        order: OrderId,
    },
    /// The buyer started a payment at the gateway.
    PaymentStarted {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
    },
    /// Confirmation with the gateway began; no sweeper may expire the payment from here on.
    PaymentConfirming {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
        /// The amount being confirmed.
        amount: Money,
    },
    /// The gateway approved the payment.
    PaymentApproved {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
        /// The approved amount.
        amount: Money,
    },
    /// The gateway declined the payment.
    PaymentFailed {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
    },
    /// The gateway's answer was lost; the payment must be reconciled by looking it up.
    PaymentOutcomeUnknown {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
    },
    /// Part or all of an approved payment was canceled.
    PaymentCanceled {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
        /// The amount of this cancel.
        amount: Money,
        /// What is still approved after it.
        balance: Money,
    },
    /// An unconfirmed payment passed its window.
    PaymentExpired {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
    },
    /// The buyer or the service gave up on an unconfirmed payment.
    PaymentAborted {
        /// The payment.
        payment: PaymentId,
        /// Its order.
        order: OrderId,
    },
}
