//! After the sale: partial refunds, exactly once and exactly what each line cost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats};
use super::World;
use crate::discount::{Benefit, Customer, QuotePolicy, Rule, RuleSet};
use crate::ids::TicketId;
use crate::machine::{OrderStateKind, PaymentState, TicketState};
use crate::memory::{Fault, GatewayOp};
use crate::money::{BasisPoints, Money};
use crate::ports::gateway::GatewayStatus;
use crate::ports::store::OrderRecord;
use crate::service::{BookingError, RefundRequest};

/// A refund of every unit of line `index` of `order`.
fn refund_line(order: &OrderRecord, index: usize) -> RefundRequest {
    RefundRequest {
        order: order.order.id(),
        lines: vec![(order.lines[index].line.clone(), None)],
        reason: "buyer asked".to_owned(),
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
/// request-level idempotency key, as the application's idempotency store provides, is what
/// gives both clicks the same answer.)
pub async fn service_double_refund_refunds_once(b: Backend) {
    let w = World::new(b, no_rules());
    for trial in 0..100 {
        let ids = seats(&w.backend, w.event, 2, 20_000).await;
        let paid = w.buy(&w.seats_request(&ids)).await.unwrap();
        let refunds_before = w.gateway.stats().refunds;
        let click = || {
            let service = w.service.clone();
            let request = refund_line(&paid, 0);
            async move { service.refund_lines(&request).await }
        };
        let (first, second) = super::race(click(), click()).await;
        let mut receipts = 0;
        for answer in [first, second] {
            match answer {
                Ok(receipt) => {
                    assert_eq!(receipt.amount, krw(20_000), "trial {trial}");
                    receipts += 1;
                }
                Err(
                    BookingError::Conflict(_) | BookingError::InProgress | BookingError::Invalid(_),
                ) => {}
                Err(e) => panic!("trial {trial}: unexpected {e:?}"),
            }
        }
        assert!(receipts >= 1, "trial {trial}: one click gets the receipt");
        assert_eq!(
            w.gateway.stats().refunds,
            refunds_before + 1,
            "trial {trial}"
        );
        let order = w.service.order(paid.order.id()).await.unwrap();
        assert_eq!(order.order.refunded(), krw(20_000), "trial {trial}");
        assert_eq!(order.lines[0].refunded_units, 1, "trial {trial}");
        assert!(order.pending_refund.is_none(), "trial {trial}: settled");
    }
}
