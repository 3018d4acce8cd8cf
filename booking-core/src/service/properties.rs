//! Random interleavings of the service's requests — hold, pay (card or points), abandon a
//! checkout, extend, cancel, refund, sweep, clock jumps — by several users over a few seats, on
//! the in-memory backend, with the invariants users rely on checked after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::clock::ManualClock;
use crate::discount::QuotePolicy;
use crate::gateways::PointsGateway;
use crate::ids::{EventId, PaymentId, TicketId, UserId};
use crate::machine::{OrderState, PaymentState, Ticket, TicketState};
use crate::memory::{FakeGateway, MemoryBookingStore, MemoryCouponStore, MemoryWalletStore};
use crate::money::Money;
use crate::policy::ManualSleeper;
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::TicketListing;
use crate::ports::wallet::{LedgerRef, Movement, WalletStore};

const SEATS: usize = 4;
const USERS: usize = 3;
const PRICE: i64 = 50_000;
/// Points each user starts with: user 0 can pay for two seats, user 1 for one, user 2 none.
const POINTS: [i64; USERS] = [100_000, 50_000, 0];

#[derive(Debug, Clone)]
enum Step {
    Hold { user: usize, seats: BTreeSet<usize> },
    PayCard { order: usize },
    PayPoints { order: usize },
    StartOnly { order: usize },
    Extend { order: usize },
    Cancel { order: usize },
    Refund { order: usize, line: usize },
    Sweep,
    Advance { secs: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    let order = 0_usize..6;
    prop_oneof![
        3 => (0..USERS, proptest::collection::btree_set(0..SEATS, 1..=2))
            .prop_map(|(user, seats)| Step::Hold { user, seats }),
        2 => order.clone().prop_map(|order| Step::PayCard { order }),
        2 => order.clone().prop_map(|order| Step::PayPoints { order }),
        1 => order.clone().prop_map(|order| Step::StartOnly { order }),
        1 => order.clone().prop_map(|order| Step::Extend { order }),
        1 => order.clone().prop_map(|order| Step::Cancel { order }),
        1 => (order, 0_usize..2).prop_map(|(order, line)| Step::Refund { order, line }),
        1 => Just(Step::Sweep),
        2 => prop_oneof![Just(30_u64), Just(299), Just(601), Just(3_600)]
            .prop_map(|secs| Step::Advance { secs }),
    ]
}

struct World {
    service: BookingService,
    clock: ManualClock,
    card: FakeGateway,
    wallet: Arc<MemoryWalletStore>,
    event: EventId,
    seats: Vec<TicketId>,
    users: Vec<UserId>,
    /// Orders placed, in order, with their buyer.
    orders: Vec<(OrderId, usize)>,
    /// Every card checkout started: its gateway reference.
    card_refs: Vec<(OrderId, GatewayOrderId)>,
}

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap_or(Money::zero(Currency::KRW))
}

async fn world() -> World {
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap_or_default());
    let store = Arc::new(MemoryBookingStore::new());
    let event = EventId::new();
    let listings: Vec<TicketListing> = (0..SEATS)
        .map(|_| TicketListing {
            ticket: Ticket::new(TicketId::new()),
            event,
            item: "R".to_owned(),
            tags: BTreeSet::new(),
            price: krw(PRICE),
        })
        .collect();
    store.add_tickets(&listings).await.unwrap();
    let card = FakeGateway::new(Arc::new(clock.clone()));
    let wallet = Arc::new(MemoryWalletStore::new());
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::new()).collect();
    for (i, (&user, &points)) in users.iter().zip(&POINTS).enumerate() {
        if points > 0 {
            let reference = LedgerRef::new(format!("top-up:{i}")).unwrap();
            wallet
                .credit(user, krw(points), &reference, clock.now())
                .await
                .unwrap();
        }
    }
    let rules = RuleSet::new(Vec::new(), QuotePolicy::default()).unwrap();
    let ports = Ports::new(
        store,
        Arc::new(MemoryCouponStore::new()),
        Arc::new(clock.clone()),
        Arc::new(ManualSleeper::new(clock.clone())),
    )
    .gateway(Arc::new(card.clone()))
    .gateway(Arc::new(PointsGateway::new(
        wallet.clone(),
        Arc::new(clock.clone()),
    )));
    World {
        service: BookingService::new(ports, Policies::new(Currency::KRW, rules)),
        clock,
        card,
        wallet,
        event,
        seats: listings.iter().map(|l| l.ticket.id()).collect(),
        users,
        orders: Vec::new(),
        card_refs: Vec::new(),
    }
}

impl World {
    fn order(&self, i: usize) -> Option<OrderId> {
        self.orders
            .get(i % self.orders.len().max(1))
            .map(|&(id, _)| id)
    }

    /// Runs one step; the service's refusals are expected answers, not failures.
    async fn run(&mut self, step: &Step) {
        match *step {
            Step::Hold { user, ref seats } => {
                let items = seats
                    .iter()
                    .map(|&s| ItemRef::Ticket {
                        ticket: self.seats[s],
                    })
                    .collect();
                let request = HoldRequest::new(self.users[user], self.event, items);
                if let Ok(placed) = self.service.hold(&request).await {
                    self.orders.push((placed.order.id(), user));
                }
            }
            Step::PayCard { order } | Step::StartOnly { order } => {
                let Some(order) = self.order(order) else {
                    return;
                };
                let Ok(intent) = self.service.start_payment(order, "fake").await else {
                    return;
                };
                // An order already awaiting payment answers with the checkout it started.
                let started = (order, intent.order_ref.clone());
                if !self.card_refs.contains(&started) {
                    self.card_refs.push(started);
                }
                if matches!(step, Step::StartOnly { .. }) {
                    return;
                }
                let Ok(key) = self.card.open_session(&intent.order_ref, intent.amount) else {
                    return;
                };
                let confirmation = Confirmation::new(intent.order_ref, key, intent.amount);
                let _ = self.service.confirm_payment(&confirmation).await;
            }
            Step::PayPoints { order } => {
                let Some(order) = self.order(order) else {
                    return;
                };
                let Ok(intent) = self.service.start_payment(order, "points").await else {
                    return;
                };
                let Ok(key) = PointsGateway::payment_key(&intent.order_ref) else {
                    return;
                };
                let confirmation = Confirmation::new(intent.order_ref, key, intent.amount);
                let _ = self.service.confirm_payment(&confirmation).await;
            }
            Step::Extend { order } => {
                if let Some(order) = self.order(order) {
                    let _ = self.service.extend_hold(order).await;
                }
            }
            Step::Cancel { order } => {
                if let Some(order) = self.order(order) {
                    let _ = self.service.cancel_order(order, "changed plans").await;
                }
            }
            Step::Refund { order, line } => {
                let Some(order) = self.order(order) else {
                    return;
                };
                let Ok(record) = self.service.order(order).await else {
                    return;
                };
                let Some(line) = record.lines.get(line % record.lines.len().max(1)) else {
                    return;
                };
                let request = RefundRequest::new(order, "one seat back").line(line.line.clone());
                let _ = self.service.refund_lines(&request).await;
            }
            Step::Sweep => {
                self.service.sweep().await.unwrap();
                self.check_swept().await;
            }
            Step::Advance { secs } => self.clock.advance(Duration::from_secs(secs)),
        }
    }

    /// After a sweep, no hold is stuck: every held seat's hold is still running, or lapsed
    /// less than the grace period ago (which the sweeper leaves alone).
    async fn check_swept(&self) {
        let now = self
            .service
            .policies()
            .expiry
            .sweep_cutoff(self.clock.now());
        for &seat in &self.seats {
            let ticket = self.service.store().ticket(seat).await.unwrap().ticket;
            if let TicketState::Held { expires_at, .. } = ticket.state() {
                assert!(
                    expires_at > now,
                    "seat {seat} still held after its hold lapsed and the sweep ran"
                );
            }
        }
    }

    /// The invariants, read back from the stores.
    async fn check(&self) {
        let store = self.service.store();
        let mut paid_by_points: BTreeMap<usize, i64> = BTreeMap::new();
        let mut card_expected: BTreeMap<OrderId, i64> = BTreeMap::new();
        let mut seat_owner: BTreeMap<TicketId, OrderId> = BTreeMap::new();
        for &(id, user) in &self.orders {
            let record = store.order(id).await.unwrap();
            let order = &record.order;
            assert!(
                order.refunded() <= order.total(),
                "{id}: refunded more than the total"
            );
            let kept = order.total().minor() - order.refunded().minor();
            let collected = matches!(
                order.state(),
                OrderState::Paid { .. }
                    | OrderState::Confirmed { .. }
                    | OrderState::PartiallyRefunded { .. }
                    | OrderState::Refunded { .. }
            );
            assert!(
                !matches!(order.state(), OrderState::Cancelling { .. }),
                "{id}: a refund the fake gateway answered at once is still in flight"
            );
            if collected {
                let payment = record
                    .payment
                    .unwrap_or_else(|| panic!("{id}: paid without a payment"));
                let payment = store.payment(payment).await.unwrap();
                assert_eq!(
                    payment.payment.balance().minor(),
                    kept,
                    "{id}: payment and order disagree"
                );
                assert!(matches!(
                    payment.payment.state(),
                    PaymentState::Done | PaymentState::PartiallyCanceled | PaymentState::Canceled
                ));
                if payment.gateway == "points" {
                    *paid_by_points.entry(user).or_default() += kept;
                } else {
                    card_expected.insert(id, kept);
                }
                // Every seat not refunded is sold to this order, and to no other.
                for line in &record.lines {
                    let ItemRef::Ticket { ticket } = line.item else {
                        continue;
                    };
                    let state = store.ticket(ticket).await.unwrap().ticket.state();
                    if line.refunded_units == 0 {
                        assert_eq!(
                            state,
                            TicketState::Sold { order: id },
                            "{id}: paid seat not sold to it"
                        );
                        let other = seat_owner.insert(ticket, id);
                        assert!(other.is_none(), "seat {ticket} sold to {other:?} and {id}");
                    } else {
                        assert_ne!(
                            state,
                            TicketState::Sold { order: id },
                            "{id}: refunded seat still sold"
                        );
                    }
                }
            }
        }
        // Seats sold or held belong to orders in the matching state.
        for &seat in &self.seats {
            match store.ticket(seat).await.unwrap().ticket.state() {
                TicketState::Sold { order } => {
                    assert_eq!(
                        seat_owner.get(&seat),
                        Some(&order),
                        "seat {seat} sold outside a paid order"
                    )
                }
                TicketState::Held { order, .. } => {
                    let state = store.order(order).await.unwrap().order.state();
                    assert!(
                        matches!(
                            state,
                            OrderState::Pending | OrderState::AwaitingPayment { .. }
                        ),
                        "seat {seat} held for an order in {state:?}"
                    );
                }
                TicketState::Available | TicketState::Refunded { .. } | TicketState::Blocked => {}
            }
        }
        // The card gateway holds exactly what the paid card orders kept.
        let mut captured: BTreeMap<OrderId, i64> = BTreeMap::new();
        for (order, order_ref) in &self.card_refs {
            if let Some(p) = self.card.payment(order_ref) {
                *captured.entry(*order).or_default() += p.balance.minor();
            }
        }
        captured.retain(|_, amount| *amount != 0);
        card_expected.retain(|_, amount| *amount != 0);
        assert_eq!(
            captured, card_expected,
            "the card gateway and the orders disagree"
        );
        // Each wallet's balance is its ledger's sum and what its paid orders left it.
        for (i, &user) in self.users.iter().enumerate() {
            let balance = self
                .wallet
                .balance(user, Currency::KRW)
                .await
                .unwrap()
                .minor();
            let ledger: i64 = self
                .wallet
                .ledger(user, Currency::KRW)
                .await
                .unwrap()
                .iter()
                .map(|e| match e.movement {
                    Movement::Credit => e.amount.minor(),
                    Movement::Debit => -e.amount.minor(),
                })
                .sum();
            assert_eq!(balance, ledger, "user {i}: balance is not the ledger's sum");
            let spent = paid_by_points.get(&i).copied().unwrap_or_default();
            assert_eq!(
                balance,
                POINTS[i] - spent,
                "user {i}: points and paid orders disagree"
            );
        }
    }
}

/// A payment's id is never reused across orders (a sanity check on the model above).
fn distinct(ids: &[PaymentId]) -> bool {
    ids.iter().collect::<BTreeSet<_>>().len() == ids.len()
}

/// The steps reach every outcome the invariants speak of, so the property is not vacuous:
/// paid by card and by points, refunded in part and in whole, cancelled unpaid, expired.
#[tokio::test]
async fn the_steps_reach_every_outcome() {
    let mut w = world().await;
    let seats = |s: &[usize]| s.iter().copied().collect::<BTreeSet<_>>();
    let steps = [
        Step::Hold {
            user: 0,
            seats: seats(&[0, 1]),
        },
        Step::PayCard { order: 0 },
        Step::Refund { order: 0, line: 1 },
        Step::Hold {
            user: 1,
            seats: seats(&[2]),
        },
        Step::PayPoints { order: 1 },
        Step::Cancel { order: 1 },
        Step::Hold {
            user: 2,
            seats: seats(&[3]),
        },
        Step::Cancel { order: 2 },
        Step::Hold {
            user: 2,
            seats: seats(&[3, 1]),
        },
        Step::StartOnly { order: 3 },
        Step::Advance { secs: 3_600 },
        Step::Sweep,
    ];
    for step in &steps {
        w.run(step).await;
        w.check().await;
    }
    let mut states = Vec::new();
    for &(id, _) in &w.orders {
        states.push(w.service.order(id).await.unwrap().order.state().kind());
    }
    use crate::machine::OrderStateKind as K;
    assert_eq!(
        states,
        [K::PartiallyRefunded, K::Refunded, K::Cancelled, K::Expired]
    );
    let user1 = w.wallet.balance(w.users[1], Currency::KRW).await.unwrap();
    assert_eq!(user1, krw(POINTS[1]), "the points came back");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_step(steps in proptest::collection::vec(step(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let mut world = world().await;
            for step in &steps {
                world.run(step).await;
                world.check().await;
            }
            let mut payments = Vec::new();
            for &(id, _) in &world.orders {
                payments.extend(world.service.order(id).await.unwrap().payment);
            }
            assert!(distinct(&payments));
        });
    }
}
