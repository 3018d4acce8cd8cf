//! Why a machine refused a command.

use crate::clock::Timestamp;
use crate::ids::{HoldId, OrderId, PaymentId};
use crate::money::{Money, MoneyError};

/// A command a machine refused: the state it was in, what was asked, and why.
///
/// The aggregate is unchanged. `reason` says what the caller can do: [`Rejection::NotAllowed`]
/// means the command makes no sense in this state (reload, the aggregate moved on); the other
/// reasons are rules the command's data broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command} refused in state {from}: {reason}")]
#[non_exhaustive]
pub struct TransitionError<S, C> {
    /// The state the aggregate was in.
    pub from: S,
    /// The command that was refused.
    pub command: C,
    /// Why.
    pub reason: Rejection,
}

impl<S, C> TransitionError<S, C> {
    /// An error for `command` refused in state `from` because of `reason`.
    pub const fn new(from: S, command: C, reason: Rejection) -> Self {
        TransitionError {
            from,
            command,
            reason,
        }
    }
}

/// The rule a refused command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The transition table has no row for this state and command.
    #[error("no such transition")]
    NotAllowed,
    /// The ticket is held by a hold that has not expired yet.
    #[error("held until {expires_at}")]
    HoldActive {
        /// When the current hold lapses; a new hold may take the unit from then on.
        expires_at: Timestamp,
    },
    /// The hold named in the command no longer owns the unit (it expired and was taken over).
    #[error("hold {given} does not own this unit (hold {current} does)")]
    HoldMismatch {
        /// The hold that owns the unit now.
        current: HoldId,
        /// The hold named in the command.
        given: HoldId,
    },
    /// The unit is held or sold for another order.
    #[error("unit belongs to order {current}, not {given}")]
    OrderMismatch {
        /// The order the unit belongs to.
        current: OrderId,
        /// The order named in the command.
        given: OrderId,
    },
    /// The hold or payment window has not ended yet, so it cannot be expired.
    #[error("not expired until {expires_at}")]
    NotYetExpired {
        /// When it may be expired.
        expires_at: Timestamp,
    },
    /// The hold or order window already ended, so it cannot be extended. Under lazy expiry a
    /// lapsed hold is gone even if nobody has taken the unit yet: hold again instead.
    #[error("lapsed at {expired_at}; hold again instead of extending")]
    Lapsed {
        /// The deadline that passed.
        expired_at: Timestamp,
    },
    /// An extension to a deadline that is not after the current one.
    #[error("new deadline {given} is not after the current {current}")]
    NotLater {
        /// The deadline in force.
        current: Timestamp,
        /// The deadline in the command.
        given: Timestamp,
    },
    /// A quantity of zero: every stock command moves at least one unit.
    #[error("quantity must be at least 1")]
    ZeroQuantity,
    /// Not enough unheld, unsold stock for the hold.
    #[error("{requested} requested, {available} available")]
    InsufficientStock {
        /// Units asked for.
        requested: u32,
        /// Units that could be held now.
        available: u32,
    },
    /// Releasing, expiring or selling more units than are held.
    #[error("{requested} requested, only {held} held")]
    ExceedsHeld {
        /// Units named in the command.
        requested: u32,
        /// Units currently held.
        held: u32,
    },
    /// Refunding more units than were sold.
    #[error("{requested} requested, only {sold} sold")]
    ExceedsSold {
        /// Units named in the command.
        requested: u32,
        /// Units currently sold.
        sold: u32,
    },
    /// A capacity below what is already held and sold.
    #[error("capacity {requested} is below the {committed} units held or sold")]
    CapacityBelowCommitted {
        /// The capacity asked for.
        requested: u32,
        /// Units held plus sold.
        committed: u32,
    },
    /// The command names another payment than the one the order is waiting for.
    #[error("order is tied to payment {current}, not {given}")]
    PaymentMismatch {
        /// The payment the order is tied to.
        current: PaymentId,
        /// The payment named in the command.
        given: PaymentId,
    },
    /// A new payment attempt must have a new id: this one is already the order's.
    #[error("payment {payment} was already started for this order")]
    PaymentAlreadyStarted {
        /// The payment named twice.
        payment: PaymentId,
    },
    /// An amount that must equal the stored one does not.
    #[error("amount {given} does not match the expected {expected}")]
    AmountMismatch {
        /// The stored amount.
        expected: Money,
        /// The amount in the command.
        given: Money,
    },
    /// A refund or cancel of nothing.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// Nothing was collected, so there is no refund to give up; settle the abort instead.
    #[error("nothing was collected: no refund to abandon")]
    NothingCaptured,
    /// A refund or cancel larger than what is left to give back.
    #[error("{requested} requested, only {remaining} remaining")]
    ExceedsBalance {
        /// The amount in the command.
        requested: Money,
        /// What can still be refunded or canceled.
        remaining: Money,
    },
    /// Money arithmetic failed (a currency other than the aggregate's, or overflow).
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The stored version is `u64::MAX`; the aggregate cannot accept another command.
    #[error("version counter exhausted")]
    VersionExhausted,
}
