//! One buyer's claim on tickets and stock, and the money it moved.
//!
//! `Pending` (items held) → `AwaitingPayment` → `Paid` → `Confirmed`. An unpaid order can be
//! cancelled (straight to `Cancelled` before a payment started; through `Cancelling` while the
//! started payment is aborted) or expire once its payment window has passed. A paid order is
//! never expired: `Expire` has no row from `Paid` or later.
//!
//! `Extend` moves an unpaid order's deadline later, while it has not passed: an order whose
//! `expires_at <= now` is due to expire and is refused ([`Rejection::Lapsed`]), as its held
//! items may already have gone to another buyer. The caller decides how far an order may be
//! extended, and extends the holds it covers in the same step.
//!
//! Money goes back through `Cancelling`: `Refund { amount }` or `Cancel` (the whole remaining
//! balance) records the amount in flight, and `SettleCancel`, sent once the gateway returned it,
//! adds it to `refunded` and lands in `PartiallyRefunded` or `Refunded`. Refunds accumulate and
//! never exceed the total. A refund the gateway could not make yet leaves the order in
//! `Cancelling`, to be retried with the same idempotency key. A refund the gateway refused for
//! good is given up with `AbandonRefund`, which returns the order to the paid state it left
//! (recorded in `Cancelling` as its `origin`) with nothing refunded. `HandOverRefund` records
//! that the refund in flight changes sender (a new version of the order, nothing else).

use serde::{Deserialize, Serialize};

use super::kind::define_kind;
use super::{DomainEvent, Rejection, Transition, TransitionError, check_extension, next_version};
use crate::clock::Timestamp;
use crate::ids::{OrderId, PaymentId};
use crate::money::Money;

define_kind!(
    /// An [`OrderState`] without its data.
    OrderStateKind {
        /// Items held, no payment started.
        Pending,
        /// A payment was started.
        AwaitingPayment,
        /// The total was collected.
        Paid,
        /// Paid and the items are the buyer's.
        Confirmed,
        /// A cancel or refund is in flight.
        Cancelling,
        /// Cancelled before any money was collected.
        Cancelled,
        /// Part of the total was refunded.
        PartiallyRefunded,
        /// The whole total was refunded.
        Refunded,
        /// The payment window passed without a payment.
        Expired,
    }
);

define_kind!(
    /// An [`OrderCommand`] without its data.
    OrderCommandKind {
        /// See [`OrderCommand::StartPayment`].
        StartPayment,
        /// See [`OrderCommand::Extend`].
        Extend,
        /// See [`OrderCommand::MarkPaid`].
        MarkPaid,
        /// See [`OrderCommand::Confirm`].
        Confirm,
        /// See [`OrderCommand::Cancel`].
        Cancel,
        /// See [`OrderCommand::Refund`].
        Refund,
        /// See [`OrderCommand::SettleCancel`].
        SettleCancel,
        /// See [`OrderCommand::AbandonRefund`].
        AbandonRefund,
        /// See [`OrderCommand::HandOverRefund`].
        HandOverRefund,
        /// See [`OrderCommand::Expire`].
        Expire,
    }
);

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum OrderState {
    /// Items held, no payment started.
    Pending,
    /// Waiting for `payment`.
    AwaitingPayment {
        /// The payment started for this order.
        payment: PaymentId,
    },
    /// The total was collected by `payment`.
    Paid {
        /// The collecting payment.
        payment: PaymentId,
    },
    /// Paid and confirmed.
    Confirmed {
        /// The collecting payment.
        payment: PaymentId,
    },
    /// `refund` is being returned (or, if nothing was `captured`, the payment is being aborted).
    Cancelling {
        /// The payment being canceled or aborted.
        payment: PaymentId,
        /// The amount in flight back to the buyer.
        refund: Money,
        /// Whether money was collected (then settling refunds; otherwise it cancels).
        captured: bool,
        /// The paid state the refund started from, returned to if it is abandoned; `None` when
        /// nothing was `captured` (and in orders saved before it was recorded, which fall back
        /// to `Confirmed`, or `PartiallyRefunded` once something was refunded).
        #[serde(default)]
        origin: Option<RefundOrigin>,
    },
    /// Cancelled before any money was collected.
    Cancelled,
    /// Part of the total was refunded.
    PartiallyRefunded {
        /// The collecting payment.
        payment: PaymentId,
    },
    /// The whole total was refunded.
    Refunded {
        /// The collecting payment.
        payment: PaymentId,
    },
    /// The payment window passed without a payment.
    Expired,
}

impl OrderState {
    /// The state without its data.
    pub const fn kind(&self) -> OrderStateKind {
        match self {
            OrderState::Pending => OrderStateKind::Pending,
            OrderState::AwaitingPayment { .. } => OrderStateKind::AwaitingPayment,
            OrderState::Paid { .. } => OrderStateKind::Paid,
            OrderState::Confirmed { .. } => OrderStateKind::Confirmed,
            OrderState::Cancelling { .. } => OrderStateKind::Cancelling,
            OrderState::Cancelled => OrderStateKind::Cancelled,
            OrderState::PartiallyRefunded { .. } => OrderStateKind::PartiallyRefunded,
            OrderState::Refunded { .. } => OrderStateKind::Refunded,
            OrderState::Expired => OrderStateKind::Expired,
        }
    }
}

/// The paid state an order was in when its refund started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefundOrigin {
    /// [`OrderState::Paid`].
    Paid,
    /// [`OrderState::Confirmed`].
    Confirmed,
    /// [`OrderState::PartiallyRefunded`].
    PartiallyRefunded,
}

impl RefundOrigin {
    /// The state itself, collected by `payment`.
    pub const fn state(self, payment: PaymentId) -> OrderState {
        match self {
            RefundOrigin::Paid => OrderState::Paid { payment },
            RefundOrigin::Confirmed => OrderState::Confirmed { payment },
            RefundOrigin::PartiallyRefunded => OrderState::PartiallyRefunded { payment },
        }
    }
}

/// What a caller can ask of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum OrderCommand {
    /// A payment was started for the order.
    StartPayment {
        /// The started payment.
        payment: PaymentId,
    },
    /// Move the deadline of an unpaid order that has not expired to a later `expires_at`.
    Extend {
        /// The new deadline, after the current one.
        expires_at: Timestamp,
    },
    /// The payment collected `amount`, which must equal the order's total.
    MarkPaid {
        /// The collecting payment (the one the order awaits).
        payment: PaymentId,
        /// The collected amount.
        amount: Money,
    },
    /// The paid order's items are the buyer's.
    Confirm,
    /// Cancel: unpaid orders are cancelled, paid ones refund the whole remaining balance.
    Cancel,
    /// Refund part of a paid order, more than zero and at most what is not refunded yet.
    Refund {
        /// The amount to refund.
        amount: Money,
    },
    /// The cancel or refund in flight is done.
    SettleCancel,
    /// The gateway refused the refund in flight for good: nothing was returned, and the order
    /// goes back to the paid state the refund started from.
    AbandonRefund,
    /// Who sends the refund in flight to the gateway changes: a caller takes the sending
    /// over, or gives it back after an answer that settled nothing. No money moves and the
    /// state stays `Cancelling`; the step exists so that the change is a new version of the
    /// order, which is how two callers are kept from sending one refund at the same time.
    HandOverRefund,
    /// The payment window passed (`expires_at <= now`) without a payment.
    Expire,
}

impl OrderCommand {
    /// The command without its data.
    pub const fn kind(&self) -> OrderCommandKind {
        match self {
            OrderCommand::StartPayment { .. } => OrderCommandKind::StartPayment,
            OrderCommand::Extend { .. } => OrderCommandKind::Extend,
            OrderCommand::MarkPaid { .. } => OrderCommandKind::MarkPaid,
            OrderCommand::Confirm => OrderCommandKind::Confirm,
            OrderCommand::Cancel => OrderCommandKind::Cancel,
            OrderCommand::Refund { .. } => OrderCommandKind::Refund,
            OrderCommand::SettleCancel => OrderCommandKind::SettleCancel,
            OrderCommand::AbandonRefund => OrderCommandKind::AbandonRefund,
            OrderCommand::HandOverRefund => OrderCommandKind::HandOverRefund,
            OrderCommand::Expire => OrderCommandKind::Expire,
        }
    }
}

/// An order command refused.
pub type OrderError = TransitionError<OrderStateKind, OrderCommandKind>;

/// An order, its total, what was refunded of it, and its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrderParts")]
pub struct Order {
    id: OrderId,
    state: OrderState,
    total: Money,
    refunded: Money,
    expires_at: Timestamp,
    version: u64,
}

/// The serialized shape of [`Order`], checked on the way in.
#[derive(Deserialize)]
struct OrderParts {
    id: OrderId,
    state: OrderState,
    total: Money,
    refunded: Money,
    expires_at: Timestamp,
    version: u64,
}

impl TryFrom<OrderParts> for Order {
    type Error = Rejection;

    fn try_from(p: OrderParts) -> Result<Self, Rejection> {
        Order::from_parts(p.id, p.state, p.total, p.refunded, p.expires_at, p.version)
    }
}

impl Order {
    /// A new `Pending` order for `total`, which expires unpaid at `expires_at`.
    pub const fn new(id: OrderId, total: Money, expires_at: Timestamp) -> Self {
        Order {
            id,
            state: OrderState::Pending,
            total,
            refunded: Money::zero(total.currency()),
            expires_at,
            version: 0,
        }
    }

    /// An order as a store last saved it; refused if `refunded` exceeds `total` or is in
    /// another currency.
    pub fn from_parts(
        id: OrderId,
        state: OrderState,
        total: Money,
        refunded: Money,
        expires_at: Timestamp,
        version: u64,
    ) -> Result<Self, Rejection> {
        total.checked_sub(refunded)?;
        Ok(Order {
            id,
            state,
            total,
            refunded,
            expires_at,
            version,
        })
    }

    /// The order's id.
    pub const fn id(&self) -> OrderId {
        self.id
    }

    /// The state.
    pub const fn state(&self) -> OrderState {
        self.state
    }

    /// The amount to collect.
    pub const fn total(&self) -> Money {
        self.total
    }

    /// Everything refunded so far (settled refunds only; not what is in flight).
    pub const fn refunded(&self) -> Money {
        self.refunded
    }

    /// What can still be refunded: `total - refunded`.
    pub fn remaining(&self) -> Money {
        // Every constructor keeps refunded <= total in the total's currency.
        self.total
            .checked_sub(self.refunded)
            .unwrap_or(Money::zero(self.total.currency()))
    }

    /// When an unpaid order expires.
    pub const fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// How many commands this order has accepted.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// The paid state a refund starting now leaves (the order is paid; any other state is
    /// refused before this is asked).
    const fn refund_origin(&self) -> RefundOrigin {
        match self.state {
            OrderState::Paid { .. } => RefundOrigin::Paid,
            OrderState::PartiallyRefunded { .. } => RefundOrigin::PartiallyRefunded,
            _ => RefundOrigin::Confirmed,
        }
    }
}

mod transitions;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
