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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::machine::testing::{
        assert_agrees_with_table, assert_extend_deadline_rules, at, checked_step, hold, order,
    };

    fn ticket(state: TicketState) -> Ticket {
        Ticket::from_parts(TicketId::from_uuid(uuid::Uuid::from_u128(7)), state, 3)
    }

    fn held(by: u128, until: i64) -> TicketState {
        TicketState::Held {
            order: order(by),
            hold: hold(by),
            expires_at: at(until),
        }
    }

    fn hold_cmd(by: u128, until: i64) -> TicketCommand {
        TicketCommand::Hold {
            order: order(by),
            hold: hold(by),
            expires_at: at(until),
        }
    }

    fn extend_cmd(by: u128, until: i64) -> TicketCommand {
        TicketCommand::Extend {
            hold: hold(by),
            expires_at: at(until),
        }
    }

    #[test]
    fn apply_agrees_with_the_table_for_every_state_and_command() {
        let samples = [
            ticket(TicketState::Available),
            ticket(held(1, 100)),
            ticket(held(1, -10)),
            ticket(TicketState::Sold { order: order(1) }),
            ticket(TicketState::Refunded { order: order(1) }),
            ticket(TicketState::Blocked),
        ];
        let commands = [
            hold_cmd(2, 600),
            extend_cmd(1, 200),
            extend_cmd(1, 50),
            extend_cmd(2, 200),
            TicketCommand::Release { hold: hold(1) },
            TicketCommand::Release { hold: hold(2) },
            TicketCommand::Expire,
            TicketCommand::Sell { order: order(1) },
            TicketCommand::Sell { order: order(2) },
            TicketCommand::Refund { order: order(1) },
            TicketCommand::Refund { order: order(2) },
            TicketCommand::Relist,
            TicketCommand::Block,
            TicketCommand::Unblock,
        ];
        assert_agrees_with_table(&samples, &commands, at(0));
    }

    #[test]
    fn a_live_hold_refuses_a_second_hold() {
        let err = ticket(held(1, 100))
            .apply(hold_cmd(2, 600), at(99))
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::HoldActive {
                expires_at: at(100)
            }
        );
        assert_eq!(
            (err.from, err.command),
            (TicketStateKind::Held, TicketCommandKind::Hold)
        );
    }

    #[test]
    fn a_lapsed_hold_is_taken_over_without_a_sweeper() {
        // expires_at <= now: exactly at the deadline the unit is available again.
        let t = ticket(held(1, 100))
            .apply(hold_cmd(2, 700), at(100))
            .unwrap();
        assert_eq!(t.next.state(), held(2, 700));
        assert_eq!(t.next.version(), 4);
        assert!(
            matches!(t.event, DomainEvent::TicketHeld { replaced: Some(h), .. } if h == hold(1))
        );
        assert!(ticket(held(1, 100)).is_available_at(at(100)));
        assert!(!ticket(held(1, 100)).is_available_at(at(99)));
    }

    #[test]
    fn the_replaced_holder_can_neither_release_nor_buy() {
        let taken = ticket(held(1, 100))
            .apply(hold_cmd(2, 700), at(150))
            .unwrap()
            .next;
        let release = taken.apply(TicketCommand::Release { hold: hold(1) }, at(151));
        assert_eq!(
            release.unwrap_err().reason,
            Rejection::HoldMismatch {
                current: hold(2),
                given: hold(1)
            }
        );
        let sell = taken.apply(TicketCommand::Sell { order: order(1) }, at(151));
        assert_eq!(
            sell.unwrap_err().reason,
            Rejection::OrderMismatch {
                current: order(2),
                given: order(1)
            }
        );
    }

    #[test]
    fn a_lapsed_hold_nobody_took_can_still_be_sold_to_its_order() {
        let t = ticket(held(1, 100))
            .apply(TicketCommand::Sell { order: order(1) }, at(500))
            .unwrap();
        assert_eq!(t.next.state(), TicketState::Sold { order: order(1) });
        assert_eq!(
            t.event,
            DomainEvent::TicketSold {
                ticket: t.next.id(),
                order: order(1)
            }
        );
    }

    #[test]
    fn a_live_hold_is_extended_for_the_same_order() {
        let t = ticket(held(1, 100))
            .apply(extend_cmd(1, 400), at(99))
            .unwrap();
        assert_eq!(t.next.state(), held(1, 400));
        assert_eq!(t.next.version(), 4);
        assert_eq!(
            t.event,
            DomainEvent::TicketHoldExtended {
                ticket: t.next.id(),
                hold: hold(1),
                expires_at: at(400)
            }
        );
        // The extended hold is live until its new deadline, so nobody else can take it.
        let err = t.next.apply(hold_cmd(2, 900), at(200)).unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::HoldActive {
                expires_at: at(400)
            }
        );
    }

    #[test]
    fn a_lapsed_hold_cannot_be_extended_nor_a_live_one_shortened() {
        assert_extend_deadline_rules(&ticket(held(1, 100)), |secs| extend_cmd(1, secs));
    }

    #[test]
    fn only_the_owning_hold_can_extend() {
        let err = ticket(held(1, 100))
            .apply(extend_cmd(2, 400), at(50))
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::HoldMismatch {
                current: hold(1),
                given: hold(2)
            }
        );
        // A holder whose lapsed hold was taken over is told it lost the ticket, not that it is late.
        let taken = ticket(held(1, 100))
            .apply(hold_cmd(2, 700), at(150))
            .unwrap()
            .next;
        let err = taken.apply(extend_cmd(1, 900), at(151)).unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::HoldMismatch {
                current: hold(2),
                given: hold(1)
            }
        );
    }

    #[test]
    fn only_a_held_ticket_can_be_extended() {
        for state in [
            TicketState::Available,
            TicketState::Sold { order: order(1) },
            TicketState::Refunded { order: order(1) },
            TicketState::Blocked,
        ] {
            let err = ticket(state).apply(extend_cmd(1, 400), at(0)).unwrap_err();
            assert_eq!(err.reason, Rejection::NotAllowed);
        }
    }

    #[test]
    fn the_sweeper_cannot_expire_a_live_hold() {
        let err = ticket(held(1, 100))
            .apply(TicketCommand::Expire, at(99))
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::NotYetExpired {
                expires_at: at(100)
            }
        );
        let t = ticket(held(1, 100))
            .apply(TicketCommand::Expire, at(100))
            .unwrap();
        assert_eq!(t.next.state(), TicketState::Available);
    }

    #[test]
    fn only_the_buying_order_can_refund() {
        let sold = ticket(TicketState::Sold { order: order(1) });
        let err = sold
            .apply(TicketCommand::Refund { order: order(2) }, at(0))
            .unwrap_err();
        assert_eq!(
            err.reason,
            Rejection::OrderMismatch {
                current: order(1),
                given: order(2)
            }
        );
    }

    #[test]
    fn an_exhausted_version_refuses_instead_of_wrapping() {
        let t = Ticket::from_parts(TicketId::new(), TicketState::Available, u64::MAX);
        let err = t.apply(TicketCommand::Block, at(0)).unwrap_err();
        assert_eq!(err.reason, Rejection::VersionExhausted);
    }

    #[test]
    fn tickets_and_events_round_trip_through_serde() {
        let t = ticket(TicketState::Available)
            .apply(hold_cmd(1, 100), at(0))
            .unwrap();
        let json = serde_json::to_string(&t.next).unwrap();
        assert_eq!(serde_json::from_str::<Ticket>(&json).unwrap(), t.next);
        let event = serde_json::to_value(&t.event).unwrap();
        assert_eq!(event["type"], "TicketHeld");
        assert_eq!(
            serde_json::from_value::<DomainEvent>(event).unwrap(),
            t.event
        );
    }

    fn command() -> impl Strategy<Value = TicketCommand> {
        let who = 1..=2u128;
        prop_oneof![
            (who.clone(), 0..200i64).prop_map(|(n, until)| hold_cmd(n, until)),
            (who.clone(), 0..400i64).prop_map(|(n, until)| extend_cmd(n, until)),
            who.clone()
                .prop_map(|n| TicketCommand::Release { hold: hold(n) }),
            Just(TicketCommand::Expire),
            who.clone()
                .prop_map(|n| TicketCommand::Sell { order: order(n) }),
            who.prop_map(|n| TicketCommand::Refund { order: order(n) }),
            Just(TicketCommand::Relist),
            Just(TicketCommand::Block),
            Just(TicketCommand::Unblock),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn random_sequences_follow_the_table(steps in prop::collection::vec((command(), 0..60i64), 0..40)) {
            let mut t = Ticket::new(TicketId::from_uuid(uuid::Uuid::from_u128(7)));
            let mut now = 0;
            for (command, elapsed) in steps {
                now += elapsed;
                let before = t;
                if let Some(next) = checked_step(&t, command, at(now)) {
                    // A sale only ever goes to the order that held the unit.
                    if let (TicketState::Sold { order: o }, TicketState::Held { order: h, .. }) = (next.state(), before.state()) {
                        prop_assert_eq!(o, h);
                    }
                    if let (TicketState::Held { order: o, hold: h, expires_at: to }, TicketState::Held { order: bo, hold: bh, expires_at: from }) = (next.state(), before.state()) {
                        if matches!(command, TicketCommand::Extend { .. }) {
                            // Only the owning, live hold is extended, and only later.
                            prop_assert_eq!((o, h), (bo, bh));
                            prop_assert!(at(now) < from && from < to);
                        } else {
                            // A hold is only ever taken from a lapsed hold.
                            prop_assert!(from <= at(now));
                        }
                    }
                    t = next;
                }
            }
        }
    }
}
