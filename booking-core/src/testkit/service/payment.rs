//! Confirming payments: amounts checked, retries that help, one charge per payment, unknown
//! outcomes reconciled, lapsed holds that lost their seats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats};
use super::{World, in_parallel};
use crate::clock::Clock;
use crate::ids::{TicketId, UserId};
use crate::machine::{OrderStateKind, PaymentState, TicketState};
use crate::memory::{Fault, GatewayOp};
use crate::money::Currency;
use crate::ports::gateway::GatewayStatus;
use crate::ports::store::{FailureCause, OrderRecord};
use crate::ports::wallet::Movement;
use crate::service::{BookingError, Confirmation, ItemRef, PaymentIntent};

/// The number of debits in `user`'s points ledger.
async fn debits(w: &World, user: UserId) -> usize {
    let ledger = w.backend.wallet.ledger(user, Currency::KRW).await.unwrap();
    ledger
        .iter()
        .filter(|e| e.movement == Movement::Debit)
        .count()
}

/// Seed 2, one key: ten concurrent confirms of one points payment (the payment is the
/// charge's idempotency key) debit the wallet once and all answer the same paid order.
pub async fn service_point_charge_with_one_key_applies_once(b: Backend) {
    let w = World::new(b, no_rules());
    for _ in 0..20 {
        let user = UserId::new();
        w.top_up(user, 100_000).await;
        let seat = seats(&w.backend, w.event, 1, 30_000).await[0];
        let request = w.request(user, vec![ItemRef::Ticket { ticket: seat }]);
        let order = w.service.hold(&request).await.unwrap();
        let (_, confirmation) = w.start(order.order.id(), "points").await;
        let results = in_parallel(10, |_| {
            let w = w.clone();
            let confirmation = confirmation.clone();
            async move { w.service.confirm_payment(&confirmation).await }
        })
        .await;
        let paid = w.service.order(order.order.id()).await.unwrap();
        assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
        for result in results {
            assert_eq!(result.unwrap(), paid, "every click gets the same answer");
        }
        let balance = w.backend.wallet.balance(user, Currency::KRW).await.unwrap();
        assert_eq!(balance, krw(70_000), "debited once");
        assert_eq!(debits(&w, user).await, 1);
    }
}

/// Seed 2, distinct keys: one buyer pays ten orders with points at once; every charge is
/// applied and none lost. With too few points for all, exactly as many as the balance covers
/// succeed, the rest are rejected, and the balance never goes below zero.
pub async fn service_point_charges_with_distinct_keys_all_apply(b: Backend) {
    let w = World::new(b, no_rules());
    for (balance, paid) in [(100_000, 10), (50_000, 7)] {
        let user = UserId::new();
        w.top_up(user, balance).await;
        let mut confirmations = Vec::new();
        for seat in seats(&w.backend, w.event, 10, 7_000).await {
            let request = w.request(user, vec![ItemRef::Ticket { ticket: seat }]);
            let order = w.service.hold(&request).await.unwrap();
            confirmations.push(w.start(order.order.id(), "points").await.1);
        }
        let results = in_parallel(10, |i| {
            let w = w.clone();
            let confirmation = confirmations[i].clone();
            async move { w.service.confirm_payment(&confirmation).await }
        })
        .await;
        let mut confirmed = 0;
        for result in results {
            match result {
                Ok(order) => {
                    assert_eq!(order.order.state().kind(), OrderStateKind::Confirmed);
                    confirmed += 1;
                }
                Err(BookingError::PaymentRejected { code, .. }) => {
                    assert_eq!(code, "INSUFFICIENT_POINTS");
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(confirmed, paid, "starting balance {balance}");
        let left = w.backend.wallet.balance(user, Currency::KRW).await.unwrap();
        assert_eq!(left, krw(balance - 7_000 * paid));
        assert_eq!(debits(&w, user).await, usize::try_from(paid).unwrap());
    }
}

/// Seed 4: a confirm whose amount was tampered with is refused with the expected and given
/// amounts; the gateway is not called and nothing changes. The honest confirm still works.
pub async fn service_tampered_amount_changes_nothing(b: Backend) {
    let w = World::new(b, no_rules());
    let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
    let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
    let (intent, confirmation) = w.start(order.order.id(), "fake").await;
    let order_before = w.service.order(order.order.id()).await.unwrap();
    let payment_before = w.backend.store.payment(intent.payment).await.unwrap();
    let outbox_before = w.backend.store.outbox(0, u32::MAX).await.unwrap();
    let tampered = Confirmation {
        amount: krw(100),
        ..confirmation.clone()
    };
    match w.service.confirm_payment(&tampered).await {
        Err(BookingError::AmountMismatch { expected, given }) => {
            assert_eq!((expected, given), (krw(50_000), krw(100)));
        }
        other => panic!("expected AmountMismatch, got {other:?}"),
    }
    assert_eq!(
        w.gateway.stats().confirm_calls,
        0,
        "the gateway was not called"
    );
    let payment_after = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment_after, payment_before);
    assert_eq!(payment_after.payment.state(), PaymentState::InProgress);
    assert_eq!(
        w.service.order(order.order.id()).await.unwrap(),
        order_before
    );
    assert_eq!(
        w.backend.store.outbox(0, u32::MAX).await.unwrap(),
        outbox_before,
        "no event recorded"
    );
    let paid = w.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
}

/// Seed 5: a transient gateway error is retried after the policy's 2 s and the sale
/// succeeds (two calls, one charge); a card rejection is final: one call, no wait,
/// `PaymentRejected` with the gateway's code, the payment failed and the seat still held for
/// the buyer, who may cancel.
pub async fn service_transient_error_retried_rejection_not(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 2, 50_000).await;

    let order = w.service.hold(&w.seats_request(&ids[..1])).await.unwrap();
    let (_, confirmation) = w.start(order.order.id(), "fake").await;
    w.gateway.fail_next(
        GatewayOp::Confirm,
        Fault::Transient("PROVIDER_ERROR".to_owned()),
    );
    let paid = w.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    let stats = w.gateway.stats();
    assert_eq!((stats.confirm_calls, stats.charges), (2, 1));
    assert_eq!(w.sleeper.slept(), vec![Duration::from_secs(2)]);

    let order = w.service.hold(&w.seats_request(&ids[1..])).await.unwrap();
    let (intent, confirmation) = w.start(order.order.id(), "fake").await;
    w.gateway.fail_next(
        GatewayOp::Confirm,
        Fault::Reject("REJECT_CARD_PAYMENT".to_owned()),
    );
    match w.service.confirm_payment(&confirmation).await {
        Err(BookingError::PaymentRejected { code, .. }) => assert_eq!(code, "REJECT_CARD_PAYMENT"),
        other => panic!("expected PaymentRejected, got {other:?}"),
    }
    let stats = w.gateway.stats();
    assert_eq!((stats.confirm_calls, stats.charges), (3, 1), "not retried");
    assert_eq!(w.sleeper.slept(), vec![Duration::from_secs(2)], "no wait");
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Failed);
    let seat = w.backend.store.ticket(ids[1]).await.unwrap().ticket;
    assert!(matches!(seat.state(), TicketState::Held { order: o, .. } if o == order.order.id()));
    let cancelled = w
        .service
        .cancel_order(order.order.id(), "card declined")
        .await
        .unwrap();
    assert_eq!(cancelled.order.state().kind(), OrderStateKind::Cancelled);
    let seat = w.backend.store.ticket(ids[1]).await.unwrap().ticket;
    assert_eq!(seat.state(), TicketState::Available);
}

/// Seed 6: a double click — the same confirmation sent twice, one after the other and at
/// the same time — charges once and answers the same paid order both times.
pub async fn service_double_confirm_charges_once(b: Backend) {
    let w = World::new(b, no_rules());
    let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
    let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
    let (_, confirmation) = w.start(order.order.id(), "fake").await;
    let first = w.service.confirm_payment(&confirmation).await.unwrap();
    let second = w.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(first, second);
    let stats = w.gateway.stats();
    assert_eq!((stats.confirm_calls, stats.charges), (1, 1));

    let trials: u64 = 50;
    for _ in 0..trials {
        let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
        let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
        let (_, confirmation) = w.start(order.order.id(), "fake").await;
        let clicks = in_parallel(2, |_| {
            let w = w.clone();
            let confirmation = confirmation.clone();
            async move { w.service.confirm_payment(&confirmation).await }
        })
        .await;
        let [a, b] = <[_; 2]>::try_from(clicks).unwrap();
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "both clicks get the same answer");
        assert_eq!(a.order.state().kind(), OrderStateKind::Confirmed);
    }
    assert_eq!(
        w.gateway.stats().charges,
        1 + trials,
        "one charge per order"
    );
}

/// A double click on a payment the card issuer declines, one after the other and at the same
/// time: every click gets the same `PaymentRejected` with the gateway's code, and the gateway
/// is asked once.
pub async fn service_declined_double_confirm_answers_the_same(b: Backend) {
    let w = World::new(b, no_rules());
    for trial in 0..50 {
        let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
        let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
        let (intent, confirmation) = w.start(order.order.id(), "fake").await;
        w.gateway.fail_next(
            GatewayOp::Confirm,
            Fault::Reject("REJECT_CARD_PAYMENT".to_owned()),
        );
        let calls_before = w.gateway.stats().confirm_calls;
        let clicks = in_parallel(2, |_| {
            let w = w.clone();
            let confirmation = confirmation.clone();
            async move { w.service.confirm_payment(&confirmation).await }
        })
        .await;
        let later = w.service.confirm_payment(&confirmation).await;
        for answer in clicks.into_iter().chain([later]) {
            match answer {
                Err(BookingError::PaymentRejected { code, message }) => {
                    assert_eq!(code, "REJECT_CARD_PAYMENT", "trial {trial}");
                    assert!(!message.is_empty(), "trial {trial}");
                }
                other => panic!("trial {trial}: expected PaymentRejected, got {other:?}"),
            }
        }
        assert_eq!(
            w.gateway.stats().confirm_calls,
            calls_before + 1,
            "trial {trial}"
        );
        let payment = w.backend.store.payment(intent.payment).await.unwrap();
        assert_eq!(payment.payment.state(), PaymentState::Failed);
        let failure = payment.failure.unwrap();
        assert_eq!(failure.cause, FailureCause::Rejected);
        assert_eq!(failure.code, "REJECT_CARD_PAYMENT");
    }
    assert_eq!(w.gateway.stats().charges, 0);
}

/// Seed 13: the gateway charges and the answer is lost. The confirm says the outcome is
/// unknown; asking again does not call the gateway; the sweeper leaves it alone; reconcile
/// looks it up and marks the order paid. The buyer was charged exactly once.
pub async fn service_unknown_payment_reconciled_once(b: Backend) {
    let w = World::new(b, no_rules());
    let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
    let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
    let (intent, confirmation) = w.start(order.order.id(), "fake").await;
    w.gateway
        .fail_next(GatewayOp::Confirm, Fault::TimeoutAfterProcessing);
    assert!(matches!(
        w.service.confirm_payment(&confirmation).await,
        Err(BookingError::PaymentUnknown)
    ));
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Unknown);
    assert!(matches!(
        w.service.confirm_payment(&confirmation).await,
        Err(BookingError::PaymentUnknown)
    ));
    let stats = w.gateway.stats();
    assert_eq!(
        (stats.confirm_calls, stats.charges),
        (1, 1),
        "no blind retry"
    );

    w.clock().advance(Duration::from_secs(15 * 60));
    let swept = w.service.sweep().await.unwrap();
    assert_eq!((swept.orders_expired, swept.skipped_in_payment), (0, 1));

    let report = w.service.reconcile(10).await.unwrap();
    assert_eq!((report.checked, report.paid), (1, 1));
    let paid = w.service.order(order.order.id()).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Done);
    let ticket = w.backend.store.ticket(seat).await.unwrap().ticket;
    assert!(matches!(ticket.state(), TicketState::Sold { order: o } if o == order.order.id()));
    assert_eq!(
        w.service.confirm_payment(&confirmation).await.unwrap(),
        paid
    );
    assert_eq!(w.service.reconcile(10).await.unwrap().checked, 0);
    let stats = w.gateway.stats();
    assert_eq!((stats.confirm_calls, stats.charges), (1, 1), "charged once");
}

/// A seat held and its payment started, then the hold left to lapse (no sweep).
async fn lapsed(w: &World) -> (TicketId, OrderRecord, PaymentIntent, Confirmation) {
    let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
    let late = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
    let (intent, confirmation) = w.start(late.order.id(), "fake").await;
    let ttl = w.service.policies().expiry.config().hold_ttl;
    w.clock().advance(ttl + Duration::from_secs(1));
    (seat, late, intent, confirmation)
}

/// A buyer's hold lapses, another buyer takes the seat, and the first buyer's payment then
/// goes through at the gateway: the service cancels the charge, cancels the order, returns
/// `SeatsLost` naming the seat, and leaves the seat with the second buyer.
pub async fn service_seats_lost_cancels_the_charge(b: Backend) {
    let w = World::new(b, no_rules());
    let (seat, late, intent, confirmation) = lapsed(&w).await;
    let next = w.service.hold(&w.seats_request(&[seat])).await.unwrap();

    match w.service.confirm_payment(&confirmation).await {
        Err(BookingError::SeatsLost { tickets, stock }) => {
            assert_eq!(tickets, vec![seat]);
            assert!(stock.is_empty());
        }
        other => panic!("expected SeatsLost, got {other:?}"),
    }
    let stats = w.gateway.stats();
    assert_eq!((stats.charges, stats.refunds), (1, 1));
    let at_gateway = w.gateway.payment(&intent.order_ref).unwrap();
    assert_eq!(at_gateway.status, GatewayStatus::Canceled);
    assert!(at_gateway.balance.is_zero());
    let order = w.service.order(late.order.id()).await.unwrap();
    assert_eq!(order.order.state().kind(), OrderStateKind::Cancelled);
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Canceled);
    let ticket = w.backend.store.ticket(seat).await.unwrap().ticket;
    assert!(matches!(ticket.state(), TicketState::Held { order: o, .. } if o == next.order.id()));
    assert!(matches!(
        w.service.confirm_payment(&confirmation).await,
        Err(BookingError::SeatsLost { .. })
    ));
    assert_eq!(
        w.gateway.stats().refunds,
        1,
        "the repeat refunds nothing more"
    );
    let now = w.clock().now();
    assert!(!ticket.is_available_at(now));
}

/// The lost-seats refund itself loses its answer: the confirm still reports `SeatsLost`,
/// the payment is left unknown, and reconcile finds the charge cancelled at the gateway and
/// settles payment and order without refunding again.
pub async fn service_seats_lost_refund_answer_lost_reconciles(b: Backend) {
    let w = World::new(b, no_rules());
    let (seat, late, intent, confirmation) = lapsed(&w).await;
    w.service.hold(&w.seats_request(&[seat])).await.unwrap();

    w.gateway
        .fail_next(GatewayOp::Cancel, Fault::TimeoutAfterProcessing);
    assert!(matches!(
        w.service.confirm_payment(&confirmation).await,
        Err(BookingError::SeatsLost { .. })
    ));
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Unknown);

    let report = w.service.reconcile(10).await.unwrap();
    assert_eq!((report.checked, report.cancelled), (1, 1));
    let payment = w.backend.store.payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Canceled);
    let order = w.service.order(late.order.id()).await.unwrap();
    assert_eq!(order.order.state().kind(), OrderStateKind::Cancelled);
    let stats = w.gateway.stats();
    assert_eq!((stats.charges, stats.refunds), (1, 1), "refunded once");
    assert_eq!(w.service.reconcile(10).await.unwrap().checked, 0);
}
