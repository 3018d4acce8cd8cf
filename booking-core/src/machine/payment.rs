//! One attempt to collect an order's amount through a gateway.
//!
//! `Ready` → `InProgress` (the buyer is at the gateway) → `Confirming` → `Done`, `Failed` or
//! `Unknown`. `Confirming` is entered by compare-and-set *before* the gateway is called: from
//! then on `Expire` and `Abort` have no row, so a sweeper can never expire a payment whose
//! confirmation is in flight. `Unknown` (the gateway's answer was lost) is resolved by looking
//! the payment up at the gateway, then `Approve` or `Fail`; never by blind retry.
//!
//! An approved payment is canceled in parts: each `Cancel { amount }` is more than zero and at
//! most the balance still approved; the canceled total accumulates, and the payment is
//! `Canceled` when the balance reaches zero, `PartiallyCanceled` before.

use serde::{Deserialize, Serialize};

use super::kind::{define_kind, impl_state_machine};
use super::{DomainEvent, Rejection, Transition, TransitionError, next_version};
use crate::clock::Timestamp;
use crate::ids::{OrderId, PaymentId};
use crate::money::{Money, MoneyError};

define_kind!(
    /// Where a payment is in its life.
    PaymentState {
        /// Created, the buyer has not gone to the gateway.
        Ready,
        /// The buyer is at the gateway.
        InProgress,
        /// Confirmation with the gateway is in flight; cannot expire.
        Confirming,
        /// Approved.
        Done,
        /// Declined.
        Failed,
        /// The gateway's answer was lost; reconcile by lookup.
        Unknown,
        /// Part of the approved amount was canceled.
        PartiallyCanceled,
        /// The whole approved amount was canceled.
        Canceled,
        /// The window passed before confirmation began.
        Expired,
        /// Given up before confirmation began.
        Aborted,
    }
);

define_kind!(
    /// A [`PaymentCommand`] without its data.
    PaymentCommandKind {
        /// See [`PaymentCommand::Start`].
        Start,
        /// See [`PaymentCommand::BeginConfirm`].
        BeginConfirm,
        /// See [`PaymentCommand::Approve`].
        Approve,
        /// See [`PaymentCommand::Fail`].
        Fail,
        /// See [`PaymentCommand::MarkUnknown`].
        MarkUnknown,
        /// See [`PaymentCommand::Cancel`].
        Cancel,
        /// See [`PaymentCommand::Expire`].
        Expire,
        /// See [`PaymentCommand::Abort`].
        Abort,
    }
);

/// What a caller can ask of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum PaymentCommand {
    /// The buyer went to the gateway.
    Start,
    /// Begin confirming `amount`, which must equal the payment's amount (a tampered client
    /// amount stops here, before the gateway is called).
    BeginConfirm {
        /// The amount the client asks to confirm.
        amount: Money,
    },
    /// The gateway approved (from `Confirming`, or `Unknown` after a lookup).
    Approve,
    /// The gateway declined (from `Confirming`, or `Unknown` after a lookup).
    Fail,
    /// The gateway's answer was lost (timeout, broken connection).
    MarkUnknown,
    /// Cancel `amount` of the approved payment.
    Cancel {
        /// More than zero, at most the balance.
        amount: Money,
    },
    /// The window passed (`expires_at <= now`) before confirmation began.
    Expire,
    /// Give up before confirmation began.
    Abort,
}

impl PaymentCommand {
    /// The command without its data.
    pub const fn kind(&self) -> PaymentCommandKind {
        match self {
            PaymentCommand::Start => PaymentCommandKind::Start,
            PaymentCommand::BeginConfirm { .. } => PaymentCommandKind::BeginConfirm,
            PaymentCommand::Approve => PaymentCommandKind::Approve,
            PaymentCommand::Fail => PaymentCommandKind::Fail,
            PaymentCommand::MarkUnknown => PaymentCommandKind::MarkUnknown,
            PaymentCommand::Cancel { .. } => PaymentCommandKind::Cancel,
            PaymentCommand::Expire => PaymentCommandKind::Expire,
            PaymentCommand::Abort => PaymentCommandKind::Abort,
        }
    }
}

/// A payment command refused.
pub type PaymentError = TransitionError<PaymentState, PaymentCommandKind>;

/// A payment, its amount, what was canceled of it, and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PaymentParts")]
pub struct Payment {
    id: PaymentId,
    order: OrderId,
    state: PaymentState,
    amount: Money,
    canceled: Money,
    expires_at: Timestamp,
    version: u64,
}

/// The serialized shape of [`Payment`], checked on the way in.
#[derive(Deserialize)]
struct PaymentParts {
    id: PaymentId,
    order: OrderId,
    state: PaymentState,
    amount: Money,
    canceled: Money,
    expires_at: Timestamp,
    version: u64,
}

impl TryFrom<PaymentParts> for Payment {
    type Error = Rejection;

    fn try_from(p: PaymentParts) -> Result<Self, Rejection> {
        Payment::from_parts(
            p.id,
            p.order,
            p.state,
            p.amount,
            p.canceled,
            p.expires_at,
            p.version,
        )
    }
}

impl Payment {
    /// A new `Ready` payment of `amount` for `order`, expiring unconfirmed at `expires_at`.
    pub const fn new(id: PaymentId, order: OrderId, amount: Money, expires_at: Timestamp) -> Self {
        Payment {
            id,
            order,
            state: PaymentState::Ready,
            amount,
            canceled: Money::zero(amount.currency()),
            expires_at,
            version: 0,
        }
    }

    /// A payment as a store last saved it; refused if `canceled` exceeds `amount` or is in
    /// another currency.
    pub fn from_parts(
        id: PaymentId,
        order: OrderId,
        state: PaymentState,
        amount: Money,
        canceled: Money,
        expires_at: Timestamp,
        version: u64,
    ) -> Result<Self, Rejection> {
        amount.checked_sub(canceled)?;
        Ok(Payment {
            id,
            order,
            state,
            amount,
            canceled,
            expires_at,
            version,
        })
    }

    /// The payment's id.
    pub const fn id(&self) -> PaymentId {
        self.id
    }

    /// The order it pays for.
    pub const fn order(&self) -> OrderId {
        self.order
    }

    /// The state.
    pub const fn state(&self) -> PaymentState {
        self.state
    }

    /// The amount to collect; once `Done`, the approved amount.
    pub const fn amount(&self) -> Money {
        self.amount
    }

    /// Everything canceled so far.
    pub const fn canceled(&self) -> Money {
        self.canceled
    }

    /// What is still approved: `amount - canceled`.
    pub fn balance(&self) -> Money {
        // Every constructor keeps canceled <= amount in the amount's currency.
        self.amount
            .checked_sub(self.canceled)
            .unwrap_or(Money::zero(self.amount.currency()))
    }

    /// When an unconfirmed payment expires.
    pub const fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// How many commands this payment has accepted.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// Applies `command` at `now`.
    pub fn apply(
        &self,
        command: PaymentCommand,
        now: Timestamp,
    ) -> Result<Transition<Self>, PaymentError> {
        use PaymentCommand as C;
        use PaymentState as S;
        let (from, kind) = (self.state, command.kind());
        let reject = |reason: Rejection| Err(TransitionError::new(from, kind, reason));
        let (payment, order, amount) = (self.id, self.order, self.amount);
        let mut next = *self;
        let (state, event) = match (self.state, command) {
            (S::Ready, C::Start) => (
                S::InProgress,
                DomainEvent::PaymentStarted { payment, order },
            ),
            (S::InProgress, C::BeginConfirm { amount: given }) => {
                if given != amount {
                    return reject(Rejection::AmountMismatch {
                        expected: amount,
                        given,
                    });
                }
                (
                    S::Confirming,
                    DomainEvent::PaymentConfirming {
                        payment,
                        order,
                        amount,
                    },
                )
            }
            (S::Confirming | S::Unknown, C::Approve) => (
                S::Done,
                DomainEvent::PaymentApproved {
                    payment,
                    order,
                    amount,
                },
            ),
            (S::Confirming | S::Unknown, C::Fail) => {
                (S::Failed, DomainEvent::PaymentFailed { payment, order })
            }
            (S::Confirming, C::MarkUnknown) => (
                S::Unknown,
                DomainEvent::PaymentOutcomeUnknown { payment, order },
            ),
            (S::Done | S::PartiallyCanceled, C::Cancel { amount: requested }) => {
                let remaining = self.balance();
                if requested.currency() != amount.currency() {
                    let (left, right) = (amount.currency(), requested.currency());
                    return reject(MoneyError::CurrencyMismatch { left, right }.into());
                }
                if requested.is_zero() {
                    return reject(Rejection::ZeroAmount);
                }
                let canceled = match self.canceled.checked_add(requested) {
                    Ok(sum) if requested <= remaining => sum,
                    Ok(_) | Err(_) => {
                        return reject(Rejection::ExceedsBalance {
                            requested,
                            remaining,
                        });
                    }
                };
                next.canceled = canceled;
                let balance = next.balance();
                let state = if balance.is_zero() {
                    S::Canceled
                } else {
                    S::PartiallyCanceled
                };
                (
                    state,
                    DomainEvent::PaymentCanceled {
                        payment,
                        order,
                        amount: requested,
                        balance,
                    },
                )
            }
            (S::Ready | S::InProgress, C::Expire) => {
                if self.expires_at > now {
                    return reject(Rejection::NotYetExpired {
                        expires_at: self.expires_at,
                    });
                }
                (S::Expired, DomainEvent::PaymentExpired { payment, order })
            }
            (S::Ready | S::InProgress, C::Abort) => {
                (S::Aborted, DomainEvent::PaymentAborted { payment, order })
            }
            (
                S::Ready,
                C::BeginConfirm { .. } | C::Approve | C::Fail | C::MarkUnknown | C::Cancel { .. },
            )
            | (
                S::InProgress,
                C::Start | C::Approve | C::Fail | C::MarkUnknown | C::Cancel { .. },
            )
            | (S::Confirming, C::Start | C::BeginConfirm { .. } | C::Cancel { .. })
            | (S::Confirming, C::Expire | C::Abort)
            | (S::Unknown, C::Start | C::BeginConfirm { .. } | C::MarkUnknown | C::Cancel { .. })
            | (S::Unknown, C::Expire | C::Abort)
            | (S::Done | S::PartiallyCanceled, C::Start | C::BeginConfirm { .. } | C::Approve)
            | (S::Done | S::PartiallyCanceled, C::Fail | C::MarkUnknown | C::Expire | C::Abort)
            | (
                S::Failed | S::Canceled | S::Expired | S::Aborted,
                C::Start | C::BeginConfirm { .. },
            )
            | (
                S::Failed | S::Canceled | S::Expired | S::Aborted,
                C::Approve | C::Fail | C::MarkUnknown,
            )
            | (
                S::Failed | S::Canceled | S::Expired | S::Aborted,
                C::Cancel { .. } | C::Expire | C::Abort,
            ) => {
                return reject(Rejection::NotAllowed);
            }
        };
        next.state = state;
        next.version = next_version(self.version, from, kind)?;
        Ok(Transition { next, event })
    }
}

impl_state_machine!(
    Payment as "Payment",
    states: PaymentState, commands: PaymentCommand / PaymentCommandKind,
    state_kind: |p| p.state,
    [
        (Ready, Start, InProgress),
        (Ready, Expire, Expired),
        (Ready, Abort, Aborted),
        (InProgress, BeginConfirm, Confirming),
        (InProgress, Expire, Expired),
        (InProgress, Abort, Aborted),
        (Confirming, Approve, Done),
        (Confirming, Fail, Failed),
        (Confirming, MarkUnknown, Unknown),
        (Unknown, Approve, Done),
        (Unknown, Fail, Failed),
        (Done, Cancel, PartiallyCanceled),
        (Done, Cancel, Canceled),
        (PartiallyCanceled, Cancel, PartiallyCanceled),
        (PartiallyCanceled, Cancel, Canceled),
    ]
);

#[cfg(test)]
mod tests;
