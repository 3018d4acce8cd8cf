//! Refunds under double clicks and gateway faults: money moves once, books agree with the
//! gateway, every repeat of a request gets its answer, and a reused id is refused.
//!
//! Each test runs with the fake gateway forgetting refusals (a repeat under the same key is
//! processed afresh) and keeping them (a repeat is refused again): both exist in the wild.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats, stock};
use super::{World, in_parallel, race};
use crate::discount::{Benefit, Customer, QuotePolicy, RefundLine, Rule, RuleSet};
use crate::ids::OrderId;
use crate::memory::{Fault, GatewayOp};
use crate::money::{BasisPoints, Money};
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{ItemRef, OrderRecord};
use crate::service::{BookingError, RefundReceipt, RefundRequest};

type Answer = Result<RefundReceipt, BookingError>;

/// Asks again while the answer says "not yet" (outcome unknown, gateway down, another click
/// busy with it), as a client does, and returns the first final answer.
async fn final_answer(w: &World, request: &RefundRequest, mut answer: Answer) -> Answer {
    for _ in 0..20 {
        match answer {
            Err(
                BookingError::PaymentUnknown
                | BookingError::InProgress
                | BookingError::GatewayUnavailable { .. },
            ) => answer = w.service.refund_lines(request).await,
            done => return done,
        }
    }
    answer
}

/// Whether two final answers are the same answer: equal receipts, or the same refusal.
fn same_answer(a: &Answer, b: &Answer) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a.amount == b.amount && a.order.order.id() == b.order.order.id(),
        (
            Err(BookingError::PaymentRejected { code: a, .. }),
            Err(BookingError::PaymentRejected { code: b, .. }),
        ) => a == b,
        _ => false,
    }
}

/// What the gateway has returned of the payment of `order_ref`.
fn returned(w: &World, order_ref: &GatewayOrderId) -> Money {
    let payment = w.gateway.payment(order_ref).unwrap();
    payment.total.checked_sub(payment.balance).unwrap()
}

async fn order_ref(w: &World, order: &OrderRecord) -> GatewayOrderId {
    let payment = order.payment.unwrap();
    w.backend.store.payment(payment).await.unwrap().order_ref
}

/// What the order's refunded units cost under its quote: what the books must say.
fn owed_for_refunded_units(order: &OrderRecord) -> Money {
    let lines: Vec<RefundLine> = order
        .lines
        .iter()
        .filter(|l| l.refunded_units > 0)
        .map(|l| RefundLine::units(l.line.clone(), l.refunded_units, 0))
        .collect();
    if lines.is_empty() {
        return Money::zero(order.quote.currency());
    }
    order.quote.refund_for(&lines).unwrap()
}

/// A double click on "refund this seat" (one request id) while the gateway plays `script` on
/// the first sends of that refund, in both gateway behaviours and in every ordering the script
/// makes: the refusal reaching the click that started the refund, reaching the click that
/// took it over after the first send's outcome was unknown, and the first send's money moving
/// with its answer lost. Both clicks get the same final answer, true to what happened — a
/// refusal only if the gateway returned nothing — the gateway returned what the books say,
/// and after a refusal a new request refunds exactly the seat's price, once.
pub async fn service_refund_double_click_under_gateway_faults(b: Backend) {
    let w = World::new(b, no_rules());
    let refused = || Fault::Reject("REFUND_REJECTED".to_owned());
    let scripts: [(&str, Vec<Fault>, bool); 4] = [
        ("refused at once", vec![refused()], true),
        (
            "refused after a send that never arrived",
            vec![Fault::TimeoutBeforeProcessing, refused()],
            true,
        ),
        (
            "returned, answer lost",
            vec![Fault::TimeoutAfterProcessing],
            false,
        ),
        (
            "down, then returned",
            vec![Fault::Transient("PROVIDER_ERROR".to_owned()); 3],
            false,
        ),
    ];
    let ids = seats(&w.backend, w.event, 2 * 2 * 4 * 6, 20_000).await;
    let mut pairs = ids.chunks(2);
    for keep in [false, true] {
        w.gateway.keep_refusals(keep);
        for (name, script, rejected) in &scripts {
            for trial in 0..6 {
                let seats = pairs.next().unwrap();
                let paid = w.buy(&w.seats_request(seats)).await.unwrap();
                let at_gateway = order_ref(&w, &paid).await;
                for fault in script {
                    w.gateway
                        .fail_next_for(GatewayOp::Cancel, &at_gateway, fault.clone());
                }
                let context = format!("{name}, refusals kept {keep}, trial {trial}");
                let request = RefundRequest::new(paid.order.id(), "buyer asked")
                    .line(paid.lines[0].line.clone())
                    .request_id(format!("click-{}", paid.order.id()));
                let click = || {
                    let service = w.service.clone();
                    let request = request.clone();
                    async move { service.refund_lines(&request).await }
                };
                let (first, second) = race(click(), click()).await;
                let first = final_answer(&w, &request, first).await;
                let second = final_answer(&w, &request, second).await;
                assert!(
                    same_answer(&first, &second),
                    "{context}: {first:?} vs {second:?}"
                );
                let order = w.service.order(paid.order.id()).await.unwrap();
                assert_eq!(
                    returned(&w, &at_gateway),
                    order.order.refunded(),
                    "{context}"
                );
                assert_eq!(order.order.refunded(), owed_for_refunded_units(&order));
                if *rejected {
                    assert!(
                        matches!(&first, Err(BookingError::PaymentRejected { code, .. }) if code == "REFUND_REJECTED"),
                        "{context}: {first:?}"
                    );
                    assert!(order.order.refunded().is_zero(), "{context}");
                    // Asked again later, the same request gets the same refusal.
                    let again = w.service.refund_lines(&request).await;
                    assert!(same_answer(&again, &first), "{context}: {again:?}");
                    let retry = RefundRequest::new(paid.order.id(), "buyer asked")
                        .line(paid.lines[0].line.clone())
                        .request_id(format!("retry-{}", paid.order.id()));
                    assert_eq!(
                        w.service.refund_lines(&retry).await.unwrap().amount,
                        krw(20_000)
                    );
                } else {
                    assert_eq!(first.as_ref().unwrap().amount, krw(20_000), "{context}");
                }
                let order = w.service.order(paid.order.id()).await.unwrap();
                assert_eq!(order.order.refunded(), krw(20_000), "{context}");
                assert_eq!(returned(&w, &at_gateway), krw(20_000), "{context}");
                assert!(order.pending_refund.is_none(), "{context}");
            }
        }
    }
}

/// A double click on "refund everything" with one request id, 300 times: both clicks get the
/// same receipt for the whole total, and the gateway returns it once.
pub async fn service_full_refund_double_click_gives_one_receipt(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 600, 20_000).await;
    for (trial, seats) in ids.chunks(2).enumerate() {
        let paid = w.buy(&w.seats_request(seats)).await.unwrap();
        let at_gateway = order_ref(&w, &paid).await;
        let request = paid
            .lines
            .iter()
            .fold(
                RefundRequest::new(paid.order.id(), "event cancelled"),
                |r, l| r.line(l.line.clone()),
            )
            .request_id(format!("all-{trial}"));
        let click = || {
            let service = w.service.clone();
            let request = request.clone();
            async move { service.refund_lines(&request).await }
        };
        let (first, second) = race(click(), click()).await;
        let first = final_answer(&w, &request, first).await.unwrap();
        let second = final_answer(&w, &request, second).await.unwrap();
        assert_eq!(first.amount, krw(40_000), "trial {trial}");
        assert_eq!(first, second, "trial {trial}: one receipt");
        assert_eq!(returned(&w, &at_gateway), krw(40_000), "trial {trial}");
        assert_eq!(first.order.order.refunded(), krw(40_000), "trial {trial}");
    }
    assert_eq!(w.gateway.stats().refunds, 300, "one refund per order");
}

/// An id is one request: an order id reused for other items, another event or another buyer,
/// and a refund request id reused for other lines or quantities (while its refund is in
/// flight and after it settled) are refused with `RequestMismatch`, changing nothing; the
/// same request again gets its first answer.
pub async fn service_reused_ids_for_other_requests_are_refused(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 3, 20_000).await;
    let ga = stock(&w.backend, w.event, 10, 5_000).await;
    let first = w.seats_request(&ids[..1]);
    let placed = w.service.hold(&first).await.unwrap();
    let available = w.tickets_available().await;
    let mut other_items = w.seats_request(&ids[1..2]);
    other_items.order = first.order;
    let mut other_buyer = w.seats_request(&ids[..1]);
    other_buyer.order = first.order;
    for reused in [other_items, other_buyer] {
        assert!(
            matches!(
                w.service.hold(&reused).await,
                Err(BookingError::RequestMismatch { what: "order", id }) if id == first.order.to_string()
            ),
            "{reused:?}"
        );
    }
    assert_eq!(w.tickets_available().await, available, "nothing was held");
    assert_eq!(w.service.order(first.order).await.unwrap(), placed);
    assert_eq!(w.service.hold(&first).await.unwrap(), placed, "a repeat");

    let mut items: Vec<ItemRef> = vec![ItemRef::Ticket { ticket: ids[2] }];
    items.push(ItemRef::Stock {
        stock: ga,
        quantity: 4,
    });
    let paid = w.buy(&w.request(first.user, items)).await.unwrap();
    let at_gateway = order_ref(&w, &paid).await;
    let seat_line = paid
        .line_of(&ItemRef::Ticket { ticket: ids[2] })
        .unwrap()
        .line
        .clone();
    let ga_line = paid
        .line_of(&ItemRef::Stock {
            stock: ga,
            quantity: 4,
        })
        .unwrap()
        .line
        .clone();
    // The refund stays in flight: the gateway keeps failing.
    for _ in 0..3 {
        w.gateway.fail_next_for(
            GatewayOp::Cancel,
            &at_gateway,
            Fault::Transient("PROVIDER_ERROR".to_owned()),
        );
    }
    let request = RefundRequest::new(paid.order.id(), "r")
        .units(ga_line.clone(), 2)
        .request_id("ga-two");
    assert!(matches!(
        w.service.refund_lines(&request).await,
        Err(BookingError::GatewayUnavailable { .. })
    ));
    let in_flight = w.service.order(paid.order.id()).await.unwrap();
    let mismatches = [
        RefundRequest::new(paid.order.id(), "r")
            .units(ga_line.clone(), 3)
            .request_id("ga-two"),
        RefundRequest::new(paid.order.id(), "r")
            .line(seat_line.clone())
            .request_id("ga-two"),
    ];
    for reused in &mismatches {
        assert!(
            matches!(
                w.service.refund_lines(reused).await,
                Err(BookingError::RequestMismatch { what: "refund request", id }) if id == "ga-two"
            ),
            "{reused:?}"
        );
    }
    assert_eq!(
        w.service.order(paid.order.id()).await.unwrap(),
        in_flight,
        "nothing changed"
    );
    let receipt = w.service.refund_lines(&request).await.unwrap();
    assert_eq!(receipt.amount, krw(10_000));
    for reused in &mismatches {
        assert!(matches!(
            w.service.refund_lines(reused).await,
            Err(BookingError::RequestMismatch { .. })
        ));
    }
    let again = w.service.refund_lines(&request).await.unwrap();
    assert_eq!(again.amount, receipt.amount);
    assert_eq!(returned(&w, &at_gateway), krw(10_000));
    assert_eq!(w.gateway.stats().refunds, 1);
}

/// What one torture request does besides asking.
#[derive(Debug, Clone, Copy)]
struct Twist {
    /// A second click at the same time.
    double: bool,
    /// The fault played on the first send.
    fault: Option<u8>,
}

/// Refund torture: 400 orders of two seats and a stock line, priced with a member discount
/// so lines carry uneven shares, refunded in random pieces in random order — each request
/// maybe double-clicked, its first send maybe refused once, lost after the money moved, lost
/// before it arrived or failing for a while — half with refusals forgotten and half with them
/// kept. A refused refund is asked again under a new id. Afterwards, for every order, the
/// gateway returned exactly what the books say, the books say exactly what the refunded units
/// cost under the quote, every order is refunded in full, and the sums agree.
pub async fn service_refund_torture(b: Backend) {
    const ORDERS: usize = 400;
    let member = Rule::new(
        "member-7",
        Benefit::Percentage {
            percent: BasisPoints::new(700).unwrap(),
        },
    )
    .grades(["GOLD"]);
    let rules = RuleSet::new(vec![member], QuotePolicy::default()).unwrap();
    let w = World::new(b, rules);
    let seed = 0x5eed_u64;
    let ids = seats(&w.backend, w.event, 2 * ORDERS, 13_333).await;
    let mut paid = Vec::with_capacity(ORDERS);
    for (n, pair) in ids.chunks(2).enumerate() {
        let ga = stock(&w.backend, w.event, 5, 7_001).await;
        let mut items: Vec<ItemRef> = pair
            .iter()
            .map(|&ticket| ItemRef::Ticket { ticket })
            .collect();
        items.push(ItemRef::Stock {
            stock: ga,
            quantity: 5,
        });
        let mut request = w.request(crate::ids::UserId::new(), items);
        request.customer = Customer::member("GOLD");
        let order = w.buy(&request).await.unwrap();
        let at_gateway = order_ref(&w, &order).await;
        paid.push((n, order, at_gateway));
    }
    for (half, keep) in [(0, false), (1, true)] {
        w.gateway.keep_refusals(keep);
        let batch: Vec<_> = paid
            .iter()
            .filter(|(n, ..)| n % 2 == half)
            .cloned()
            .collect();
        let per_task = batch.len().div_ceil(8);
        in_parallel(8, |task| {
            let w = w.clone();
            let mine: Vec<_> = batch
                .iter()
                .skip(task * per_task)
                .take(per_task)
                .cloned()
                .collect();
            async move {
                for (n, order, at_gateway) in mine {
                    let salt = u64::try_from(n).unwrap();
                    let mut rng = SmallRng::seed_from_u64(seed ^ salt.wrapping_mul(0x9e37));
                    refund_everything(&w, order.order.id(), &at_gateway, &mut rng, n).await;
                }
            }
        })
        .await;
    }
    let mut books = Money::zero(crate::money::Currency::KRW);
    let mut gateway = Money::zero(crate::money::Currency::KRW);
    for (n, order, at_gateway) in &paid {
        let now = w.service.order(order.order.id()).await.unwrap();
        assert_eq!(
            now.order.refunded(),
            now.order.total(),
            "order {n} refunded in full"
        );
        assert_eq!(returned(&w, at_gateway), now.order.refunded(), "order {n}");
        assert_eq!(
            now.order.refunded(),
            owed_for_refunded_units(&now),
            "order {n}"
        );
        books = books.checked_add(now.order.refunded()).unwrap();
        gateway = gateway.checked_add(returned(&w, at_gateway)).unwrap();
    }
    assert_eq!(books, gateway);
}

/// Refunds every unit of `order` in random pieces, each with a random twist, asking again
/// under a new id after a refusal, and checks each request's answers agree.
async fn refund_everything(
    w: &World,
    order: OrderId,
    at_gateway: &GatewayOrderId,
    rng: &mut SmallRng,
    n: usize,
) {
    for attempt in 0..40 {
        let record = w.service.order(order).await.unwrap();
        let left: Vec<_> = record
            .lines
            .iter()
            .filter(|l| l.refunded_units < l.units())
            .collect();
        if left.is_empty() {
            return;
        }
        let mut request = RefundRequest::new(order, "torture");
        for line in &left {
            if left.len() > 1 && rng.random_range(0..3) == 0 {
                continue; // not this time
            }
            let remaining = line.units() - line.refunded_units;
            request = if remaining > 1 && rng.random_range(0..2) == 0 {
                request.units(line.line.clone(), rng.random_range(1..remaining))
            } else {
                request.line(line.line.clone())
            };
        }
        if request.lines.is_empty() {
            request = request.line(left[0].line.clone());
        }
        let request = request.request_id(format!("t{n}-{attempt}"));
        let twist = Twist {
            double: rng.random_range(0..3) == 0,
            fault: (rng.random_range(0..2) == 0).then(|| rng.random_range(0..4)),
        };
        match twist.fault {
            Some(0) => {
                let fault = Fault::Reject("REFUND_REJECTED".to_owned());
                w.gateway
                    .fail_next_for(GatewayOp::Cancel, at_gateway, fault);
            }
            Some(1) => w.gateway.fail_next_for(
                GatewayOp::Cancel,
                at_gateway,
                Fault::TimeoutAfterProcessing,
            ),
            Some(2) => w.gateway.fail_next_for(
                GatewayOp::Cancel,
                at_gateway,
                Fault::TimeoutBeforeProcessing,
            ),
            Some(_) => {
                for _ in 0..2 {
                    let fault = Fault::Transient("PROVIDER_ERROR".to_owned());
                    w.gateway
                        .fail_next_for(GatewayOp::Cancel, at_gateway, fault);
                }
            }
            None => {}
        }
        let answers: Vec<Answer> = if twist.double {
            let click = || {
                let service = w.service.clone();
                let request = request.clone();
                async move { service.refund_lines(&request).await }
            };
            let (a, b) = race(click(), click()).await;
            vec![a, b]
        } else {
            vec![w.service.refund_lines(&request).await]
        };
        let mut finals = Vec::with_capacity(answers.len());
        for answer in answers {
            finals.push(final_answer(w, &request, answer).await);
        }
        // A lost answer, repeated later: the same again.
        finals.push(w.service.refund_lines(&request).await);
        for answer in &finals {
            assert!(
                same_answer(answer, &finals[0]),
                "order {n}, request {attempt} ({twist:?}): {answer:?} vs {:?}",
                finals[0]
            );
        }
        let now = w.service.order(order).await.unwrap();
        assert_eq!(
            returned(w, at_gateway),
            now.order.refunded(),
            "order {n}, request {attempt} ({twist:?})"
        );
        match &finals[0] {
            Ok(_) | Err(BookingError::PaymentRejected { .. }) => {}
            Err(e) => panic!("order {n}, request {attempt} ({twist:?}): {e:?}"),
        }
    }
    panic!("order {n}: not refunded in 40 requests");
}
