//! The order's transitions: [`Order::apply`] and the table it is checked against.

use super::{
    DomainEvent, Order, OrderCommand, OrderCommandKind, OrderError, OrderState, OrderStateKind,
    RefundOrigin, Rejection, Transition, TransitionError, check_extension, next_version,
};
use crate::clock::Timestamp;
use crate::machine::kind::impl_state_machine;
use crate::money::{Money, MoneyError};

impl Order {
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
