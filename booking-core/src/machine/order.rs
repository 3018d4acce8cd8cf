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

use super::kind::{define_kind, impl_state_machine};
use super::{DomainEvent, Rejection, Transition, TransitionError, check_extension, next_version};
use crate::clock::Timestamp;
use crate::ids::{OrderId, PaymentId};
use crate::money::{Money, MoneyError};

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

    /// Applies `command` at `now`.
    pub fn apply(
        &self,
        command: OrderCommand,
        now: Timestamp,
    ) -> Result<Transition<Self>, OrderError> {
        use OrderCommand as C;
        use OrderState as S;
        let (from, kind) = (self.state.kind(), command.kind());
        let reject = |reason: Rejection| Err(TransitionError::new(from, kind, reason));
        let order = self.id;
        let mut next = self.clone();
        let remaining = self.remaining();
        let event = match (self.state, command) {
            (S::Pending, C::StartPayment { payment }) => {
                next.state = S::AwaitingPayment { payment };
                DomainEvent::OrderAwaitingPayment { order, payment }
            }
            // A new attempt after the last one failed (declined card, expired window); the
            // service starts one only when the previous payment is finished.
            (S::AwaitingPayment { payment: current }, C::StartPayment { payment }) => {
                if payment == current {
                    return reject(Rejection::PaymentAlreadyStarted { payment });
                }
                next.state = S::AwaitingPayment { payment };
                DomainEvent::OrderAwaitingPayment { order, payment }
            }
            (S::Pending | S::AwaitingPayment { .. }, C::Extend { expires_at }) => {
                if let Err(reason) = check_extension(self.expires_at, expires_at, now) {
                    return reject(reason);
                }
                next.expires_at = expires_at;
                DomainEvent::OrderExtended { order, expires_at }
            }
            (
                S::AwaitingPayment { payment: current },
                C::MarkPaid {
                    payment: given,
                    amount,
                },
            ) => {
                if current != given {
                    return reject(Rejection::PaymentMismatch { current, given });
                }
                if amount != self.total {
                    return reject(Rejection::AmountMismatch {
                        expected: self.total,
                        given: amount,
                    });
                }
                next.state = S::Paid { payment: current };
                DomainEvent::OrderPaid {
                    order,
                    payment: current,
                    amount,
                }
            }
            (S::Paid { payment }, C::Confirm) => {
                next.state = S::Confirmed { payment };
                DomainEvent::OrderConfirmed { order }
            }
            (S::Pending, C::Cancel) => {
                next.state = S::Cancelled;
                DomainEvent::OrderCancelled { order }
            }
            (S::AwaitingPayment { payment }, C::Cancel) => {
                let refund = Money::zero(self.total.currency());
                next.state = S::Cancelling {
                    payment,
                    refund,
                    captured: false,
                    origin: None,
                };
                DomainEvent::OrderCancelling { order, refund }
            }
            (
                S::Paid { payment } | S::Confirmed { payment } | S::PartiallyRefunded { payment },
                C::Cancel,
            ) => {
                next.state = S::Cancelling {
                    payment,
                    refund: remaining,
                    captured: true,
                    origin: Some(self.refund_origin()),
                };
                DomainEvent::OrderCancelling {
                    order,
                    refund: remaining,
                }
            }
            (
                S::Paid { payment } | S::Confirmed { payment } | S::PartiallyRefunded { payment },
                C::Refund { amount },
            ) => {
                if amount.currency() != self.total.currency() {
                    let (left, right) = (self.total.currency(), amount.currency());
                    return reject(MoneyError::CurrencyMismatch { left, right }.into());
                }
                if amount.is_zero() {
                    return reject(Rejection::ZeroAmount);
                }
                if amount > remaining {
                    return reject(Rejection::ExceedsBalance {
                        requested: amount,
                        remaining,
                    });
                }
                next.state = S::Cancelling {
                    payment,
                    refund: amount,
                    captured: true,
                    origin: Some(self.refund_origin()),
                };
                DomainEvent::OrderCancelling {
                    order,
                    refund: amount,
                }
            }
            (
                S::Cancelling {
                    captured: false, ..
                },
                C::SettleCancel,
            ) => {
                next.state = S::Cancelled;
                DomainEvent::OrderCancelled { order }
            }
            (
                S::Cancelling {
                    payment,
                    refund,
                    captured: true,
                    ..
                },
                C::SettleCancel,
            ) => {
                let refunded = match self.refunded.checked_add(refund) {
                    Ok(sum) if sum <= self.total => sum,
                    Ok(_) | Err(_) => {
                        return reject(Rejection::ExceedsBalance {
                            requested: refund,
                            remaining,
                        });
                    }
                };
                let fully = refunded == self.total;
                next.refunded = refunded;
                next.state = if fully {
                    S::Refunded { payment }
                } else {
                    S::PartiallyRefunded { payment }
                };
                DomainEvent::OrderRefunded {
                    order,
                    amount: refund,
                    refunded,
                    fully,
                }
            }
            (
                S::Cancelling {
                    payment,
                    refund,
                    captured: true,
                    origin,
                },
                C::AbandonRefund,
            ) => {
                let origin = origin.unwrap_or(if self.refunded.is_zero() {
                    RefundOrigin::Confirmed
                } else {
                    RefundOrigin::PartiallyRefunded
                });
                next.state = origin.state(payment);
                DomainEvent::OrderRefundAbandoned { order, refund }
            }
            (
                S::Cancelling {
                    refund,
                    captured: true,
                    ..
                },
                C::HandOverRefund,
            ) => DomainEvent::OrderRefundHandedOver { order, refund },
            // An abort of an unpaid order has no refund to give up or to send: it settles.
            (
                S::Cancelling {
                    captured: false, ..
                },
                C::AbandonRefund | C::HandOverRefund,
            ) => return reject(Rejection::NothingCaptured),
            (S::Pending | S::AwaitingPayment { .. }, C::Expire) => {
                if self.expires_at > now {
                    return reject(Rejection::NotYetExpired {
                        expires_at: self.expires_at,
                    });
                }
                next.state = S::Expired;
                DomainEvent::OrderExpired { order }
            }
            (S::Pending, C::MarkPaid { .. } | C::Confirm | C::Refund { .. } | C::SettleCancel)
            | (S::AwaitingPayment { .. }, C::Confirm | C::Refund { .. })
            | (S::AwaitingPayment { .. }, C::SettleCancel)
            | (
                S::Pending
                | S::AwaitingPayment { .. }
                | S::Paid { .. }
                | S::Confirmed { .. }
                | S::PartiallyRefunded { .. }
                | S::Cancelled
                | S::Refunded { .. }
                | S::Expired,
                C::AbandonRefund | C::HandOverRefund,
            )
            | (
                S::Paid { .. },
                C::StartPayment { .. } | C::MarkPaid { .. } | C::SettleCancel | C::Expire,
            )
            | (S::Confirmed { .. }, C::StartPayment { .. } | C::MarkPaid { .. } | C::Confirm)
            | (S::Confirmed { .. }, C::SettleCancel | C::Expire)
            | (S::Cancelling { .. }, C::StartPayment { .. } | C::MarkPaid { .. } | C::Confirm)
            | (S::Cancelling { .. }, C::Cancel | C::Refund { .. } | C::Expire)
            | (
                S::PartiallyRefunded { .. },
                C::StartPayment { .. } | C::MarkPaid { .. } | C::Confirm,
            )
            | (S::PartiallyRefunded { .. }, C::SettleCancel | C::Expire)
            // Once paid or closed the deadline means nothing, so there is nothing to extend.
            | (
                S::Paid { .. }
                | S::Confirmed { .. }
                | S::Cancelling { .. }
                | S::PartiallyRefunded { .. },
                C::Extend { .. },
            )
            | (
                S::Cancelled | S::Refunded { .. } | S::Expired,
                C::StartPayment { .. } | C::Extend { .. } | C::MarkPaid { .. },
            )
            | (
                S::Cancelled | S::Refunded { .. } | S::Expired,
                C::Confirm | C::Cancel | C::Refund { .. },
            )
            | (S::Cancelled | S::Refunded { .. } | S::Expired, C::SettleCancel | C::Expire) => {
                return reject(Rejection::NotAllowed);
            }
        };
        next.version = next_version(self.version, from, kind)?;
        Ok(Transition { next, event })
    }
}

impl_state_machine!(
    Order as "Order",
    states: OrderStateKind, commands: OrderCommand / OrderCommandKind,
    state_kind: |o| o.state.kind(),
    [
        (Pending, StartPayment, AwaitingPayment),
        (Pending, Extend, Pending),
        (Pending, Cancel, Cancelled),
        (Pending, Expire, Expired),
        (AwaitingPayment, StartPayment, AwaitingPayment),
        (AwaitingPayment, Extend, AwaitingPayment),
        (AwaitingPayment, MarkPaid, Paid),
        (AwaitingPayment, Cancel, Cancelling),
        (AwaitingPayment, Expire, Expired),
        (Paid, Confirm, Confirmed),
        (Paid, Cancel, Cancelling),
        (Paid, Refund, Cancelling),
        (Confirmed, Cancel, Cancelling),
        (Confirmed, Refund, Cancelling),
        (PartiallyRefunded, Cancel, Cancelling),
        (PartiallyRefunded, Refund, Cancelling),
        (Cancelling, SettleCancel, Cancelled),
        (Cancelling, SettleCancel, PartiallyRefunded),
        (Cancelling, SettleCancel, Refunded),
        (Cancelling, AbandonRefund, Paid),
        (Cancelling, AbandonRefund, Confirmed),
        (Cancelling, AbandonRefund, PartiallyRefunded),
        (Cancelling, HandOverRefund, Cancelling),
    ]
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::machine::testing::{
        assert_agrees_with_table, assert_extend_deadline_rules, at, checked_step, krw, order,
        payment,
    };
    use crate::money::Currency;

    const TOTAL: i64 = 30_000;

    fn with(state: OrderState, refunded: i64) -> Order {
        expiring(state, refunded, 100)
    }

    fn expiring(state: OrderState, refunded: i64, secs: i64) -> Order {
        Order::from_parts(order(1), state, krw(TOTAL), krw(refunded), at(secs), 5).unwrap()
    }

    fn extend(secs: i64) -> OrderCommand {
        OrderCommand::Extend {
            expires_at: at(secs),
        }
    }

    fn p1() -> PaymentId {
        payment(1)
    }

    fn cancelling(refund: i64, captured: bool, origin: Option<RefundOrigin>) -> OrderState {
        OrderState::Cancelling {
            payment: p1(),
            refund: krw(refund),
            captured,
            origin,
        }
    }

    #[test]
    fn apply_agrees_with_the_table_for_every_state_and_command() {
        let pay = p1();
        let samples = [
            with(OrderState::Pending, 0),
            with(OrderState::AwaitingPayment { payment: pay }, 0),
            with(OrderState::Paid { payment: pay }, 0),
            with(OrderState::Confirmed { payment: pay }, 0),
            with(cancelling(0, false, None), 0),
            with(cancelling(10_000, true, Some(RefundOrigin::Paid)), 0),
            with(cancelling(10_000, true, Some(RefundOrigin::Confirmed)), 0),
            with(
                cancelling(20_000, true, Some(RefundOrigin::PartiallyRefunded)),
                10_000,
            ),
            // Saved before the origin was recorded.
            with(cancelling(10_000, true, None), 0),
            with(cancelling(20_000, true, None), 10_000),
            with(OrderState::Cancelled, 0),
            with(OrderState::PartiallyRefunded { payment: pay }, 10_000),
            with(OrderState::Refunded { payment: pay }, TOTAL),
            with(OrderState::Expired, 0),
            // Unpaid and not yet due at the test's `now`, so Extend can be accepted.
            expiring(OrderState::Pending, 0, 200),
            expiring(OrderState::AwaitingPayment { payment: pay }, 0, 200),
        ];
        let commands = [
            OrderCommand::StartPayment { payment: pay },
            OrderCommand::StartPayment {
                payment: payment(2),
            },
            extend(300),
            extend(150),
            OrderCommand::MarkPaid {
                payment: pay,
                amount: krw(TOTAL),
            },
            OrderCommand::MarkPaid {
                payment: payment(2),
                amount: krw(TOTAL),
            },
            OrderCommand::MarkPaid {
                payment: pay,
                amount: krw(1),
            },
            OrderCommand::Confirm,
            OrderCommand::Cancel,
            OrderCommand::Refund { amount: krw(5_000) },
            OrderCommand::Refund { amount: krw(0) },
            OrderCommand::Refund {
                amount: krw(TOTAL + 1),
            },
            OrderCommand::SettleCancel,
            OrderCommand::AbandonRefund,
            OrderCommand::HandOverRefund,
            OrderCommand::Expire,
        ];
        assert_agrees_with_table(&samples, &commands, at(100));
        // Before the window ends, Expire is a rule violation, not a missing row.
        for unpaid in &samples[..2] {
            assert!(checked_step(unpaid, OrderCommand::Expire, at(99)).is_none());
        }
    }

    #[test]
    fn mark_paid_checks_the_payment_and_the_amount() {
        let waiting = with(OrderState::AwaitingPayment { payment: p1() }, 0);
        let other = waiting.apply(
            OrderCommand::MarkPaid {
                payment: payment(2),
                amount: krw(TOTAL),
            },
            at(0),
        );
        assert_eq!(
            other.unwrap_err().reason,
            Rejection::PaymentMismatch {
                current: p1(),
                given: payment(2)
            }
        );
        let short = waiting.apply(
            OrderCommand::MarkPaid {
                payment: p1(),
                amount: krw(29_999),
            },
            at(0),
        );
        assert_eq!(
            short.unwrap_err().reason,
            Rejection::AmountMismatch {
                expected: krw(TOTAL),
                given: krw(29_999)
            }
        );
    }

    #[test]
    fn an_unpaid_order_is_extended_and_expires_at_the_new_deadline() {
        for state in [
            OrderState::Pending,
            OrderState::AwaitingPayment { payment: p1() },
        ] {
            let t = with(state, 0).apply(extend(400), at(99)).unwrap();
            assert_eq!((t.next.state(), t.next.expires_at()), (state, at(400)));
            assert_eq!(t.next.version(), 6);
            assert_eq!(
                t.event,
                DomainEvent::OrderExtended {
                    order: order(1),
                    expires_at: at(400)
                }
            );
            let early = t.next.apply(OrderCommand::Expire, at(100)).unwrap_err();
            assert_eq!(
                early.reason,
                Rejection::NotYetExpired {
                    expires_at: at(400)
                }
            );
            let due = t.next.apply(OrderCommand::Expire, at(400)).unwrap();
            assert_eq!(due.next.state(), OrderState::Expired);
        }
    }

    #[test]
    fn an_order_past_its_deadline_cannot_be_extended_nor_a_live_one_shortened() {
        for state in [
            OrderState::Pending,
            OrderState::AwaitingPayment { payment: p1() },
        ] {
            assert_extend_deadline_rules(&with(state, 0), extend);
        }
    }

    #[test]
    fn only_an_unpaid_order_can_be_extended() {
        let pay = p1();
        for state in [
            OrderState::Paid { payment: pay },
            OrderState::Confirmed { payment: pay },
            cancelling(0, false, None),
            OrderState::Cancelled,
            OrderState::PartiallyRefunded { payment: pay },
            OrderState::Refunded { payment: pay },
            OrderState::Expired,
        ] {
            let err = with(state, 0).apply(extend(400), at(0)).unwrap_err();
            assert_eq!(err.reason, Rejection::NotAllowed);
        }
    }

    #[test]
    fn a_paid_order_is_never_expired() {
        for state in [
            OrderState::Paid { payment: p1() },
            OrderState::Confirmed { payment: p1() },
            OrderState::PartiallyRefunded { payment: p1() },
        ] {
            let err = with(state, 0)
                .apply(OrderCommand::Expire, at(1_000_000))
                .unwrap_err();
            assert_eq!(err.reason, Rejection::NotAllowed);
        }
    }

    #[test]
    fn refunds_accumulate_up_to_the_total_and_no_further() {
        let mut o = with(OrderState::Confirmed { payment: p1() }, 0);
        for _ in 0..2 {
            o = o
                .apply(
                    OrderCommand::Refund {
                        amount: krw(10_000),
                    },
                    at(0),
                )
                .unwrap()
                .next;
            o = o.apply(OrderCommand::SettleCancel, at(0)).unwrap().next;
        }
        assert_eq!(o.state(), OrderState::PartiallyRefunded { payment: p1() });
        assert_eq!((o.refunded(), o.remaining()), (krw(20_000), krw(10_000)));
        let err = o
            .apply(
                OrderCommand::Refund {
                    amount: krw(10_001),
                },
                at(0),
            )
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::ExceedsBalance {
                requested: krw(10_001),
                remaining: krw(10_000)
            }
        );
        let t = o.apply(OrderCommand::Cancel, at(0)).unwrap();
        assert_eq!(
            t.event,
            DomainEvent::OrderCancelling {
                order: order(1),
                refund: krw(10_000)
            }
        );
        let t = t.next.apply(OrderCommand::SettleCancel, at(0)).unwrap();
        assert_eq!(t.next.state(), OrderState::Refunded { payment: p1() });
        assert_eq!(
            t.event,
            DomainEvent::OrderRefunded {
                order: order(1),
                amount: krw(10_000),
                refunded: krw(TOTAL),
                fully: true
            }
        );
    }

    #[test]
    fn an_abandoned_refund_returns_the_order_to_where_it_was() {
        for (state, refunded) in [
            (OrderState::Paid { payment: p1() }, 0),
            (OrderState::Confirmed { payment: p1() }, 0),
            (OrderState::PartiallyRefunded { payment: p1() }, 10_000),
        ] {
            let before = with(state, refunded);
            let refund = OrderCommand::Refund { amount: krw(5_000) };
            for start in [refund, OrderCommand::Cancel] {
                let started = before.apply(start, at(0)).unwrap().next;
                let t = started.apply(OrderCommand::AbandonRefund, at(0)).unwrap();
                assert_eq!(t.next.state(), state);
                assert_eq!(t.next.refunded(), krw(refunded), "nothing was returned");
                assert_eq!(t.next.version(), before.version() + 2);
                let OrderState::Cancelling { refund, .. } = started.state() else {
                    panic!("a refund starts in Cancelling");
                };
                assert_eq!(
                    t.event,
                    DomainEvent::OrderRefundAbandoned {
                        order: order(1),
                        refund
                    }
                );
                // A fresh refund can start again.
                assert!(t.next.apply(refund_of(1_000), at(0)).is_ok());
            }
        }
        let aborting = with(cancelling(0, false, None), 0);
        let err = aborting
            .apply(OrderCommand::AbandonRefund, at(0))
            .unwrap_err();
        assert_eq!(err.reason, Rejection::NothingCaptured);
    }

    #[test]
    fn a_hand_over_is_a_new_version_of_the_same_refund() {
        let started = with(OrderState::Confirmed { payment: p1() }, 0)
            .apply(refund_of(5_000), at(0))
            .unwrap()
            .next;
        let t = started.apply(OrderCommand::HandOverRefund, at(1)).unwrap();
        assert_eq!(t.next.state(), started.state());
        assert_eq!(t.next.refunded(), started.refunded());
        assert_eq!(t.next.version(), started.version() + 1);
        assert_eq!(
            t.event,
            DomainEvent::OrderRefundHandedOver {
                order: order(1),
                refund: krw(5_000)
            }
        );
        // The refund settles as if nothing had happened.
        let settled = t.next.apply(OrderCommand::SettleCancel, at(2)).unwrap();
        assert_eq!(settled.next.refunded(), krw(5_000));
        let aborting = with(cancelling(0, false, None), 0);
        let err = aborting
            .apply(OrderCommand::HandOverRefund, at(0))
            .unwrap_err();
        assert_eq!(err.reason, Rejection::NothingCaptured);
    }

    fn refund_of(amount: i64) -> OrderCommand {
        OrderCommand::Refund {
            amount: krw(amount),
        }
    }

    #[test]
    fn a_cancelling_order_saved_without_its_origin_abandons_to_a_paid_state() {
        let fresh = with(cancelling(10_000, true, None), 0);
        let t = fresh.apply(OrderCommand::AbandonRefund, at(0)).unwrap();
        assert_eq!(t.next.state(), OrderState::Confirmed { payment: p1() });
        let partly = with(cancelling(10_000, true, None), 10_000);
        let t = partly.apply(OrderCommand::AbandonRefund, at(0)).unwrap();
        assert_eq!(
            t.next.state(),
            OrderState::PartiallyRefunded { payment: p1() }
        );
        let mut json = serde_json::to_value(&fresh).unwrap();
        json["state"].as_object_mut().unwrap().remove("origin");
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), fresh);
    }

    #[test]
    fn cancelling_an_unpaid_order_refunds_nothing() {
        let o = with(OrderState::AwaitingPayment { payment: p1() }, 0);
        let o = o.apply(OrderCommand::Cancel, at(0)).unwrap().next;
        let t = o.apply(OrderCommand::SettleCancel, at(0)).unwrap();
        assert_eq!(t.next.state(), OrderState::Cancelled);
        assert_eq!(t.next.refunded(), krw(0));
    }

    #[test]
    fn a_refund_in_another_currency_is_refused() {
        let o = with(OrderState::Paid { payment: p1() }, 0);
        let usd = Money::new(100, Currency::USD).unwrap();
        let err = o
            .apply(OrderCommand::Refund { amount: usd }, at(0))
            .unwrap_err();
        assert!(matches!(
            err.reason,
            Rejection::Money(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn a_new_payment_attempt_replaces_a_finished_one() {
        let o = with(OrderState::AwaitingPayment { payment: p1() }, 0);
        let t = o
            .apply(
                OrderCommand::StartPayment {
                    payment: payment(2),
                },
                at(0),
            )
            .unwrap();
        assert_eq!(
            t.next.state(),
            OrderState::AwaitingPayment {
                payment: payment(2)
            }
        );
        assert_eq!(t.next.version(), o.version() + 1);
        let err = o
            .apply(OrderCommand::StartPayment { payment: p1() }, at(0))
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::PaymentAlreadyStarted { payment: p1() }
        );
    }

    #[test]
    fn orders_round_trip_through_serde_and_bad_ones_are_refused() {
        let o = with(OrderState::PartiallyRefunded { payment: p1() }, 10_000);
        let mut json = serde_json::to_value(&o).unwrap();
        assert_eq!(serde_json::from_value::<Order>(json.clone()).unwrap(), o);
        json["refunded"]["amount"] = serde_json::json!(TOTAL + 1);
        assert!(serde_json::from_value::<Order>(json).is_err());
    }

    fn command() -> impl Strategy<Value = OrderCommand> {
        prop_oneof![
            (1..=2u128).prop_map(|n| OrderCommand::StartPayment {
                payment: payment(n)
            }),
            (1..=2u128, prop_oneof![Just(TOTAL), 0..TOTAL]).prop_map(|(n, a)| {
                OrderCommand::MarkPaid {
                    payment: payment(n),
                    amount: krw(a),
                }
            }),
            Just(OrderCommand::Confirm),
            Just(OrderCommand::Cancel),
            (0..TOTAL + 5_000).prop_map(|a| OrderCommand::Refund { amount: krw(a) }),
            Just(OrderCommand::SettleCancel),
            Just(OrderCommand::AbandonRefund),
            Just(OrderCommand::HandOverRefund),
            Just(OrderCommand::Expire),
            (0..300i64).prop_map(extend),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn random_sequences_never_over_refund(steps in prop::collection::vec((command(), 0..30i64), 0..40)) {
            let mut o = Order::new(order(1), krw(TOTAL), at(100));
            let mut now = 0;
            for (command, elapsed) in steps {
                now += elapsed;
                let before = o.clone();
                if let Some(next) = checked_step(&o, command, at(now)) {
                    prop_assert!(next.refunded() <= next.total());
                    prop_assert!(next.refunded() >= before.refunded(), "refunds only accumulate");
                    if let OrderState::Cancelling { refund, .. } = next.state() {
                        prop_assert!(refund <= next.remaining());
                    }
                    if next.expires_at() != before.expires_at() {
                        // Of an unpaid, live order, and only later.
                        let extended = matches!(command, OrderCommand::Extend { .. });
                        prop_assert!(extended, "only Extend moves the deadline");
                        prop_assert_eq!(next.state(), before.state());
                        let unpaid = matches!(before.state(), OrderState::Pending | OrderState::AwaitingPayment { .. });
                        prop_assert!(unpaid, "only an unpaid order is extended");
                        prop_assert!(at(now) < before.expires_at() && before.expires_at() < next.expires_at());
                    }
                    if matches!(command, OrderCommand::AbandonRefund) {
                        prop_assert_eq!(next.refunded(), before.refunded(), "nothing returned");
                        let paid = matches!(next.state(), OrderState::Paid { .. } | OrderState::Confirmed { .. } | OrderState::PartiallyRefunded { .. });
                        prop_assert!(paid, "an abandoned refund leaves the order paid");
                    }
                    if matches!(command, OrderCommand::HandOverRefund) {
                        prop_assert_eq!(next.state(), before.state(), "a hand-over changes only the version");
                        prop_assert_eq!(next.refunded(), before.refunded());
                    }
                    if next.state().kind() == OrderStateKind::Expired {
                        let unpaid = matches!(before.state(), OrderState::Pending | OrderState::AwaitingPayment { .. });
                        prop_assert!(unpaid, "only an unpaid order expires");
                    }
                    o = next;
                }
            }
        }
    }
}
