//! Tests of `ticket`.

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
    assert!(matches!(t.event, DomainEvent::TicketHeld { replaced: Some(h), .. } if h == hold(1)));
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
