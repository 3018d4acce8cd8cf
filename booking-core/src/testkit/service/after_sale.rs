//! After the sale: partial refunds, exactly once and exactly what each line cost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats};
use super::World;
use crate::discount::{Benefit, Customer, QuotePolicy, Rule, RuleSet};
use crate::ids::TicketId;
use crate::machine::{OrderState, OrderStateKind, PaymentState, TicketState};
use crate::memory::{Fault, GatewayOp};
use crate::money::{BasisPoints, Money};
use crate::ports::gateway::GatewayStatus;
use crate::ports::store::OrderRecord;
use crate::service::{BookingError, RefundReceipt, RefundRequest};

/// A refund of every unit of line `index` of `order`.
fn refund_line(order: &OrderRecord, index: usize) -> RefundRequest {
    RefundRequest {
        order: order.order.id(),
        lines: vec![(order.lines[index].line.clone(), None)],
        reason: "buyer asked".to_owned(),
        request_id: None,
    }
}

/// Seed 7: a partial refund reaches the gateway but its answer is lost. The call reports
/// the outcome unknown; calling again resends the same refund under the same key, which the
/// gateway answers without refunding again: the buyer gets the line's price back once.
pub async fn service_lost_refund_answer_refunds_once(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 3, 20_000).await;
    let paid = w.buy(&w.seats_request(&ids)).await.unwrap();
    let payment_id = paid.payment.unwrap();
    let order_ref = w.backend.store.payment(payment_id).await.unwrap().order_ref;

    w.gateway
        .fail_next(GatewayOp::Cancel, Fault::TimeoutAfterProcessing);
    let request = refund_line(&paid, 0);
    assert!(matches!(
        w.service.refund_lines(&request).await,
        Err(BookingError::PaymentUnknown)
    ));
    assert_eq!(w.gateway.stats().refunds, 1, "the money moved");
    let receipt = w.service.refund_lines(&request).await.unwrap();
    assert_eq!(receipt.amount, krw(20_000));
    assert_eq!(
        w.gateway.stats().refunds,
        1,
        "the retry refunded nothing more"
    );
    assert_eq!(
        receipt.order.order.state().kind(),
        OrderStateKind::PartiallyRefunded
    );
    assert_eq!(receipt.order.order.refunded(), krw(20_000));
    let at_gateway = w.gateway.payment(&order_ref).unwrap();
    assert_eq!(at_gateway.balance, krw(40_000));
    let ticket = w.backend.store.ticket(ids[0]).await.unwrap().ticket;
    assert_eq!(ticket.state(), TicketState::Available, "back on sale");

    // The next refund is a new one, under its own key.
    let receipt = w
        .service
        .refund_lines(&refund_line(&receipt.order, 1))
        .await
        .unwrap();
    assert_eq!(receipt.amount, krw(20_000));
    assert_eq!(w.gateway.stats().refunds, 2);
    assert_eq!(w.gateway.payment(&order_ref).unwrap().balance, krw(20_000));
    let payment = w.backend.store.payment(payment_id).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::PartiallyCanceled);
}

/// A 10 % member discount over three lines of awkward prices: refunding each line returns
/// exactly that line's share of the quote, and the three refunds add up to the total charged,
/// to the won.
pub async fn service_refunds_follow_the_quote_allocation(b: Backend) {
    let member = Rule::new(
        "member-10",
        Benefit::Percentage {
            percent: BasisPoints::new(1_000).unwrap(),
        },
    )
    .grades(["GOLD"]);
    let rules = RuleSet::new(vec![member], QuotePolicy::default()).unwrap();
    let w = World::new(b, rules);
    let mut ids: Vec<TicketId> = Vec::new();
    for price in [33_333, 25_001, 10_007] {
        ids.extend(seats(&w.backend, w.event, 1, price).await);
    }
    let mut request = w.seats_request(&ids);
    request.customer = Customer::member("GOLD");
    let paid = w.buy(&request).await.unwrap();
    let quote = &paid.quote;
    assert!(!quote.discount().is_zero(), "the member rule applied");
    assert_eq!(paid.order.total(), quote.total());

    let mut order = paid.clone();
    let mut refunded = Vec::new();
    for index in 0..3 {
        let receipt = w
            .service
            .refund_lines(&refund_line(&order, index))
            .await
            .unwrap();
        let line = quote.line(&order.lines[index].line).unwrap();
        assert_eq!(
            receipt.amount, line.net,
            "line {index} refunds what it cost"
        );
        refunded.push(receipt.amount);
        order = receipt.order;
    }
    let sum = Money::sum(quote.currency(), refunded.iter().copied()).unwrap();
    assert_eq!(sum, paid.order.total(), "refunds add up to the charge");
    assert_eq!(order.order.state().kind(), OrderStateKind::Refunded);
    let payment = w
        .backend
        .store
        .payment(paid.payment.unwrap())
        .await
        .unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Canceled);
    let at_gateway = w.gateway.payment(&payment.order_ref).unwrap();
    assert_eq!(at_gateway.status, GatewayStatus::Canceled);
    assert!(at_gateway.balance.is_zero());
    assert_eq!(w.gateway.stats().refunds, 3);
}

/// A double click on "refund this seat", 100 times: the line is refunded once, for exactly
/// its price, and at least one click gets the receipt. The other gets it too, or is told the
/// order changed under it or that nothing is left to refund: never a second refund. (A
/// request id on the refund, see [`service_refund_request_id_answers_repeats`], is what gives
/// both clicks the same answer.)
pub async fn service_double_refund_refunds_once(b: Backend) {
    let w = World::new(b, no_rules());
    for trial in 0..100 {
        let mut receipts = 0;
        for answer in double_click_refund(&w, trial, None).await {
            match answer {
                Ok(receipt) => {
                    assert_eq!(receipt.amount, krw(20_000), "trial {trial}");
                    receipts += 1;
                }
                Err(
                    BookingError::Conflict { .. }
                    | BookingError::InProgress
                    | BookingError::Invalid { .. },
                ) => {}
                Err(e) => panic!("trial {trial}: unexpected {e:?}"),
            }
        }
        assert!(receipts >= 1, "trial {trial}: one click gets the receipt");
    }
}

/// Two clicks at once on "refund the first seat" of a new paid order of two seats, both
/// carrying `request_id`: checks the seat was refunded once, for its price, and settled, and
/// returns both answers.
async fn double_click_refund(
    w: &World,
    trial: u32,
    request_id: Option<String>,
) -> [Result<RefundReceipt, BookingError>; 2] {
    let ids = seats(&w.backend, w.event, 2, 20_000).await;
    let paid = w.buy(&w.seats_request(&ids)).await.unwrap();
    let refunds_before = w.gateway.stats().refunds;
    let click = || {
        let service = w.service.clone();
        let mut request = refund_line(&paid, 0);
        request.request_id = request_id.clone();
        async move { service.refund_lines(&request).await }
    };
    let (first, second) = super::race(click(), click()).await;
    assert_eq!(
        w.gateway.stats().refunds,
        refunds_before + 1,
        "trial {trial}"
    );
    let order = w.service.order(paid.order.id()).await.unwrap();
    assert_eq!(order.order.refunded(), krw(20_000), "trial {trial}");
    assert_eq!(order.lines[0].refunded_units, 1, "trial {trial}");
    assert!(order.pending_refund.is_none(), "trial {trial}: settled");
    [first, second]
}

/// A refund the gateway refuses for good is given up: the caller gets `PaymentRejected`, the
/// order is confirmed again with nothing refunded and its seat still sold, and the next request
/// is a new refund under a new key that the gateway makes. A refund the gateway keeps failing
/// (or whose outcome is unknown) stays pending instead, and is resent as it is.
pub async fn service_rejected_refund_is_abandoned(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 2, 20_000).await;
    let paid = w.buy(&w.seats_request(&ids)).await.unwrap();

    w.gateway.fail_next(
        GatewayOp::Cancel,
        Fault::Reject("NOT_CANCELABLE_PAYMENT".to_owned()),
    );
    match w.service.refund_lines(&refund_line(&paid, 0)).await {
        Err(BookingError::PaymentRejected { code, .. }) => {
            assert_eq!(code, "NOT_CANCELABLE_PAYMENT");
        }
        other => panic!("expected PaymentRejected, got {other:?}"),
    }
    let order = w.service.order(paid.order.id()).await.unwrap();
    assert_eq!(
        order.order.state(),
        paid.order.state(),
        "paid again, as before"
    );
    assert!(order.pending_refund.is_none(), "nothing left to resend");
    assert_eq!(order.order.refunded(), krw(0));
    assert_eq!(order.lines[0].refunded_units, 0);
    let ticket = w.backend.store.ticket(ids[0]).await.unwrap().ticket;
    assert!(
        matches!(ticket.state(), TicketState::Sold { .. }),
        "still sold"
    );
    assert_eq!(w.gateway.stats().refunds, 0);

    let receipt = w
        .service
        .refund_lines(&refund_line(&order, 0))
        .await
        .unwrap();
    assert_eq!(receipt.amount, krw(20_000));
    assert_eq!(receipt.order.refunds_started, 2, "a new refund, a new key");
    assert_eq!(w.gateway.stats().refunds, 1);

    // Kept failing: the refund stays pending and the next call resends it under the same key.
    for _ in 0..3 {
        w.gateway.fail_next(
            GatewayOp::Cancel,
            Fault::Transient("PROVIDER_ERROR".to_owned()),
        );
    }
    let rest = refund_line(&receipt.order, 1);
    assert!(matches!(
        w.service.refund_lines(&rest).await,
        Err(BookingError::GatewayUnavailable { .. })
    ));
    let order = w.service.order(paid.order.id()).await.unwrap();
    assert!(matches!(
        order.order.state(),
        OrderState::Cancelling { captured: true, .. }
    ));
    assert_eq!(order.pending_refund.as_ref().map(|p| p.seq), Some(3));
    let settled = w.service.refund_lines(&rest).await.unwrap().order;
    assert_eq!(settled.order.state().kind(), OrderStateKind::Refunded);
    assert_eq!(settled.refunds_started, 3, "resent, not restarted");
    assert_eq!(w.gateway.stats().refunds, 2);
}

/// A refund request carrying the caller's request id, sent again after it settled and
/// double-clicked 100 times: every answer is the same receipt, the line is refunded once.
/// A malformed id is refused before anything changes.
pub async fn service_refund_request_id_answers_repeats(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 2, 20_000).await;
    let paid = w.buy(&w.seats_request(&ids)).await.unwrap();
    let mut request = refund_line(&paid, 0);
    for bad in ["", " padded", "caf\u{e9}", &"x".repeat(101)] {
        request.request_id = Some(bad.to_owned());
        assert!(
            matches!(
                w.service.refund_lines(&request).await,
                Err(BookingError::Invalid { .. })
            ),
            "{bad:?}"
        );
    }
    let unchanged = w.service.order(paid.order.id()).await.unwrap();
    assert_eq!(unchanged, paid, "a refused request changes nothing");
    request.request_id = Some("click-1".to_owned());
    let first = w.service.refund_lines(&request).await.unwrap();
    let again = w.service.refund_lines(&request).await.unwrap();
    assert_eq!((again.amount, again.order), (first.amount, first.order));
    assert_eq!(w.gateway.stats().refunds, 1);
    // Another id for the same line is another request: nothing is left to refund.
    request.request_id = Some("click-2".to_owned());
    assert!(matches!(
        w.service.refund_lines(&request).await,
        Err(BookingError::Invalid { .. })
    ));

    for trial in 0..100 {
        let id = format!("refund-seat-{trial}");
        for answer in double_click_refund(&w, trial, Some(id)).await {
            assert_eq!(answer.unwrap().amount, krw(20_000), "trial {trial}");
        }
    }
}
