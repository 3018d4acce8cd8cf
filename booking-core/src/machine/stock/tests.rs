//! Tests of `stock`.

use proptest::prelude::*;

use super::*;
use crate::machine::testing::{assert_agrees_with_table, at, checked_step, hold, order};

fn stock(state: StockState, capacity: u32, held: u32, sold: u32) -> Stock {
    Stock::from_parts(
        StockId::from_uuid(uuid::Uuid::from_u128(9)),
        state,
        capacity,
        held,
        sold,
        0,
    )
    .unwrap()
}

fn hold_n(quantity: u32) -> StockCommand {
    StockCommand::Hold {
        order: order(1),
        hold: hold(1),
        quantity,
    }
}

#[test]
fn apply_agrees_with_the_table_for_every_state_and_command() {
    let samples = [
        stock(StockState::Open, 10, 4, 3),
        stock(StockState::Open, 10, 0, 0),
        stock(StockState::Closed, 10, 4, 3),
        stock(StockState::Closed, 10, 0, 0),
    ];
    let mut commands = Vec::new();
    for quantity in [0, 2, 20] {
        commands.extend([
            hold_n(quantity),
            StockCommand::Release {
                hold: hold(1),
                quantity,
            },
            StockCommand::Expire {
                hold: hold(1),
                quantity,
            },
            StockCommand::Sell {
                order: order(1),
                quantity,
            },
            StockCommand::Refund {
                order: order(1),
                quantity,
            },
        ]);
    }
    commands.extend([
        StockCommand::SetCapacity { capacity: 20 },
        StockCommand::SetCapacity { capacity: 5 },
        StockCommand::Close,
        StockCommand::Reopen,
    ]);
    assert_agrees_with_table(&samples, &commands, at(0));
}

#[test]
fn a_hold_larger_than_what_is_left_says_how_much_is_left() {
    let s = stock(StockState::Open, 10, 4, 3);
    let err = s.apply(hold_n(4), at(0)).unwrap_err();
    assert_eq!(
        err.reason,
        Rejection::InsufficientStock {
            requested: 4,
            available: 3
        }
    );
    let t = s.apply(hold_n(3), at(0)).unwrap();
    assert_eq!(
        (t.next.held(), t.next.sold(), t.next.available()),
        (7, 3, 0)
    );
}

#[test]
fn selling_moves_units_from_held_to_sold_and_refunds_free_them() {
    let s = stock(StockState::Open, 10, 4, 3);
    let sold = s
        .apply(
            StockCommand::Sell {
                order: order(1),
                quantity: 2,
            },
            at(0),
        )
        .unwrap()
        .next;
    assert_eq!((sold.held(), sold.sold(), sold.available()), (2, 5, 3));
    let refunded = sold
        .apply(
            StockCommand::Refund {
                order: order(1),
                quantity: 5,
            },
            at(0),
        )
        .unwrap()
        .next;
    assert_eq!(
        (refunded.held(), refunded.sold(), refunded.available()),
        (2, 0, 8)
    );
}

#[test]
fn counts_never_go_negative() {
    let s = stock(StockState::Open, 10, 4, 3);
    let release = s.apply(
        StockCommand::Release {
            hold: hold(1),
            quantity: 5,
        },
        at(0),
    );
    assert_eq!(
        release.unwrap_err().reason,
        Rejection::ExceedsHeld {
            requested: 5,
            held: 4
        }
    );
    let sell = s.apply(
        StockCommand::Sell {
            order: order(1),
            quantity: 5,
        },
        at(0),
    );
    assert_eq!(
        sell.unwrap_err().reason,
        Rejection::ExceedsHeld {
            requested: 5,
            held: 4
        }
    );
    let refund = s.apply(
        StockCommand::Refund {
            order: order(1),
            quantity: 4,
        },
        at(0),
    );
    assert_eq!(
        refund.unwrap_err().reason,
        Rejection::ExceedsSold {
            requested: 4,
            sold: 3
        }
    );
}

#[test]
fn capacity_cannot_drop_below_what_is_held_and_sold() {
    let s = stock(StockState::Open, 10, 4, 3);
    let err = s
        .apply(StockCommand::SetCapacity { capacity: 6 }, at(0))
        .unwrap_err();
    assert_eq!(
        err.reason,
        Rejection::CapacityBelowCommitted {
            requested: 6,
            committed: 7
        }
    );
    let t = s
        .apply(StockCommand::SetCapacity { capacity: 7 }, at(0))
        .unwrap();
    assert_eq!(t.next.available(), 0);
    assert!(Stock::from_parts(StockId::new(), StockState::Open, 6, 4, 3, 0).is_err());
}

#[test]
fn closed_stock_takes_no_new_hold_but_settles_existing_ones() {
    let s = stock(StockState::Closed, 10, 4, 3);
    assert_eq!(
        s.apply(hold_n(1), at(0)).unwrap_err().reason,
        Rejection::NotAllowed
    );
    let t = s
        .apply(
            StockCommand::Sell {
                order: order(1),
                quantity: 4,
            },
            at(0),
        )
        .unwrap();
    assert_eq!(t.next.state(), StockState::Closed);
}

#[test]
fn a_stored_stock_that_breaks_the_invariant_does_not_deserialize() {
    let s = stock(StockState::Open, 10, 4, 3);
    let mut json = serde_json::to_value(s).unwrap();
    assert_eq!(serde_json::from_value::<Stock>(json.clone()).unwrap(), s);
    json["sold"] = serde_json::json!(7);
    assert!(serde_json::from_value::<Stock>(json).is_err());
}

fn command() -> impl Strategy<Value = StockCommand> {
    let n = 0..6u32;
    prop_oneof![
        n.clone().prop_map(hold_n),
        n.clone().prop_map(|quantity| StockCommand::Release {
            hold: hold(1),
            quantity
        }),
        n.clone().prop_map(|quantity| StockCommand::Expire {
            hold: hold(1),
            quantity
        }),
        n.clone().prop_map(|quantity| StockCommand::Sell {
            order: order(1),
            quantity
        }),
        n.prop_map(|quantity| StockCommand::Refund {
            order: order(1),
            quantity
        }),
        (0..15u32).prop_map(|capacity| StockCommand::SetCapacity { capacity }),
        Just(StockCommand::Close),
        Just(StockCommand::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn random_sequences_keep_the_counts_consistent(
        capacity in 0..12u32,
        steps in prop::collection::vec(command(), 0..60),
    ) {
        let mut s = Stock::new(StockId::new(), capacity);
        for command in steps {
            let before = s;
            if let Some(next) = checked_step(&s, command, at(0)) {
                prop_assert!(next.held() + next.sold() <= next.capacity());
                prop_assert_eq!(next.available(), next.capacity() - next.held() - next.sold());
                // Each command moves exactly its quantity between the counts.
                let counts = |x: &Stock| (x.capacity(), x.held(), x.sold());
                let (c, h, so) = counts(&before);
                let expected = match command {
                    StockCommand::Hold { quantity: n, .. } => (c, h + n, so),
                    StockCommand::Release { quantity: n, .. }
                    | StockCommand::Expire { quantity: n, .. } => (c, h - n, so),
                    StockCommand::Sell { quantity: n, .. } => (c, h - n, so + n),
                    StockCommand::Refund { quantity: n, .. } => (c, h, so - n),
                    StockCommand::SetCapacity { capacity } => (capacity, h, so),
                    StockCommand::Close | StockCommand::Reopen => (c, h, so),
                };
                prop_assert_eq!(counts(&next), expected);
                s = next;
            }
        }
    }
}
