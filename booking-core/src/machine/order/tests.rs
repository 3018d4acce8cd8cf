//! Tests of `order`.

use super::*;
use crate::machine::testing::{
    assert_agrees_with_table, assert_extend_deadline_rules, at, checked_step, krw, order, payment,
};
use crate::money::{Currency, MoneyError};

pub(super) const TOTAL: i64 = 30_000;

pub(super) fn with(state: OrderState, refunded: i64) -> Order {
    expiring(state, refunded, 100)
}

fn expiring(state: OrderState, refunded: i64, secs: i64) -> Order {
    Order::from_parts(order(1), state, krw(TOTAL), krw(refunded), at(secs), 5).unwrap()
}

pub(super) fn extend(secs: i64) -> OrderCommand {
    OrderCommand::Extend {
        expires_at: at(secs),
    }
}

pub(super) fn p1() -> PaymentId {
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
