//! The service's flows end to end on the in-memory backend.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::discount::{Benefit, Customer, QuotePolicy, Rule};
use crate::ids::{EventId, TicketId, UserId};
use crate::machine::{OrderStateKind, PaymentState, Ticket, TicketStateKind};
use crate::memory::{FakeGateway, MemoryBookingStore, MemoryCouponStore};
use crate::money::{BasisPoints, Money};
use crate::policy::ManualSleeper;
use crate::ports::store::TicketListing;

struct World {
    service: BookingService,
    clock: ManualClock,
    gateway: FakeGateway,
    event: EventId,
    seats: Vec<TicketId>,
}

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

async fn world(seats: usize) -> World {
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
    let store = Arc::new(MemoryBookingStore::new());
    let event = EventId::new();
    let listings: Vec<TicketListing> = (0..seats)
        .map(|_| TicketListing {
            ticket: Ticket::new(TicketId::new()),
            event,
            item: "R".to_owned(),
            tags: BTreeSet::from(["concert".to_owned()]),
            price: krw(50_000),
        })
        .collect();
    store.add_tickets(&listings).await.unwrap();
    let gateway = FakeGateway::new(Arc::new(clock.clone()));
    let rules = RuleSet::new(
        vec![
            Rule::new(
                "gold",
                Benefit::Percentage {
                    percent: BasisPoints::new(1_000).unwrap(),
                },
            )
            .grades(["GOLD"]),
        ],
        QuotePolicy::default(),
    )
    .unwrap();
    let ports = Ports {
        store,
        coupons: Arc::new(MemoryCouponStore::new()),
        gateways: vec![Arc::new(gateway.clone())],
        waiting_room: None,
        clock: Arc::new(clock.clone()),
        sleeper: Arc::new(ManualSleeper::new(clock.clone())),
    };
    World {
        service: BookingService::new(ports, Policies::new(Currency::KRW, rules)),
        clock,
        gateway,
        event,
        seats: listings.iter().map(|l| l.ticket.id()).collect(),
    }
}

fn request(w: &World, seats: &[TicketId]) -> HoldRequest {
    HoldRequest {
        order: OrderId::new(),
        user: UserId::new(),
        customer: Customer::member("GOLD"),
        event: w.event,
        items: seats
            .iter()
            .map(|&ticket| ItemRef::Ticket { ticket })
            .collect(),
        coupons: Vec::new(),
        admission: None,
    }
}

#[tokio::test]
async fn hold_pay_confirm_refund() {
    let w = world(4).await;
    let order = w.service.hold(&request(&w, &w.seats[..2])).await.unwrap();
    assert_eq!(order.order.total(), krw(90_000), "GOLD pays 10 % less");
    let intent = w
        .service
        .start_payment(order.order.id(), "fake")
        .await
        .unwrap();
    assert_eq!(intent.amount, krw(90_000));
    let payment_key = w
        .gateway
        .open_session(&intent.order_ref, intent.amount)
        .unwrap();
    let confirmation = Confirmation {
        order_ref: intent.order_ref.clone(),
        payment_key,
        amount: intent.amount,
    };
    let paid = w.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    let seat = w.service.store().ticket(w.seats[0]).await.unwrap();
    assert_eq!(seat.ticket.state().kind(), TicketStateKind::Sold);
    // A second confirm answers the same and charges nothing more.
    assert_eq!(
        w.service.confirm_payment(&confirmation).await.unwrap(),
        paid
    );
    assert_eq!(w.gateway.stats().charges, 1);

    let first_line = paid.lines[0].line.clone();
    let refund = RefundRequest {
        order: paid.order.id(),
        lines: vec![(first_line, None)],
        reason: "changed plans".to_owned(),
        request_id: None,
    };
    let receipt = w.service.refund_lines(&refund).await.unwrap();
    assert_eq!(receipt.amount, krw(45_000));
    assert_eq!(
        receipt.order.order.state().kind(),
        OrderStateKind::PartiallyRefunded
    );
    let seat = w.service.store().ticket(w.seats[0]).await.unwrap();
    assert_eq!(
        seat.ticket.state().kind(),
        TicketStateKind::Available,
        "refunded seat is back on sale"
    );
    let rest = w
        .service
        .cancel_order(paid.order.id(), "cancel the rest")
        .await
        .unwrap();
    assert_eq!(rest.order.state().kind(), OrderStateKind::Refunded);
    assert_eq!(rest.order.refunded(), krw(90_000));
    let payment = w.service.store().payment(intent.payment).await.unwrap();
    assert_eq!(payment.payment.state(), PaymentState::Canceled);
}

#[tokio::test]
async fn abandoned_orders_free_their_seats_lazily_and_the_sweep_tidies() {
    let w = world(1).await;
    let first = w.service.hold(&request(&w, &w.seats)).await.unwrap();
    assert!(matches!(
        w.service.hold(&request(&w, &w.seats)).await,
        Err(BookingError::Unavailable { .. })
    ));
    w.clock.advance(Duration::from_secs(600));
    let second = w.service.hold(&request(&w, &w.seats)).await.unwrap();
    w.clock.advance(Duration::from_secs(60));
    let report = w.service.sweep().await.unwrap();
    assert_eq!(report.orders_expired, 1);
    assert_eq!(
        w.service
            .order(first.order.id())
            .await
            .unwrap()
            .order
            .state()
            .kind(),
        OrderStateKind::Expired
    );
    let seat = w.service.store().ticket(w.seats[0]).await.unwrap();
    assert!(
        matches!(seat.ticket.state(), crate::machine::TicketState::Held { order, .. } if order == second.order.id())
    );
}

#[tokio::test]
async fn a_declined_card_leaves_the_order_payable_by_another_method() {
    let w = world(1).await;
    let order = w.service.hold(&request(&w, &w.seats)).await.unwrap();
    let intent = w
        .service
        .start_payment(order.order.id(), "fake")
        .await
        .unwrap();
    let payment_key = w
        .gateway
        .open_session(&intent.order_ref, intent.amount)
        .unwrap();
    w.gateway.fail_next(
        crate::memory::GatewayOp::Confirm,
        crate::memory::Fault::Reject("REJECT_CARD_PAYMENT".into()),
    );
    let declined = Confirmation {
        order_ref: intent.order_ref.clone(),
        payment_key,
        amount: intent.amount,
    };
    assert!(matches!(
        w.service.confirm_payment(&declined).await,
        Err(BookingError::PaymentRejected { .. })
    ));

    let retry = w
        .service
        .start_payment(order.order.id(), "fake")
        .await
        .unwrap();
    assert_ne!(retry.payment, intent.payment, "a new attempt");
    let payment_key = w
        .gateway
        .open_session(&retry.order_ref, retry.amount)
        .unwrap();
    let paid = w
        .service
        .confirm_payment(&Confirmation {
            order_ref: retry.order_ref,
            payment_key,
            amount: retry.amount,
        })
        .await
        .unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    assert_eq!(w.gateway.stats().charges, 1);
    let first = w.service.store().payment(intent.payment).await.unwrap();
    assert_eq!(first.payment.state(), PaymentState::Failed);
}
