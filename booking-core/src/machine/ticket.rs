//! One sellable unit: a seat, or one unit of a ticket class.
//!
//! Lazy expiry: a `Held` ticket whose `expires_at <= now` accepts a new `Hold` exactly as an
//! `Available` one would, so availability never depends on a sweeper having run. The sweeper's
//! `Expire` only tidies.
//!
//! `Sell` is accepted only from `Held`, and only for the order that holds the ticket. That
//! includes a hold that has expired but that nobody has taken over yet: the buyer has paid and
//! the seat is still theirs. Once another order's hold has replaced it, `Sell` is refused with
//! [`Rejection::OrderMismatch`], and the service refunds the payment.
//!
//! `Extend` moves a live hold's deadline later, for the hold that owns the ticket only. A hold
//! that has lapsed cannot be extended ([`Rejection::Lapsed`]): from its deadline on, any buyer's
//! `Hold` may take the ticket, so reviving it would let the old holder win or lose depending on
//! whether a competitor happened to arrive first. The holder holds again instead. How far a hold
//! may be extended is policy, decided by the caller.

use serde::{Deserialize, Serialize};

use super::kind::{define_kind, impl_state_machine};
use super::{DomainEvent, Rejection, Transition, TransitionError, check_extension, next_version};
use crate::clock::Timestamp;
use crate::ids::{HoldId, OrderId, TicketId};

define_kind!(
    /// A [`TicketState`] without its data.
    TicketStateKind {
        /// On sale.
        Available,
        /// Held for an order until a deadline.
        Held,
        /// Sold to an order.
        Sold,
        /// Refunded, not yet back on sale.
        Refunded,
        /// Not on sale.
        Blocked,
    }
);

define_kind!(
    /// A [`TicketCommand`] without its data.
    TicketCommandKind {
        /// See [`TicketCommand::Hold`].
        Hold,
        /// See [`TicketCommand::Extend`].
        Extend,
        /// See [`TicketCommand::Release`].
        Release,
        /// See [`TicketCommand::Expire`].
        Expire,
        /// See [`TicketCommand::Sell`].
        Sell,
        /// See [`TicketCommand::Refund`].
        Refund,
        /// See [`TicketCommand::Relist`].
        Relist,
        /// See [`TicketCommand::Block`].
        Block,
        /// See [`TicketCommand::Unblock`].
        Unblock,
    }
);

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum TicketState {
    /// On sale.
    Available,
    /// Held for `order` by `hold` until `expires_at`; from then on it is available again.
    Held {
        /// The order the ticket is held for.
        order: OrderId,
        /// The hold that owns the ticket.
        hold: HoldId,
        /// When the hold lapses.
        expires_at: Timestamp,
    },
    /// Sold to `order`.
    Sold {
        /// The buying order.
        order: OrderId,
    },
    /// Refunded to `order`; `Relist` puts it back on sale, `Block` takes it off.
    Refunded {
        /// The order that bought it.
        order: OrderId,
    },
    /// Not on sale (kept back, broken seat, not released yet).
    Blocked,
}

impl TicketState {
    /// The state without its data.
    pub const fn kind(&self) -> TicketStateKind {
        match self {
            TicketState::Available => TicketStateKind::Available,
            TicketState::Held { .. } => TicketStateKind::Held,
            TicketState::Sold { .. } => TicketStateKind::Sold,
            TicketState::Refunded { .. } => TicketStateKind::Refunded,
            TicketState::Blocked => TicketStateKind::Blocked,
        }
    }
}

/// What a caller can ask of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum TicketCommand {
    /// Hold for `order` until `expires_at` (from `Available`, or `Held` by an expired hold).
    Hold {
        /// The order to hold for.
        order: OrderId,
        /// The new hold's id.
        hold: HoldId,
        /// When the hold lapses.
        expires_at: Timestamp,
    },
    /// Move the deadline of `hold`, which must own the ticket and not have lapsed, to a later
    /// `expires_at`.
    Extend {
        /// The hold being extended.
        hold: HoldId,
        /// The new deadline, after the current one.
        expires_at: Timestamp,
    },
    /// The holder gives the ticket back. Refused if `hold` no longer owns it.
    Release {
        /// The hold being released.
        hold: HoldId,
    },
    /// A sweeper clears a hold whose `expires_at <= now`.
    Expire,
    /// Sell to the holding `order` (its payment was collected).
    Sell {
        /// The buying order.
        order: OrderId,
    },
    /// Refund the sale to `order`.
    Refund {
        /// The order that bought the ticket.
        order: OrderId,
    },
    /// Put a refunded ticket back on sale.
    Relist,
    /// Take an available or refunded ticket off sale.
    Block,
    /// Put a blocked ticket on sale.
    Unblock,
}

impl TicketCommand {
    /// The command without its data.
    pub const fn kind(&self) -> TicketCommandKind {
        match self {
            TicketCommand::Hold { .. } => TicketCommandKind::Hold,
            TicketCommand::Extend { .. } => TicketCommandKind::Extend,
            TicketCommand::Release { .. } => TicketCommandKind::Release,
            TicketCommand::Expire => TicketCommandKind::Expire,
            TicketCommand::Sell { .. } => TicketCommandKind::Sell,
            TicketCommand::Refund { .. } => TicketCommandKind::Refund,
            TicketCommand::Relist => TicketCommandKind::Relist,
            TicketCommand::Block => TicketCommandKind::Block,
            TicketCommand::Unblock => TicketCommandKind::Unblock,
        }
    }
}

/// A ticket command refused.
pub type TicketError = TransitionError<TicketStateKind, TicketCommandKind>;

/// One sellable unit and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    id: TicketId,
    state: TicketState,
    version: u64,
}

impl Ticket {
    /// A new ticket, on sale, at version 0.
    pub const fn new(id: TicketId) -> Self {
        Ticket {
            id,
            state: TicketState::Available,
            version: 0,
        }
    }

    /// A ticket as a store last saved it.
    pub const fn from_parts(id: TicketId, state: TicketState, version: u64) -> Self {
        Ticket { id, state, version }
    }

    /// The ticket's id.
    pub const fn id(&self) -> TicketId {
        self.id
    }

    /// The stored state. A `Held` state may already have lapsed: see [`Ticket::is_available_at`].
    pub const fn state(&self) -> TicketState {
        self.state
    }

    /// How many commands this ticket has accepted.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// Whether a `Hold` at `now` would be accepted: available, or held by a lapsed hold.
    pub fn is_available_at(&self, now: Timestamp) -> bool {
        match self.state {
            TicketState::Available => true,
            TicketState::Held { expires_at, .. } => expires_at <= now,
            TicketState::Sold { .. } | TicketState::Refunded { .. } | TicketState::Blocked => false,
        }
    }

    /// Applies `command` at `now`. See the module docs for lazy expiry and who may sell.
    pub fn apply(
        &self,
        command: TicketCommand,
        now: Timestamp,
    ) -> Result<Transition<Self>, TicketError> {
        use TicketCommand as C;
        use TicketState as S;
        let (from, kind) = (self.state.kind(), command.kind());
        let reject = |reason| Err(TransitionError::new(from, kind, reason));
        let ticket = self.id;
        let (state, event) = match (self.state, command) {
            (
                S::Available | S::Held { .. },
                C::Hold {
                    order,
                    hold,
                    expires_at,
                },
            ) => {
                // Lazy expiry: a lapsed hold is as good as no hold.
                let replaced = match self.state {
                    S::Held {
                        expires_at: lapses, ..
                    } if lapses > now => {
                        return reject(Rejection::HoldActive { expires_at: lapses });
                    }
                    S::Held { hold: old, .. } => Some(old),
                    S::Available | S::Sold { .. } | S::Refunded { .. } | S::Blocked => None,
                };
                let event = DomainEvent::TicketHeld {
                    ticket,
                    order,
                    hold,
                    expires_at,
                    replaced,
                };
                (
                    S::Held {
                        order,
                        hold,
                        expires_at,
                    },
                    event,
                )
            }
            (
                S::Held {
                    order,
                    hold: current,
                    expires_at: deadline,
                },
                C::Extend {
                    hold: given,
                    expires_at,
                },
            ) => {
                if current != given {
                    return reject(Rejection::HoldMismatch { current, given });
                }
                if let Err(reason) = check_extension(deadline, expires_at, now) {
                    return reject(reason);
                }
                let event = DomainEvent::TicketHoldExtended {
                    ticket,
                    hold: current,
                    expires_at,
                };
                (
                    S::Held {
                        order,
                        hold: current,
                        expires_at,
                    },
                    event,
                )
            }
            (S::Held { hold: current, .. }, C::Release { hold: given }) => {
                if current != given {
                    return reject(Rejection::HoldMismatch { current, given });
                }
                (
                    S::Available,
                    DomainEvent::TicketReleased {
                        ticket,
                        hold: current,
                    },
                )
            }
            (
                S::Held {
                    hold, expires_at, ..
                },
                C::Expire,
            ) => {
                if expires_at > now {
                    return reject(Rejection::NotYetExpired { expires_at });
                }
                (
                    S::Available,
                    DomainEvent::TicketHoldExpired { ticket, hold },
                )
            }
            (S::Held { order: current, .. }, C::Sell { order: given }) => {
                if current != given {
                    return reject(Rejection::OrderMismatch { current, given });
                }
                (
                    S::Sold { order: current },
                    DomainEvent::TicketSold {
                        ticket,
                        order: current,
                    },
                )
            }
            (S::Sold { order: current }, C::Refund { order: given }) => {
                if current != given {
                    return reject(Rejection::OrderMismatch { current, given });
                }
                (
                    S::Refunded { order: current },
                    DomainEvent::TicketRefunded {
                        ticket,
                        order: current,
                    },
                )
            }
            (S::Refunded { .. }, C::Relist) => {
                (S::Available, DomainEvent::TicketRelisted { ticket })
            }
            (S::Available | S::Refunded { .. }, C::Block) => {
                (S::Blocked, DomainEvent::TicketBlocked { ticket })
            }
            (S::Blocked, C::Unblock) => (S::Available, DomainEvent::TicketUnblocked { ticket }),
            // Every refused pair is listed, not wildcarded: a new state or command does not
            // compile until it is placed in the table.
            (S::Available, C::Extend { .. } | C::Release { .. } | C::Expire | C::Sell { .. })
            | (S::Available, C::Refund { .. } | C::Relist | C::Unblock)
            | (S::Held { .. }, C::Refund { .. } | C::Relist | C::Block | C::Unblock)
            | (S::Sold { .. }, C::Hold { .. } | C::Extend { .. } | C::Release { .. })
            | (S::Sold { .. }, C::Expire | C::Sell { .. } | C::Relist | C::Block | C::Unblock)
            | (S::Refunded { .. }, C::Hold { .. } | C::Extend { .. } | C::Release { .. })
            | (S::Refunded { .. }, C::Expire | C::Sell { .. } | C::Refund { .. } | C::Unblock)
            | (S::Blocked, C::Hold { .. } | C::Extend { .. } | C::Release { .. } | C::Expire)
            | (S::Blocked, C::Sell { .. } | C::Refund { .. } | C::Relist | C::Block) => {
                return reject(Rejection::NotAllowed);
            }
        };
        let version = next_version(self.version, from, kind)?;
        Ok(Transition {
            next: Ticket {
                id: self.id,
                state,
                version,
            },
            event,
        })
    }
}

impl_state_machine!(
    Ticket as "Ticket",
    states: TicketStateKind, commands: TicketCommand / TicketCommandKind,
    state_kind: |t| t.state.kind(),
    [
        (Available, Hold, Held),
        (Available, Block, Blocked),
        (Held, Hold, Held),
        (Held, Extend, Held),
        (Held, Release, Available),
        (Held, Expire, Available),
        (Held, Sell, Sold),
        (Sold, Refund, Refunded),
        (Refunded, Relist, Available),
        (Refunded, Block, Blocked),
        (Blocked, Unblock, Available),
    ]
);

#[cfg(test)]
mod tests;
