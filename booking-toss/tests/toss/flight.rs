//! The flight-booking seed flow end to end: booking-core's `BookingService` on the memory
//! ports, paying through `TossGateway` against the fake Toss server — seats held, member and
//! time-window discounts, the success redirect, a transient Toss error retried, a partial
//! cancel of one seat and a cancel of the rest; and the faults the seed system met: double
//! confirms, a charge whose answer was lost, a confirm past the window, a tampered URL.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{Clock, ManualClock};
use booking_core::discount::{Benefit, Customer, QuotePolicy, Rule, RuleSet};
use booking_core::ids::{EventId, OrderId, TicketId, UserId};
use booking_core::machine::{OrderStateKind, PaymentState};
use booking_core::money::{BasisPoints, Currency, Money};
use booking_core::policy::{ManualSleeper, Sleeper};
use booking_core::ports::gateway::PaymentGateway;
use booking_core::service::{
    BookingError, BookingService, Confirmation, HoldRequest, ItemRef, PaymentIntent, Policies,
    Ports, RefundRequest,
};
use booking_core::testkit::Backend;
use booking_core::testkit::fixtures::seats;
use booking_toss::fake::{FakeFault, FakeOp, FakeTossConfig};
use booking_toss::{GATEWAY_NAME, Status, SuccessRedirect};

use crate::support::Toss;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

/// A [`ManualSleeper`] that also lets a millisecond of real time pass per wait, so a
/// duplicate confirm waiting for the first cannot run the virtual clock past its patience
/// before the first's HTTP round trip is back.
#[derive(Debug, Clone)]
struct Paced(ManualSleeper);

#[async_trait::async_trait]
impl Sleeper for Paced {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.sleep(duration).await;
    }
}

/// A flight on sale: the service, its memory backend, Toss behind it, three seats.
pub(crate) struct Flight {
    pub(crate) toss: Toss,
    pub(crate) backend: Backend,
    pub(crate) service: BookingService,
    pub(crate) sleeper: ManualSleeper,
    pub(crate) event: EventId,
    pub(crate) seats: Vec<TicketId>,
}

/// Gold members get 5 %; everyone gets 20,000 won off during the launch week.
fn rules(clock: &ManualClock) -> RuleSet {
    let now = clock.now();
    let week_later = now.checked_add(Duration::from_secs(7 * 24 * 3600)).unwrap();
    let gold = Rule::new(
        "gold-5",
        Benefit::Percentage {
            percent: BasisPoints::new(500).unwrap(),
        },
    )
    .grades(["GOLD"]);
    let launch = Rule::new(
        "launch-week",
        Benefit::AmountOff {
            amount: krw(20_000),
        },
    )
    .window(now, week_later);
    RuleSet::new(vec![gold, launch], QuotePolicy::default()).unwrap()
}

impl Flight {
    pub(crate) async fn open() -> Flight {
        Flight::open_with(|config| config).await
    }

    /// A flight whose fake Toss is configured by `tune`.
    pub(crate) async fn open_with(tune: impl FnOnce(FakeTossConfig) -> FakeTossConfig) -> Flight {
        let clock = ManualClock::new(booking_core::testkit::start_time());
        let toss = Toss::on(clock, tune, booking_toss::Timeouts::default()).await;
        let backend = Backend::in_memory(toss.clock.clone());
        let clock: Arc<dyn Clock> = Arc::new(toss.clock.clone());
        let gateway: Arc<dyn PaymentGateway> = Arc::new(toss.gateway.clone());
        let sleeper = ManualSleeper::new(toss.clock.clone());
        let ports = Ports::new(
            Arc::clone(&backend.store),
            Arc::clone(&backend.coupons),
            clock,
            Arc::new(Paced(sleeper.clone())),
        )
        .gateway(gateway);
        let policies = Policies::new(Currency::KRW, rules(&toss.clock));
        toss.gateway
            .check_retry_policy(&policies.retry)
            .expect("the service's retries fit Toss's confirm window");
        let event = EventId::new();
        let mut listed = Vec::new();
        for price in [189_000, 189_000, 129_500] {
            listed.extend(seats(&backend, event, 1, price).await);
        }
        Flight {
            service: BookingService::new(ports, policies),
            toss,
            backend,
            sleeper,
            event,
            seats: listed,
        }
    }

    pub(crate) fn request(&self, seats: &[TicketId]) -> HoldRequest {
        let items = seats
            .iter()
            .map(|&ticket| ItemRef::Ticket { ticket })
            .collect();
        HoldRequest::new(UserId::new(), self.event, items).customer(Customer::member("GOLD"))
    }

    /// The buyer goes through Toss's window; returns where the browser is sent back to.
    pub(crate) async fn pay_in_window(&self, intent: &PaymentIntent) -> String {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/__fake/widget", self.toss.server.url()),
            &[
                ("orderId", intent.order_ref.as_str()),
                ("amount", &intent.amount.minor().to_string()),
                ("orderName", &intent.order_name),
                ("successUrl", "https://flights.example/pay/success"),
                ("failUrl", "https://flights.example/pay/fail"),
            ],
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = http.get(url).send().await.unwrap();
        answer.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Hold → start paying through Toss → the buyer's window: the confirmation the success
    /// redirect carries.
    pub(crate) async fn held_and_authenticated(
        &self,
        seats: &[TicketId],
    ) -> (OrderId, Confirmation) {
        let order = self.service.hold(&self.request(seats)).await.unwrap();
        let intent = self
            .service
            .start_payment(order.order.id(), GATEWAY_NAME)
            .await
            .unwrap();
        let back = self.pay_in_window(&intent).await;
        let confirmation = SuccessRedirect::from_url(&back)
            .unwrap()
            .confirmation()
            .unwrap();
        (order.order.id(), confirmation)
    }

    /// Hold → window → confirm, with Toss charging and both the confirm's answer and the
    /// gateway's settling look-up lost: the payment is left unknown.
    pub(crate) async fn paid_but_unknown(&self, seats: &[TicketId]) -> OrderId {
        let (order, confirmation) = self.held_and_authenticated(seats).await;
        let fake = self.toss.fake();
        fake.fail_next(FakeOp::Confirm, FakeFault::LoseResponse);
        fake.fail_next(FakeOp::Lookup, FakeFault::DropRequest);
        let answer = self.service.confirm_payment(&confirmation).await;
        assert!(
            matches!(answer, Err(BookingError::PaymentUnknown)),
            "{answer:?}"
        );
        order
    }

    /// The state of `order`'s payment in our books.
    pub(crate) async fn payment_state(&self, order: OrderId) -> PaymentState {
        let record = self.service.order(order).await.unwrap();
        let payment = self.backend.store.payment(record.payment.unwrap()).await;
        payment.unwrap().payment.state()
    }

    pub(crate) async fn tickets_available(&self) -> u64 {
        let now = self.toss.clock.now();
        let availability = self.backend.store.availability(self.event, now).await;
        availability.unwrap().tickets_available
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flight_seed_flow_end_to_end() {
    let f = Flight::open().await;
    // Three seats for a gold member in launch week: both discounts apply.
    let order = f.service.hold(&f.request(&f.seats)).await.unwrap();
    let quote = order.quote.clone();
    let applied: Vec<&str> = quote.applied().iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert!(applied.contains(&"gold-5") && applied.contains(&"launch-week"));
    assert_eq!(quote.subtotal(), krw(507_500));
    assert_eq!(order.order.total(), quote.total());
    assert_eq!(
        quote.total().checked_add(quote.discount()).unwrap(),
        quote.subtotal()
    );
    assert_eq!(f.tickets_available().await, 0);

    // The buyer pays in Toss's window and comes back to the success URL.
    let intent = f
        .service
        .start_payment(order.order.id(), GATEWAY_NAME)
        .await
        .unwrap();
    assert_eq!(intent.amount, quote.total());
    let back = f.pay_in_window(&intent).await;
    let redirect = SuccessRedirect::from_url(&back).unwrap();
    assert_eq!(redirect.amount, quote.total().minor());

    // Toss fails once with a transient error; the service's retry policy tries again.
    f.toss
        .fake()
        .fail_next(FakeOp::Confirm, FakeFault::error("PROVIDER_ERROR"));
    let paid = f
        .service
        .confirm_payment(&redirect.confirmation().unwrap())
        .await
        .unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    assert_eq!(f.sleeper.slept(), [Duration::from_secs(2)]);
    let stats = f.toss.fake().stats();
    assert_eq!((stats.confirm_calls, stats.charges), (2, 1));
    let at_toss = f
        .toss
        .fake()
        .payment(redirect.payment_key.as_str())
        .unwrap();
    assert_eq!(at_toss.status, Status::Done);
    assert_eq!(at_toss.total_amount.unwrap().value(), quote.total().minor());

    // The second passenger cancels: exactly that seat's share of the discounted total.
    let second = paid.lines[1].line.clone();
    let receipt = f
        .service
        .refund_lines(
            &RefundRequest::new(order.order.id(), "passenger 2 cancelled").line(second.clone()),
        )
        .await
        .unwrap();
    let seat_cost = quote.line(&second).unwrap().net;
    assert_eq!(receipt.amount, seat_cost);
    assert_eq!(
        receipt.order.order.state().kind(),
        OrderStateKind::PartiallyRefunded
    );
    let at_toss = f
        .toss
        .fake()
        .payment(redirect.payment_key.as_str())
        .unwrap();
    assert_eq!(at_toss.status, Status::PartialCanceled);
    assert_eq!(
        at_toss.cancel_list()[0].cancel_amount.value(),
        seat_cost.minor()
    );
    assert_eq!(
        at_toss.balance_amount.unwrap().value(),
        quote.total().checked_sub(seat_cost).unwrap().minor()
    );
    assert_eq!(f.tickets_available().await, 1, "the seat is on sale again");

    // The trip is cancelled: the rest comes back, and the refunds add up to the charge.
    let cancelled = f
        .service
        .cancel_order(order.order.id(), "trip cancelled")
        .await
        .unwrap();
    assert_eq!(cancelled.order.state().kind(), OrderStateKind::Refunded);
    assert_eq!(cancelled.order.refunded(), quote.total());
    let at_toss = f
        .toss
        .fake()
        .payment(redirect.payment_key.as_str())
        .unwrap();
    assert_eq!(at_toss.status, Status::Canceled);
    assert_eq!(at_toss.balance_amount.unwrap().value(), 0);
    let returned: i64 = at_toss
        .cancel_list()
        .iter()
        .map(|c| c.cancel_amount.value())
        .sum();
    assert_eq!(returned, quote.total().minor());
    assert_eq!(f.toss.fake().stats().refunds, 2);
    assert_eq!(f.tickets_available().await, 3);
}

/// Ten confirms of one payment at once (double clicks, a retrying client): one charge at
/// Toss, one call to it, and every click gets the same confirmed order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_confirms_charge_once() {
    let f = Flight::open().await;
    for round in 0..3 {
        let seat = f.seats[round];
        let (order, confirmation) = f.held_and_authenticated(&[seat]).await;
        let clicks: Vec<_> = (0..10)
            .map(|_| {
                let service = f.service.clone();
                let confirmation = confirmation.clone();
                tokio::spawn(async move { service.confirm_payment(&confirmation).await })
            })
            .collect();
        let mut answers = Vec::new();
        for click in clicks {
            answers.push(click.await.unwrap().unwrap());
        }
        let paid = f.service.order(order).await.unwrap();
        assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
        for answer in answers {
            assert_eq!(answer, paid, "every click gets the same answer");
        }
        let stats = f.toss.fake().stats();
        let round = u64::try_from(round).unwrap() + 1;
        assert_eq!((stats.confirm_calls, stats.charges), (round, round));
    }
}

/// Toss charges and the answer is lost. If the gateway's own look-up settles it, the buyer is
/// told at once; if that look-up fails too, the payment waits as unknown — the sweeper leaves
/// it alone — and the reconciler settles it as paid. Toss is never asked to charge again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_whose_answer_is_lost_is_settled_as_paid() {
    let f = Flight::open().await;
    let (order, confirmation) = f.held_and_authenticated(&f.seats[..1]).await;
    f.toss
        .fake()
        .fail_next(FakeOp::Confirm, FakeFault::LoseResponse);
    let paid = f.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(paid.order.id(), order);
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);

    let order = f.paid_but_unknown(&f.seats[1..2]).await;
    assert_eq!(f.payment_state(order).await, PaymentState::Unknown);

    // The hold lapses; the sweeper must not expire an order whose payment may have charged.
    f.toss.clock.advance(Duration::from_secs(11 * 60));
    let swept = f.service.sweep().await.unwrap();
    assert_eq!(swept.orders_expired, 0);
    let report = f.service.reconcile(10).await.unwrap();
    assert_eq!((report.checked, report.paid), (1, 1));
    let settled = f.service.order(order).await.unwrap();
    assert_eq!(settled.order.state().kind(), OrderStateKind::Confirmed);
    let stats = f.toss.fake().stats();
    assert_eq!(
        (stats.confirm_calls, stats.charges),
        (2, 2),
        "one confirm per payment"
    );
}

/// The buyer comes back from the window after Toss's ten minutes: Toss refuses, nothing is
/// charged, the buyer is told to pay again, the seats go back on sale and the sweeper
/// releases the order; paying again works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_past_the_window_releases_the_order() {
    let f = Flight::open().await;
    let (order, confirmation) = f.held_and_authenticated(&f.seats[..2]).await;
    f.toss.clock.advance(Duration::from_secs(10 * 60 + 1));
    match f.service.confirm_payment(&confirmation).await {
        Err(BookingError::PaymentRejected { code, .. }) => {
            assert_eq!(code, "NOT_FOUND_PAYMENT_SESSION");
        }
        other => panic!("expected a rejection telling the buyer to pay again: {other:?}"),
    }
    assert_eq!(f.toss.fake().stats().charges, 0);
    assert_eq!(
        f.tickets_available().await,
        3,
        "the lapsed hold frees the seats"
    );
    f.toss.clock.advance(Duration::from_secs(31));
    let swept = f.service.sweep().await.unwrap();
    assert_eq!(swept.orders_expired, 1);
    let released = f.service.order(order).await.unwrap();
    assert_eq!(released.order.state().kind(), OrderStateKind::Expired);

    let (again, confirmation) = f.held_and_authenticated(&f.seats[..2]).await;
    let paid = f.service.confirm_payment(&confirmation).await.unwrap();
    assert_eq!(paid.order.id(), again);
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    assert_eq!(f.toss.fake().stats().charges, 1);
}

/// The buyer edits the amount in the success URL: refused against the stored order before
/// Toss is called; the genuine redirect still pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_success_url_never_reaches_toss() {
    let f = Flight::open().await;
    let order = f.service.hold(&f.request(&f.seats[..1])).await.unwrap();
    let intent = f
        .service
        .start_payment(order.order.id(), GATEWAY_NAME)
        .await
        .unwrap();
    let back = f.pay_in_window(&intent).await;
    let genuine = format!("amount={}", intent.amount.minor());
    assert!(back.contains(&genuine));
    let tampered = back.replace(&genuine, "amount=1000");
    let claim = SuccessRedirect::from_url(&tampered)
        .unwrap()
        .confirmation()
        .unwrap();
    match f.service.confirm_payment(&claim).await {
        Err(BookingError::AmountMismatch { expected, given }) => {
            assert_eq!((expected, given), (intent.amount, krw(1_000)));
        }
        other => panic!("expected an amount mismatch: {other:?}"),
    }
    assert_eq!(f.toss.fake().stats().confirm_calls, 0);
    let honest = SuccessRedirect::from_url(&back)
        .unwrap()
        .confirmation()
        .unwrap();
    let paid = f.service.confirm_payment(&honest).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
}
