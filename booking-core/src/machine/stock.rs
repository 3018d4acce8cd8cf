//! Counted inventory: general-admission capacity, product stock, a coupon budget.
//!
//! The machine is the counts: `capacity`, `held`, `sold`, with `held + sold <= capacity` always.
//! A hold of `n` succeeds only if `held + sold + n <= capacity`. Each hold's own deadline lives
//! in the store's hold record; a sweeper that finds a lapsed record sends `Expire` with its
//! quantity, and a buyer's hold that lapsed is simply no longer counted once that happens.
//!
//! `Closed` stock takes no new holds, but everything already held or sold can still be released,
//! expired, sold or refunded, so closing a sale never strands a paying buyer.

use serde::{Deserialize, Serialize};

use super::kind::{define_kind, impl_state_machine};
use super::{DomainEvent, Rejection, Transition, TransitionError, next_version};
use crate::clock::Timestamp;
use crate::ids::{HoldId, OrderId, StockId};

define_kind!(
    /// Whether a stock takes new holds.
    StockState {
        /// Takes new holds.
        Open,
        /// Takes no new holds; existing holds and sales still move.
        Closed,
    }
);

define_kind!(
    /// A [`StockCommand`] without its data.
    StockCommandKind {
        /// See [`StockCommand::Hold`].
        Hold,
        /// See [`StockCommand::Release`].
        Release,
        /// See [`StockCommand::Expire`].
        Expire,
        /// See [`StockCommand::Sell`].
        Sell,
        /// See [`StockCommand::Refund`].
        Refund,
        /// See [`StockCommand::SetCapacity`].
        SetCapacity,
        /// See [`StockCommand::Close`].
        Close,
        /// See [`StockCommand::Reopen`].
        Reopen,
    }
);

/// What a caller can ask of a stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum StockCommand {
    /// Hold `quantity` units for `order` under the hold record `hold`.
    Hold {
        /// The order to hold for.
        order: OrderId,
        /// The hold record the store keeps (with its deadline).
        hold: HoldId,
        /// Units to hold, at least 1.
        quantity: u32,
    },
    /// The holder gives back `quantity` held units.
    Release {
        /// The hold being released.
        hold: HoldId,
        /// Units to give back.
        quantity: u32,
    },
    /// A sweeper returns the `quantity` units of a lapsed hold.
    Expire {
        /// The lapsed hold.
        hold: HoldId,
        /// Its units.
        quantity: u32,
    },
    /// `quantity` held units are sold to `order`.
    Sell {
        /// The buying order.
        order: OrderId,
        /// Units sold.
        quantity: u32,
    },
    /// `quantity` sold units are refunded and become available again.
    Refund {
        /// The order that bought them.
        order: OrderId,
        /// Units refunded.
        quantity: u32,
    },
    /// Change the capacity; it cannot go below `held + sold`.
    SetCapacity {
        /// The new capacity.
        capacity: u32,
    },
    /// Stop taking new holds.
    Close,
    /// Take new holds again.
    Reopen,
}

impl StockCommand {
    /// The command without its data.
    pub const fn kind(&self) -> StockCommandKind {
        match self {
            StockCommand::Hold { .. } => StockCommandKind::Hold,
            StockCommand::Release { .. } => StockCommandKind::Release,
            StockCommand::Expire { .. } => StockCommandKind::Expire,
            StockCommand::Sell { .. } => StockCommandKind::Sell,
            StockCommand::Refund { .. } => StockCommandKind::Refund,
            StockCommand::SetCapacity { .. } => StockCommandKind::SetCapacity,
            StockCommand::Close => StockCommandKind::Close,
            StockCommand::Reopen => StockCommandKind::Reopen,
        }
    }
}

/// A stock command refused.
pub type StockError = TransitionError<StockState, StockCommandKind>;

/// Counted inventory and its version. Always `held + sold <= capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StockParts")]
pub struct Stock {
    id: StockId,
    state: StockState,
    capacity: u32,
    held: u32,
    sold: u32,
    version: u64,
}

/// The serialized shape of [`Stock`], checked on the way in.
#[derive(Deserialize)]
struct StockParts {
    id: StockId,
    state: StockState,
    capacity: u32,
    held: u32,
    sold: u32,
    version: u64,
}

impl TryFrom<StockParts> for Stock {
    type Error = Rejection;

    fn try_from(p: StockParts) -> Result<Self, Rejection> {
        Stock::from_parts(p.id, p.state, p.capacity, p.held, p.sold, p.version)
    }
}

impl Stock {
    /// A new open stock of `capacity` units, none held or sold, at version 0.
    pub const fn new(id: StockId, capacity: u32) -> Self {
        Stock {
            id,
            state: StockState::Open,
            capacity,
            held: 0,
            sold: 0,
            version: 0,
        }
    }

    /// A stock as a store last saved it; refused with [`Rejection::CapacityBelowCommitted`]
    /// if `held + sold` exceeds `capacity`.
    pub fn from_parts(
        id: StockId,
        state: StockState,
        capacity: u32,
        held: u32,
        sold: u32,
        version: u64,
    ) -> Result<Self, Rejection> {
        match held.checked_add(sold) {
            Some(committed) if committed <= capacity => Ok(Stock {
                id,
                state,
                capacity,
                held,
                sold,
                version,
            }),
            _ => Err(Rejection::CapacityBelowCommitted {
                requested: capacity,
                committed: held.saturating_add(sold),
            }),
        }
    }

    /// The stock's id.
    pub const fn id(&self) -> StockId {
        self.id
    }

    /// Open or closed.
    pub const fn state(&self) -> StockState {
        self.state
    }

    /// Total units.
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Units held and not yet sold, released or expired.
    pub const fn held(&self) -> u32 {
        self.held
    }

    /// Units sold and not refunded.
    pub const fn sold(&self) -> u32 {
        self.sold
    }

    /// Units a hold could take now (`capacity - held - sold`).
    pub const fn available(&self) -> u32 {
        // The invariant held + sold <= capacity makes this exact; saturating keeps it total.
        self.capacity
            .saturating_sub(self.held)
            .saturating_sub(self.sold)
    }

    /// How many commands this stock has accepted.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// `held - quantity`, or why those units are not held.
    fn take_held(&self, quantity: u32) -> Result<u32, Rejection> {
        self.held
            .checked_sub(quantity)
            .ok_or(Rejection::ExceedsHeld {
                requested: quantity,
                held: self.held,
            })
    }

    /// Applies `command`. `now` is unused today (holds' deadlines live in the store) and is
    /// taken so every machine has the same shape.
    pub fn apply(
        &self,
        command: StockCommand,
        now: Timestamp,
    ) -> Result<Transition<Self>, StockError> {
        use StockCommand as C;
        use StockState as S;
        let _ = now;
        let (from, kind) = (self.state, command.kind());
        let reject = |reason| Err(TransitionError::new(from, kind, reason));
        let stock = self.id;
        let mut next = *self;
        let quantity = match command {
            C::Hold { quantity, .. }
            | C::Release { quantity, .. }
            | C::Expire { quantity, .. }
            | C::Sell { quantity, .. }
            | C::Refund { quantity, .. } => Some(quantity),
            C::SetCapacity { .. } | C::Close | C::Reopen => None,
        };
        if quantity == Some(0) && <Self as super::StateMachine>::allows(from, kind) {
            return reject(Rejection::ZeroQuantity);
        }
        let event = match (self.state, command) {
            (
                S::Open,
                C::Hold {
                    order,
                    hold,
                    quantity,
                },
            ) => {
                if quantity > self.available() {
                    let available = self.available();
                    return reject(Rejection::InsufficientStock {
                        requested: quantity,
                        available,
                    });
                }
                // quantity <= available, so held + quantity <= capacity: no overflow.
                next.held = self.held.saturating_add(quantity);
                DomainEvent::StockHeld {
                    stock,
                    order,
                    hold,
                    quantity,
                }
            }
            (S::Open | S::Closed, C::Release { hold, quantity } | C::Expire { hold, quantity }) => {
                next.held = match self.take_held(quantity) {
                    Ok(held) => held,
                    Err(reason) => return reject(reason),
                };
                if kind == StockCommandKind::Release {
                    DomainEvent::StockReleased {
                        stock,
                        hold,
                        quantity,
                    }
                } else {
                    DomainEvent::StockHoldExpired {
                        stock,
                        hold,
                        quantity,
                    }
                }
            }
            (S::Open | S::Closed, C::Sell { order, quantity }) => {
                next.held = match self.take_held(quantity) {
                    Ok(held) => held,
                    Err(reason) => return reject(reason),
                };
                // Moving units from held to sold keeps held + sold unchanged, so this fits.
                next.sold = self.sold.saturating_add(quantity);
                DomainEvent::StockSold {
                    stock,
                    order,
                    quantity,
                }
            }
            (S::Open | S::Closed, C::Refund { order, quantity }) => {
                let Some(sold) = self.sold.checked_sub(quantity) else {
                    return reject(Rejection::ExceedsSold {
                        requested: quantity,
                        sold: self.sold,
                    });
                };
                next.sold = sold;
                DomainEvent::StockRefunded {
                    stock,
                    order,
                    quantity,
                }
            }
            (S::Open | S::Closed, C::SetCapacity { capacity }) => {
                // held + sold <= capacity <= u32::MAX, so the sum cannot overflow.
                let committed = self.held.saturating_add(self.sold);
                if capacity < committed {
                    return reject(Rejection::CapacityBelowCommitted {
                        requested: capacity,
                        committed,
                    });
                }
                next.capacity = capacity;
                DomainEvent::StockCapacityChanged {
                    stock,
                    from: self.capacity,
                    to: capacity,
                }
            }
            (S::Open, C::Close) => {
                next.state = S::Closed;
                DomainEvent::StockClosed { stock }
            }
            (S::Closed, C::Reopen) => {
                next.state = S::Open;
                DomainEvent::StockReopened { stock }
            }
            (S::Open, C::Reopen) | (S::Closed, C::Hold { .. } | C::Close) => {
                return reject(Rejection::NotAllowed);
            }
        };
        next.version = next_version(self.version, from, kind)?;
        Ok(Transition { next, event })
    }
}

impl_state_machine!(
    Stock as "Stock",
    states: StockState, commands: StockCommand / StockCommandKind,
    state_kind: |s| s.state,
    [
        (Open, Hold, Open),
        (Open, Release, Open),
        (Open, Expire, Open),
        (Open, Sell, Open),
        (Open, Refund, Open),
        (Open, SetCapacity, Open),
        (Open, Close, Closed),
        (Closed, Release, Closed),
        (Closed, Expire, Closed),
        (Closed, Sell, Closed),
        (Closed, Refund, Closed),
        (Closed, SetCapacity, Closed),
        (Closed, Reopen, Open),
    ]
);

#[cfg(test)]
mod tests;
