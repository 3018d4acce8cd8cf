//! The booking flow end to end on the in-memory backend — quote, hold, start payment, confirm
//! at the fake card gateway — against the same flow written by hand over mutex-guarded maps of
//! seats and orders (no state machines, no outbox, no discount engine, the same gateway calls);
//! and 64 buyers racing for one seat, against the same race on the hand-written seat map.
//!
//! The flows run in 8 tasks, each buying seats of its own event (a shop selling several events
//! at once), on a tokio runtime of 1 worker and of 2. Ratios are ours ÷ raw in speed (1.00x =
//! as fast as the hand-written flow, higher is better); the scaling row compares 2 workers with
//! 1. The machine's load average is printed with the table: other processes share its cores.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use booking_benches::{Summary, criterion, format_ns, median_ns, speed_ratio, time_ratio};
use booking_core::clock::{Clock, SystemClock, Timestamp};
use booking_core::discount::{Benefit, Customer, QuotePolicy, Rule, RuleSet};
use booking_core::ids::{EventId, OrderId, PaymentId, TicketId, UserId};
use booking_core::machine::Ticket;
use booking_core::memory::{FakeGateway, MemoryBookingStore, MemoryCouponStore};
use booking_core::money::{BasisPoints, Currency, Money};
use booking_core::policy::TokioSleeper;
use booking_core::ports::gateway::{
    ConfirmRequest, GatewayIdempotencyKey, GatewayOrderId, PaymentGateway,
};
use booking_core::ports::store::{BookingStore, TicketListing};
use booking_core::service::{
    BookingError, BookingService, Confirmation, HoldRequest, ItemRef, Policies, Ports,
};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

/// Tasks the flows are split over.
const TASKS: u64 = 8;
/// Buyers racing for the hot seat, and how many races are run.
const CONTENDERS: usize = 64;
const RACES: usize = 300;
/// Flows timed one by one for the latency percentiles.
const LATENCY_FLOWS: u64 = 20_000;
const PRICE: i64 = 50_000;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// The service over the in-memory backend, with `n` seats listed: seat `i` belongs to event
/// `i % TASKS`, so each task's flows buy seats of one event.
struct Shop {
    service: BookingService,
    gateway: FakeGateway,
    seats: Vec<(TicketId, EventId)>,
}

impl Shop {
    async fn open(n: u64) -> Shop {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = Arc::new(MemoryBookingStore::new());
        let events: Vec<EventId> = (0..TASKS).map(|_| EventId::new()).collect();
        let listings: Vec<TicketListing> = (0..n)
            .map(|i| {
                let event = events[(i % TASKS) as usize];
                TicketListing::new(Ticket::new(TicketId::new()), event, "R", krw(PRICE))
                    .tagged(["R"])
            })
            .collect();
        store.add_tickets(&listings).await.unwrap();
        let gateway = FakeGateway::new(Arc::clone(&clock));
        let gold = Rule::new(
            "gold-10",
            Benefit::Percentage {
                percent: BasisPoints::new(1_000).unwrap(),
            },
        )
        .grades(["GOLD"]);
        let rules = RuleSet::new(vec![gold], QuotePolicy::default()).unwrap();
        let ports = Ports::new(
            store,
            Arc::new(MemoryCouponStore::new()),
            clock,
            Arc::new(TokioSleeper),
        )
        .gateway(Arc::new(gateway.clone()));
        Shop {
            service: BookingService::new(ports, Policies::new(Currency::KRW, rules)),
            gateway,
            seats: listings.iter().map(|l| (l.ticket.id(), l.event)).collect(),
        }
    }

    fn request(&self, (seat, event): (TicketId, EventId)) -> HoldRequest {
        HoldRequest::new(UserId::new(), event, vec![ItemRef::Ticket { ticket: seat }])
            .customer(Customer::member("GOLD"))
    }

    async fn flow(&self, seat: (TicketId, EventId)) {
        let request = self.request(seat);
        black_box(self.service.quote(&request).await.unwrap());
        let order = self.service.hold(&request).await.unwrap();
        let intent = self
            .service
            .start_payment(order.order.id(), "fake")
            .await
            .unwrap();
        let payment_key = self
            .gateway
            .open_session(&intent.order_ref, intent.amount)
            .unwrap();
        let confirmation = Confirmation::new(intent.order_ref, payment_key, intent.amount);
        black_box(self.service.confirm_payment(&confirmation).await.unwrap());
    }
}

/// A seat as hand-written code keeps it.
#[derive(Clone, Copy)]
enum Seat {
    Available,
    Held { until: Timestamp },
    Sold,
}

/// An order as hand-written code keeps it.
struct RawOrder {
    seat: TicketId,
    amount: Money,
    payment: Option<PaymentId>,
    paid: bool,
}

/// The same flow by hand: a seat map and an order map behind mutexes, the price computed
/// inline, the same gateway called with an idempotency key.
struct RawShop {
    seats: Mutex<HashMap<TicketId, (Seat, Money)>>,
    orders: Mutex<HashMap<OrderId, RawOrder>>,
    gateway: FakeGateway,
    clock: SystemClock,
    ids: Vec<TicketId>,
}

impl RawShop {
    fn open(n: u64) -> RawShop {
        let ids: Vec<TicketId> = (0..n).map(|_| TicketId::new()).collect();
        RawShop {
            seats: Mutex::new(
                ids.iter()
                    .map(|&id| (id, (Seat::Available, krw(PRICE))))
                    .collect(),
            ),
            orders: Mutex::default(),
            gateway: FakeGateway::new(Arc::new(SystemClock)),
            clock: SystemClock,
            ids,
        }
    }

    /// Holds `seat` for a new order if it is free (or its hold lapsed).
    fn hold(&self, seat: TicketId) -> Option<OrderId> {
        let now = self.clock.now();
        let mut seats = self.seats.lock().unwrap();
        let (state, price) = seats.get_mut(&seat)?;
        match *state {
            Seat::Available => {}
            Seat::Held { until } if until <= now => {}
            Seat::Held { .. } | Seat::Sold => return None,
        }
        *state = Seat::Held {
            until: now.checked_add(Duration::from_secs(600)).unwrap(),
        };
        // Gold members pay 90 %.
        let amount = krw(price.minor() * 9 / 10);
        drop(seats);
        let order = OrderId::new();
        self.orders.lock().unwrap().insert(
            order,
            RawOrder {
                seat,
                amount,
                payment: None,
                paid: false,
            },
        );
        Some(order)
    }

    async fn flow(&self, seat: TicketId) {
        let order = self.hold(seat).unwrap();
        let payment = PaymentId::new();
        let amount = {
            let mut orders = self.orders.lock().unwrap();
            let o = orders.get_mut(&order).unwrap();
            o.payment = Some(payment);
            o.amount
        };
        let order_ref = GatewayOrderId::for_payment(payment);
        let payment_key = self.gateway.open_session(&order_ref, amount).unwrap();
        let key = GatewayIdempotencyKey::new(format!("confirm:{payment}")).unwrap();
        let request = ConfirmRequest::new(payment_key, order_ref, amount, UserId::new(), key);
        black_box(self.gateway.confirm(&request).await.unwrap());
        let mut orders = self.orders.lock().unwrap();
        let o = orders.get_mut(&order).unwrap();
        o.paid = true;
        self.seats
            .lock()
            .unwrap()
            .insert(o.seat, (Seat::Sold, amount));
    }
}

/// Runs `iters` flows split over [`TASKS`] tasks on `rt`; returns the wall time.
fn flows<S, F, Fut>(rt: &Runtime, iters: u64, open: impl FnOnce(u64) -> S, flow: F) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + Send,
{
    let shop = Arc::new(open(iters));
    rt.block_on(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let shop = Arc::clone(&shop);
                tokio::spawn(async move {
                    for i in (t..iters).step_by(TASKS as usize) {
                        flow(Arc::clone(&shop), i).await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        start.elapsed()
    })
}

/// Per-flow latencies of `LATENCY_FLOWS` flows over [`TASKS`] tasks, sorted.
fn latencies<S, F, Fut>(rt: &Runtime, shop: S, flow: F) -> Vec<Duration>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + Send,
{
    let shop = Arc::new(shop);
    let mut all: Vec<Duration> = rt.block_on(async move {
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let shop = Arc::clone(&shop);
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    for i in (t..LATENCY_FLOWS).step_by(TASKS as usize) {
                        let start = Instant::now();
                        flow(Arc::clone(&shop), i).await;
                        times.push(start.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all
    });
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(i).copied().unwrap_or_default()
}

/// What the races measured: median time until all contenders had their answer, and the
/// losers' latencies (sorted).
struct Race {
    resolve: Duration,
    losers: Vec<Duration>,
}

/// [`RACES`] races of [`CONTENDERS`] tasks for one seat; `setup` makes a fresh seat and
/// returns an attempt, which answers whether it won.
fn race<S, A, Fut>(rt: &Runtime, setup: impl Fn() -> (Arc<S>, A)) -> Race
where
    S: Send + Sync + 'static,
    A: Fn(Arc<S>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = bool> + Send,
{
    let mut resolves = Vec::with_capacity(RACES);
    let mut losers = Vec::new();
    for _ in 0..RACES {
        let (seat, attempt) = setup();
        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let results: Vec<(bool, Instant, Instant)> = rt.block_on(async move {
            let handles: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let (seat, barrier) = (Arc::clone(&seat), Arc::clone(&barrier));
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let start = Instant::now();
                        let won = attempt(seat).await;
                        (won, start, Instant::now())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        });
        assert_eq!(
            results.iter().filter(|r| r.0).count(),
            1,
            "exactly one winner"
        );
        let first = results.iter().map(|r| r.1).min().unwrap();
        let last = results.iter().map(|r| r.2).max().unwrap();
        resolves.push(last - first);
        losers.extend(results.iter().filter(|r| !r.0).map(|r| r.2 - r.1));
    }
    resolves.sort();
    losers.sort();
    Race {
        resolve: percentile(&resolves, 50),
        losers,
    }
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn main() {
    let mut c = criterion();
    let runtimes = [(1, runtime(1)), (2, runtime(2))];

    let mut g = c.benchmark_group("flow");
    for (workers, rt) in &runtimes {
        g.bench_function(format!("service_{workers}w"), |b| {
            b.iter_custom(|iters| {
                let shop = rt.block_on(Shop::open(iters));
                flows(
                    rt,
                    iters,
                    |_| shop,
                    |shop: Arc<Shop>, i| async move {
                        let seat = shop.seats[i as usize];
                        shop.flow(seat).await;
                    },
                )
            })
        });
        g.bench_function(format!("raw_{workers}w"), |b| {
            b.iter_custom(|iters| {
                flows(
                    rt,
                    iters,
                    RawShop::open,
                    |shop: Arc<RawShop>, i| async move {
                        let seat = shop.ids[i as usize];
                        shop.flow(seat).await;
                    },
                )
            })
        });
    }
    g.finish();

    let mut s = Summary::new("booking flow: quote, hold, start payment, confirm (in memory)");
    for (workers, rt) in &runtimes {
        let (svc, raw) = (format!("service_{workers}w"), format!("raw_{workers}w"));
        s.criterion_row(
            &format!("flow, {workers} worker(s): wall time per flow"),
            "flow",
            &svc,
            &raw,
            "8 tasks, one event each; raw: Mutex<HashMap> seats + orders, same FakeGateway calls",
        );
        if let (Some(f), Some(b)) = (median_ns("flow", &svc), median_ns("flow", &raw)) {
            s.row(
                &format!("flow, {workers} worker(s): throughput"),
                format!("{:.0} flows/s", 1e9 / f),
                format!("{:.0} flows/s", 1e9 / b),
                speed_ratio(1e9 / f, 1e9 / b),
                "from the medians above",
            );
        }
        let shop = rt.block_on(Shop::open(LATENCY_FLOWS));
        let svc_lat = latencies(rt, shop, |shop: Arc<Shop>, i| async move {
            let seat = shop.seats[i as usize];
            shop.flow(seat).await;
        });
        let raw_lat = latencies(
            rt,
            RawShop::open(LATENCY_FLOWS),
            |shop: Arc<RawShop>, i| async move {
                let seat = shop.ids[i as usize];
                shop.flow(seat).await;
            },
        );
        for p in [50, 99] {
            let (f, b) = (percentile(&svc_lat, p), percentile(&raw_lat, p));
            s.row(
                &format!("flow, {workers} worker(s): latency p{p}"),
                format_ns(ns(f)),
                format_ns(ns(b)),
                time_ratio(ns(f), ns(b)),
                "one flow timed alone, 8 tasks in parallel, 20,000 flows",
            );
        }
    }

    let scaling = |name: &str| {
        let one = median_ns("flow", &format!("{name}_1w"))?;
        let two = median_ns("flow", &format!("{name}_2w"))?;
        Some(one / two)
    };
    if let (Some(ours), Some(raw)) = (scaling("service"), scaling("raw")) {
        s.row(
            "flow: 2 workers ÷ 1 worker, throughput",
            format!("{ours:.2}x"),
            format!("{raw:.2}x"),
            speed_ratio(ours, raw),
            "how each side scales onto the second core (2.00x = perfectly)",
        );
    }

    let (_, rt2) = &runtimes[1];
    let svc = race(rt2, || {
        let shop = Arc::new(rt2.block_on(Shop::open(1)));
        let attempt = |shop: Arc<Shop>| async move {
            let seat = shop.seats[0];
            let answer = shop.service.hold(&shop.request(seat)).await;
            assert!(
                matches!(answer, Ok(_) | Err(BookingError::Unavailable { .. })),
                "{answer:?}"
            );
            answer.is_ok()
        };
        (shop, attempt)
    });
    let raw = race(rt2, || {
        let shop = Arc::new(RawShop::open(1));
        let attempt = |shop: Arc<RawShop>| async move {
            let seat = shop.ids[0];
            shop.hold(seat).is_some()
        };
        (shop, attempt)
    });
    s.row(
        "hot seat, 64 tasks on 1 seat: time to resolve",
        format_ns(ns(svc.resolve)),
        format_ns(ns(raw.resolve)),
        time_ratio(ns(svc.resolve), ns(raw.resolve)),
        "2 workers; median of 300 races, first start to last answer",
    );
    for p in [50, 99] {
        let (f, b) = (percentile(&svc.losers, p), percentile(&raw.losers, p));
        s.row(
            &format!("hot seat: loser latency p{p}"),
            format_ns(ns(f)),
            format_ns(ns(b)),
            time_ratio(ns(f), ns(b)),
            "time until a loser learns the seat is taken (typed Unavailable)",
        );
    }
    s.print();
    // Other processes on the machine take cores from the 2-worker runs.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average (1, 5, 15 min) at the end: {}", load.trim());
    }
}
