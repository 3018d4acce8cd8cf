//! Random command sequences on an order: refunds never exceed the total, only `Extend` moves
//! the deadline, only unpaid orders expire.

use proptest::prelude::*;

use super::tests::{TOTAL, extend};
use super::*;
use crate::machine::testing::{at, checked_step, krw, order, payment};

fn command() -> impl Strategy<Value = OrderCommand> {
    prop_oneof![
        (1..=2u128).prop_map(|n| OrderCommand::StartPayment {
            payment: payment(n)
        }),
        (1..=2u128, prop_oneof![Just(TOTAL), 0..TOTAL]).prop_map(|(n, a)| {
            OrderCommand::MarkPaid {
                payment: payment(n),
                amount: krw(a),
            }
        }),
        Just(OrderCommand::Confirm),
        Just(OrderCommand::Cancel),
        (0..TOTAL + 5_000).prop_map(|a| OrderCommand::Refund { amount: krw(a) }),
        Just(OrderCommand::SettleCancel),
        Just(OrderCommand::AbandonRefund),
        Just(OrderCommand::HandOverRefund),
        Just(OrderCommand::Expire),
        (0..300i64).prop_map(extend),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn random_sequences_never_over_refund(steps in prop::collection::vec((command(), 0..30i64), 0..40)) {
        let mut o = Order::new(order(1), krw(TOTAL), at(100));
        let mut now = 0;
        for (command, elapsed) in steps {
            now += elapsed;
            let before = o.clone();
            if let Some(next) = checked_step(&o, command, at(now)) {
                prop_assert!(next.refunded() <= next.total());
                prop_assert!(next.refunded() >= before.refunded(), "refunds only accumulate");
                if let OrderState::Cancelling { refund, .. } = next.state() {
                    prop_assert!(refund <= next.remaining());
                }
                if next.expires_at() != before.expires_at() {
                    // Of an unpaid, live order, and only later.
                    let extended = matches!(command, OrderCommand::Extend { .. });
                    prop_assert!(extended, "only Extend moves the deadline");
                    prop_assert_eq!(next.state(), before.state());
                    let unpaid = matches!(before.state(), OrderState::Pending | OrderState::AwaitingPayment { .. });
                    prop_assert!(unpaid, "only an unpaid order is extended");
                    prop_assert!(at(now) < before.expires_at() && before.expires_at() < next.expires_at());
                }
                if matches!(command, OrderCommand::AbandonRefund) {
                    prop_assert_eq!(next.refunded(), before.refunded(), "nothing returned");
                    let paid = matches!(next.state(), OrderState::Paid { .. } | OrderState::Confirmed { .. } | OrderState::PartiallyRefunded { .. });
                    prop_assert!(paid, "an abandoned refund leaves the order paid");
                }
                if matches!(command, OrderCommand::HandOverRefund) {
                    prop_assert_eq!(next.state(), before.state(), "a hand-over changes only the version");
                    prop_assert_eq!(next.refunded(), before.refunded());
                }
                if next.state().kind() == OrderStateKind::Expired {
                    let unpaid = matches!(before.state(), OrderState::Pending | OrderState::AwaitingPayment { .. });
                    prop_assert!(unpaid, "only an unpaid order expires");
                }
                o = next;
            }
        }
    }
}
