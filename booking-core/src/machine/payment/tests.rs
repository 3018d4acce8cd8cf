//! Tests of `payment`.

use proptest::prelude::*;

use super::*;
use crate::machine::Kind;
use crate::machine::testing::{assert_agrees_with_table, at, checked_step, krw, order, payment};
use crate::money::Currency;

const AMOUNT: i64 = 50_000;

fn with(state: PaymentState, canceled: i64) -> Payment {
    Payment::from_parts(
        payment(1),
        order(1),
        state,
        krw(AMOUNT),
        krw(canceled),
        at(100),
        2,
    )
    .unwrap()
}

#[test]
fn apply_agrees_with_the_table_for_every_state_and_command() {
    let mut samples: Vec<Payment> = PaymentState::ALL.iter().map(|&s| with(s, 0)).collect();
    samples.push(with(PaymentState::PartiallyCanceled, 20_000));
    let commands = [
        PaymentCommand::Start,
        PaymentCommand::BeginConfirm {
            amount: krw(AMOUNT),
        },
        PaymentCommand::BeginConfirm { amount: krw(1) },
        PaymentCommand::Approve,
        PaymentCommand::Fail,
        PaymentCommand::MarkUnknown,
        PaymentCommand::Cancel {
            amount: krw(10_000),
        },
        PaymentCommand::Cancel {
            amount: krw(30_000),
        },
        PaymentCommand::Cancel {
            amount: krw(AMOUNT),
        },
        PaymentCommand::Cancel { amount: krw(0) },
        PaymentCommand::Expire,
        PaymentCommand::Abort,
    ];
    assert_agrees_with_table(&samples, &commands, at(100));
}

#[test]
fn a_confirming_payment_can_never_expire_or_abort() {
    let confirming = with(PaymentState::Confirming, 0);
    for command in [PaymentCommand::Expire, PaymentCommand::Abort] {
        let err = confirming.apply(command, at(1_000_000)).unwrap_err();
        assert_eq!(
            (err.from, err.reason),
            (PaymentState::Confirming, Rejection::NotAllowed)
        );
    }
    let t = with(PaymentState::InProgress, 0)
        .apply(PaymentCommand::Expire, at(100))
        .unwrap();
    assert_eq!(t.next.state(), PaymentState::Expired);
    let early = with(PaymentState::InProgress, 0).apply(PaymentCommand::Expire, at(99));
    assert_eq!(
        early.unwrap_err().reason,
        Rejection::NotYetExpired {
            expires_at: at(100)
        }
    );
}

#[test]
fn confirming_a_tampered_amount_is_refused() {
    let err = with(PaymentState::InProgress, 0)
        .apply(PaymentCommand::BeginConfirm { amount: krw(100) }, at(0))
        .unwrap_err();
    assert_eq!(
        err.reason,
        Rejection::AmountMismatch {
            expected: krw(AMOUNT),
            given: krw(100)
        }
    );
}

#[test]
fn an_unknown_outcome_is_reconciled_to_done_or_failed() {
    let unknown = with(PaymentState::Confirming, 0)
        .apply(PaymentCommand::MarkUnknown, at(0))
        .unwrap()
        .next;
    assert_eq!(
        unknown
            .apply(PaymentCommand::Approve, at(0))
            .unwrap()
            .next
            .state(),
        PaymentState::Done
    );
    let t = unknown.apply(PaymentCommand::Fail, at(0)).unwrap();
    assert_eq!(
        t.event,
        DomainEvent::PaymentFailed {
            payment: payment(1),
            order: order(1)
        }
    );
}

#[test]
fn partial_cancels_accumulate_until_the_balance_is_zero() {
    let mut p = with(PaymentState::Done, 0);
    p = p
        .apply(
            PaymentCommand::Cancel {
                amount: krw(20_000),
            },
            at(0),
        )
        .unwrap()
        .next;
    assert_eq!(
        (p.state(), p.balance()),
        (PaymentState::PartiallyCanceled, krw(30_000))
    );
    let err = p
        .apply(
            PaymentCommand::Cancel {
                amount: krw(30_001),
            },
            at(0),
        )
        .unwrap_err();
    assert_eq!(
        err.reason,
        Rejection::ExceedsBalance {
            requested: krw(30_001),
            remaining: krw(30_000)
        }
    );
    let t = p
        .apply(
            PaymentCommand::Cancel {
                amount: krw(30_000),
            },
            at(0),
        )
        .unwrap();
    assert_eq!(t.next.state(), PaymentState::Canceled);
    assert_eq!(t.next.canceled(), krw(AMOUNT));
    assert_eq!(
        t.event,
        DomainEvent::PaymentCanceled {
            payment: payment(1),
            order: order(1),
            amount: krw(30_000),
            balance: krw(0)
        }
    );
    let usd = Money::new(1, Currency::USD).unwrap();
    let err = p
        .apply(PaymentCommand::Cancel { amount: usd }, at(0))
        .unwrap_err();
    assert!(matches!(
        err.reason,
        Rejection::Money(MoneyError::CurrencyMismatch { .. })
    ));
}

#[test]
fn payments_round_trip_through_serde_and_bad_ones_are_refused() {
    let p = with(PaymentState::PartiallyCanceled, 20_000);
    let mut json = serde_json::to_value(p).unwrap();
    assert_eq!(serde_json::from_value::<Payment>(json.clone()).unwrap(), p);
    json["canceled"]["amount"] = serde_json::json!(AMOUNT + 1);
    assert!(serde_json::from_value::<Payment>(json).is_err());
}

fn command() -> impl Strategy<Value = PaymentCommand> {
    prop_oneof![
        Just(PaymentCommand::Start),
        prop_oneof![Just(AMOUNT), 0..AMOUNT * 2]
            .prop_map(|a| PaymentCommand::BeginConfirm { amount: krw(a) }),
        Just(PaymentCommand::Approve),
        Just(PaymentCommand::Fail),
        Just(PaymentCommand::MarkUnknown),
        (0..AMOUNT + 10_000).prop_map(|a| PaymentCommand::Cancel { amount: krw(a) }),
        Just(PaymentCommand::Expire),
        Just(PaymentCommand::Abort),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn random_sequences_never_over_cancel(steps in prop::collection::vec((command(), 0..30i64), 0..40)) {
        let mut p = Payment::new(payment(1), order(1), krw(AMOUNT), at(100));
        let mut now = 0;
        for (command, elapsed) in steps {
            now += elapsed;
            let before = p;
            if let Some(next) = checked_step(&p, command, at(now)) {
                prop_assert!(next.canceled() <= next.amount());
                prop_assert!(next.canceled() >= before.canceled(), "cancels only accumulate");
                prop_assert_eq!(next.state() == PaymentState::Canceled, next.balance().is_zero() && next.canceled() > krw(0));
                if next.state() == PaymentState::Expired {
                    prop_assert!(before.state() != PaymentState::Confirming);
                }
                p = next;
            }
        }
    }
}
