//! The [`BookingService`] suite: the seed scenarios, end to end, on any backend.
//!
//! Each test drives the service the way an application does (hold → start payment → the
//! buyer authenticates at the gateway → confirm; cancel, refund, sweep, reconcile) and checks
//! what a seller relies on: no seat sold twice, no payment charged twice, no paid order
//! expired, refunds exact to the won. Races run as real parallel tasks and are repeated.
//!
//! Points: a "point charge" is the service paying an order through the points gateway
//! ([`PointsGateway`]) — a wallet debit whose ledger reference is derived from the payment, so
//! the payment is the idempotency key of the charge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod after_sale;
mod payment;
mod races;
mod refund_races;
mod sale;

use std::sync::Arc;
use std::time::Duration;

pub use after_sale::*;
pub use payment::*;
pub use races::*;
pub use refund_races::*;
pub use sale::*;

use super::Backend;
use super::concurrency::{in_parallel, race};
use super::fixtures::krw;
use crate::clock::{Clock, ManualClock};
use crate::discount::{Benefit, CouponCode, Customer, QuotePolicy, Rule, RuleSet};
use crate::gateways::PointsGateway;
use crate::ids::{EventId, OrderId, TicketId, UserId};
use crate::memory::FakeGateway;
use crate::money::Currency;
use crate::policy::{ManualSleeper, Sleeper};
use crate::ports::store::OrderRecord;
use crate::ports::wallet::LedgerRef;
use crate::service::{
    BookingError, BookingService, Confirmation, HoldRequest, ItemRef, PaymentIntent, Policies,
    Ports,
};

/// A service over a backend with the fakes a test inspects.
#[derive(Debug, Clone)]
pub struct World {
    /// The backend under test.
    pub backend: Backend,
    /// The service, on the backend's clock.
    pub service: BookingService,
    /// The card gateway (named `"fake"`); the points gateway is named `"points"`.
    pub gateway: FakeGateway,
    /// Every wait the service asked for (retry backoff, duplicate confirms).
    pub sleeper: ManualSleeper,
    /// The event everything is listed under.
    pub event: EventId,
}

/// A [`ManualSleeper`] that also lets real time pass (1 ms per wait), so a task waiting for a
/// concurrent one cannot run the virtual clock past its deadline before the other gets a
/// thread. Backoffs are still recorded and still advance the clock by exactly what was asked.
#[derive(Debug, Clone)]
struct PacedSleeper(ManualSleeper);

#[async_trait::async_trait]
impl Sleeper for PacedSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.sleep(duration).await;
    }
}

impl World {
    /// A world on `backend` applying `rules` with the default policies.
    pub fn new(backend: Backend, rules: RuleSet) -> World {
        World::with(backend, rules, |_| {})
    }

    /// A world whose policies `tune` adjusts.
    pub fn with(backend: Backend, rules: RuleSet, tune: impl FnOnce(&mut Policies)) -> World {
        let mut policies = Policies::new(Currency::KRW, rules);
        tune(&mut policies);
        World::build(backend, policies, false)
    }

    /// The same world (same event) with the backend's waiting room in front of `hold`, and
    /// a fresh card gateway: call it before paying anything.
    pub fn gated(self) -> World {
        let policies = self.service.policies().clone();
        let event = self.event;
        World {
            event,
            ..World::build(self.backend, policies, true)
        }
    }

    fn build(backend: Backend, policies: Policies, waiting_room: bool) -> World {
        let gateway = FakeGateway::new(Arc::new(backend.clock.clone()));
        let sleeper = ManualSleeper::new(backend.clock.clone());
        let paced = Arc::new(PacedSleeper(sleeper.clone()));
        let ports = ports_on(
            &backend,
            backend.clock.clone(),
            &gateway,
            paced,
            waiting_room,
        );
        World {
            service: BookingService::new(ports, policies),
            gateway,
            sleeper,
            event: EventId::new(),
            backend,
        }
    }

    /// The backend's clock.
    pub fn clock(&self) -> &ManualClock {
        &self.backend.clock
    }

    /// A request of a new order by `user` (a guest) for `items`.
    pub fn request(&self, user: UserId, items: Vec<ItemRef>) -> HoldRequest {
        HoldRequest {
            order: OrderId::new(),
            user,
            customer: Customer::guest(),
            event: self.event,
            items,
            coupons: Vec::new(),
            admission: None,
        }
    }

    /// A request of a new order by a new guest for `seats`.
    pub fn seats_request(&self, seats: &[TicketId]) -> HoldRequest {
        let items = seats
            .iter()
            .map(|&ticket| ItemRef::Ticket { ticket })
            .collect();
        self.request(UserId::new(), items)
    }

    /// Starts paying `order` through `gateway` and plays the buyer's part at the gateway:
    /// the confirmation the success redirect would carry.
    pub async fn start(&self, order: OrderId, gateway: &str) -> (PaymentIntent, Confirmation) {
        let intent = self.service.start_payment(order, gateway).await.unwrap();
        let confirmation = self.authenticate(&intent);
        (intent, confirmation)
    }

    /// The buyer authenticates `intent` at its gateway.
    pub fn authenticate(&self, intent: &PaymentIntent) -> Confirmation {
        let payment_key = if intent.gateway == "points" {
            PointsGateway::payment_key(&intent.order_ref).unwrap()
        } else {
            self.gateway
                .open_session(&intent.order_ref, intent.amount)
                .unwrap()
        };
        Confirmation {
            order_ref: intent.order_ref.clone(),
            payment_key,
            amount: intent.amount,
        }
    }

    /// Hold → start payment (card) → authenticate → confirm.
    pub async fn buy(&self, request: &HoldRequest) -> Result<OrderRecord, BookingError> {
        let order = self.service.hold(request).await?;
        let intent = self.service.start_payment(order.order.id(), "fake").await?;
        let confirmation = self.authenticate(&intent);
        self.service.confirm_payment(&confirmation).await
    }

    /// How many tickets of the event can be held now.
    pub async fn tickets_available(&self) -> u64 {
        let now = self.backend.clock.now();
        let availability = self.backend.store.availability(self.event, now).await;
        availability.unwrap().tickets_available
    }

    /// Puts `amount` won of points in `user`'s wallet.
    pub async fn top_up(&self, user: UserId, amount: i64) {
        let reference = LedgerRef::new(format!("topup:{user}:{}", uuid::Uuid::now_v7())).unwrap();
        let now = self.backend.clock.now();
        self.backend
            .wallet
            .credit(user, krw(amount), &reference, now)
            .await
            .unwrap();
    }
}

/// A coupon code and rules in which presenting it takes `off` won off the order.
pub fn coupon_rules(code: &str, off: i64) -> (CouponCode, RuleSet) {
    let code = CouponCode::new(code);
    let benefit = Benefit::AmountOff { amount: krw(off) };
    let rule = Rule::new(format!("coupon-{code}"), benefit).coupon(code.clone());
    let rules = RuleSet::new(vec![rule], QuotePolicy::default()).unwrap();
    (code, rules)
}

/// The ports of a service over `backend` reading `clock`, paying through `gateway` and a
/// points gateway over the backend's wallet.
fn ports_on(
    backend: &Backend,
    clock: ManualClock,
    gateway: &FakeGateway,
    sleeper: Arc<dyn Sleeper>,
    waiting_room: bool,
) -> Ports {
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let points = PointsGateway::new(Arc::clone(&backend.wallet), Arc::clone(&clock));
    Ports {
        store: Arc::clone(&backend.store),
        coupons: Arc::clone(&backend.coupons),
        gateways: vec![Arc::new(gateway.clone()), Arc::new(points)],
        waiting_room: waiting_room.then(|| Arc::clone(&backend.queue)),
        clock,
        sleeper,
    }
}

/// A service over `backend` that reads `clock` (another node's, when it differs from the
/// backend's) and sleeps on it.
fn service_on(
    backend: &Backend,
    clock: ManualClock,
    gateway: &FakeGateway,
    policies: Policies,
) -> BookingService {
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    let ports = ports_on(backend, clock, gateway, sleeper, false);
    BookingService::new(ports, policies)
}
