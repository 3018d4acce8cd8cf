//! The sale's world: seats and standing places, discount rules, the coupon campaign, both
//! gateways, the waiting room, the locks, the policies — and the [`BookingService`] built from
//! them.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{Clock, ManualClock, Timestamp};
use booking_core::discount::{Benefit, QuotePolicy, Rule, RuleSet, Stacking};
use booking_core::gateways::PointsGateway;
use booking_core::ids::{CouponId, EventId, StockId, TicketId};
use booking_core::machine::{Stock, Ticket};
use booking_core::memory::FakeGateway;
use booking_core::money::{BasisPoints, Currency, Money};
use booking_core::policy::TokioSleeper;
use booking_core::policy::expiry::{ExpiryPolicy, ExpiryPolicyConfig};
use booking_core::policy::retry::{Jitter, RetryPolicy, RetryPolicyConfig};
use booking_core::ports::coupon::{CouponCampaign, CouponStore};
use booking_core::ports::lock::LockManager;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::{BookingStore, StockListing, TicketListing};
use booking_core::ports::wallet::WalletStore;
use booking_core::service::{BookingService, Policies, Ports};

use crate::coordination::{Gate, Redis};
use crate::counting::{Counted, GatewayCalls};
use crate::database::{Database, Stores, Teardown, Time};

/// Sale time that passes between two waiting-room cycles.
pub(crate) const CYCLE: Duration = Duration::from_secs(30);
/// Buyers let in per cycle.
pub(crate) const ADMIT_PER_CYCLE: u32 = 50;
/// How long an admitted buyer may take to place a hold.
pub(crate) const ADMISSION_TTL: Duration = Duration::from_secs(5 * 60);
/// The code of the first-come coupon, and what it takes off an order.
pub(crate) const COUPON_CODE: &str = "OPEN10K";
const COUPON_OFF: i64 = 10_000;
/// The price of a standing place (general admission, counted stock).
const STANDING_PRICE: i64 = 60_000;

/// Everything the buyers and the driver share. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub(crate) service: BookingService,
    pub(crate) store: Arc<dyn BookingStore>,
    pub(crate) coupons: Arc<dyn CouponStore>,
    pub(crate) wallet: Arc<dyn WalletStore>,
    pub(crate) queue: Arc<dyn AdmissionQueue>,
    /// Locks for the upkeep and the refunds (one node at a time).
    pub(crate) locks: Arc<dyn LockManager>,
    /// The hot-stock gate in front of the store, when coordinating on Redis.
    pub(crate) gate: Option<Arc<dyn Gate>>,
    /// Where the records are, for the report.
    pub(crate) database: String,
    /// What to remove once the sale is checked.
    pub(crate) teardown: Arc<Teardown>,
    /// The card gateway (the buyer's window: `open_session`; the fault script: `fail_next`).
    pub(crate) card: FakeGateway,
    pub(crate) calls: Arc<GatewayCalls>,
    pub(crate) clock: ManualClock,
    pub(crate) event: EventId,
    pub(crate) seats: Arc<Vec<TicketId>>,
    /// The standing area: counted stock, half as many places as seats (at least one).
    pub(crate) standing: StockId,
    pub(crate) standing_places: u32,
    pub(crate) campaign: CouponId,
    pub(crate) coupon_budget: u32,
}

pub(crate) fn krw(won: i64) -> Result<Money, Box<dyn Error>> {
    Ok(Money::new(won, Currency::KRW)?)
}

/// Seats come in three sections: 20 % R, 30 % S, 50 % A.
fn section(index: u32) -> (&'static str, i64) {
    match index % 10 {
        0 | 1 => ("R", 150_000),
        2..=4 => ("S", 110_000),
        _ => ("A", 80_000),
    }
}

/// Gold members get 10 % off, silver 5 % (one member rule per unit); the first-come coupon takes
/// 10,000 off the order on top.
fn rules() -> Result<RuleSet, Box<dyn Error>> {
    let member = Stacking::Group("member".to_owned());
    Ok(RuleSet::new(
        vec![
            Rule::new(
                "gold-10",
                Benefit::Percentage {
                    percent: BasisPoints::new(1_000)?,
                },
            )
            .grades(["GOLD"])
            .stacking(member.clone()),
            Rule::new(
                "silver-5",
                Benefit::Percentage {
                    percent: BasisPoints::new(500)?,
                },
            )
            .grades(["SILVER"])
            .stacking(member),
            Rule::new(
                "open-coupon",
                Benefit::AmountOff {
                    amount: krw(COUPON_OFF)?,
                },
            )
            .coupon(COUPON_CODE),
        ],
        QuotePolicy::default(),
    )?)
}

/// Short holds so abandoned seats come back within the sale; short retry delays so the demo
/// runs in seconds.
fn policies() -> Result<Policies, Box<dyn Error>> {
    let mut policies = Policies::new(Currency::KRW, rules()?);
    policies.expiry = ExpiryPolicy::new(ExpiryPolicyConfig {
        hold_ttl: Duration::from_secs(2 * 60),
        max_hold_lifetime: Duration::from_secs(6 * 60),
        payment_confirm_window: Duration::from_secs(2 * 60),
        grace_period: Duration::from_secs(10),
        sweep_interval: CYCLE * 2,
        sweep_batch_size: 500,
    })?;
    policies.retry = RetryPolicy::new(RetryPolicyConfig {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        multiplier_percent: 200,
        max_delay: Duration::from_millis(10),
        jitter: Jitter::None,
        deadline: None,
        retry_after_cap: Duration::from_secs(1),
    })?;
    Ok(policies)
}

impl World {
    /// `seats` seats and half as many standing places on sale in `database`, coordinated on
    /// `redis` if given, a coupon budget of a fifth of the seats, the clock at the opening.
    pub(crate) async fn open(
        seats: u32,
        database: &Database,
        redis: Option<&[String]>,
    ) -> Result<World, Box<dyn Error>> {
        let clock = ManualClock::new(Timestamp::from_second(1_800_000_000)?);
        let redis = match redis {
            Some(nodes) => Some(Redis::connect(nodes).await?),
            None => None,
        };
        // The locks are never waited for (the driver alone takes them), so their sleeper
        // does not matter; leases run on the sale's clock.
        let time = Time {
            clock: Arc::new(clock.clone()),
            sleeper: Arc::new(TokioSleeper),
        };
        let Stores {
            store,
            coupons,
            wallet,
            queue,
            locks,
            gate,
            label,
            teardown,
        } = Stores::open(database, redis, &time).await?;
        let event = EventId::new();
        let listings = (0..seats)
            .map(|i| {
                let (name, won) = section(i);
                Ok(
                    TicketListing::new(Ticket::new(TicketId::new()), event, name, krw(won)?)
                        .tagged([name]),
                )
            })
            .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
        store.add_tickets(&listings).await?;
        let standing_places = (seats / 2).max(1);
        let standing = StockListing::new(
            Stock::new(StockId::new(), standing_places),
            event,
            "GA",
            krw(STANDING_PRICE)?,
        )
        .tagged(["GA"]);
        store.add_stock(&standing).await?;
        if let Some(gate) = &gate {
            // The sale opens: the gate's counters start from what the store has.
            gate.rebuild(event, clock.now()).await?;
        }

        let campaign = CouponId::new();
        let coupon_budget = (seats / 5).max(1);
        coupons
            .create_campaign(&CouponCampaign {
                id: campaign,
                code: COUPON_CODE.to_owned(),
                budget: coupon_budget,
                issue_until: None,
            })
            .await?;

        let card = FakeGateway::new(Arc::new(clock.clone()));
        let calls = Arc::new(GatewayCalls::default());
        let points = PointsGateway::new(wallet.clone(), Arc::new(clock.clone()));
        let ports = Ports::new(
            store.clone(),
            coupons.clone(),
            Arc::new(clock.clone()),
            Arc::new(TokioSleeper),
        )
        .gateway(Arc::new(Counted::new(card.clone(), calls.clone())))
        .gateway(Arc::new(Counted::new(points, calls.clone())))
        .waiting_room(queue.clone());
        Ok(World {
            service: BookingService::new(ports, policies()?),
            store,
            coupons,
            wallet,
            queue,
            locks,
            gate,
            database: label,
            teardown: Arc::new(teardown),
            card,
            calls,
            clock,
            event,
            seats: Arc::new(listings.iter().map(|l| l.ticket.id()).collect()),
            standing: standing.stock.id(),
            standing_places,
            campaign,
            coupon_budget,
        })
    }
}
