//! What each buyer will do, drawn up front from the seed so a run's script is reproducible
//! (the interleaving of the buyers' tasks is real, and varies).

use booking_core::discount::Customer;
use booking_core::ids::UserId;
use booking_core::memory::Fault;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// How a buyer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// By card, through the fake card gateway.
    Card,
    /// From the buyer's points wallet.
    Points,
}

impl Method {
    /// The name of the gateway the service routes the payment to.
    pub(crate) fn gateway(self) -> &'static str {
        match self {
            Method::Card => "fake",
            Method::Points => "points",
        }
    }
}

/// Where a buyer who never pays walks away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaves {
    /// Right after the hold: seats held, no payment started.
    AtHold,
    /// In the gateway's window: payment started (coupon reserved), never confirmed.
    AtWindow,
}

/// One buyer's script.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) index: u32,
    pub(crate) user: UserId,
    pub(crate) customer: Customer,
    /// Places wanted: 1 or 2.
    pub(crate) seats: u32,
    /// Wants standing places (counted stock) instead of seats.
    pub(crate) standing: bool,
    /// Tries to grab the first-come coupon before queueing.
    pub(crate) wants_coupon: bool,
    pub(crate) method: Method,
    /// Points topped up before the sale (0 for card buyers); a few get too few.
    pub(crate) points: i64,
    pub(crate) leaves: Option<Leaves>,
    /// A fault the card gateway plays on the next confirm, scripted just before this buyer's.
    pub(crate) fault: Option<Fault>,
    /// May script the gateway timing out after charging (while the sale's budget lasts).
    pub(crate) may_time_out: bool,
    /// Comes back from the gateway's window only after the hold lapsed.
    pub(crate) late: bool,
    /// Clicks "pay" twice, the two confirms running in parallel.
    pub(crate) double_click: bool,
    /// Seeds the buyer's seat choice.
    pub(crate) seat_seed: u64,
}

/// True with `percent` % probability.
fn chance(rng: &mut SmallRng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

/// The plans of `buyers` buyers, from `seed`.
pub(crate) fn draw(buyers: u32, seed: u64) -> Vec<Plan> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..buyers)
        .map(|index| {
            let customer = match rng.random_range(0..100) {
                0..10 => Customer::member("GOLD"),
                10..35 => Customer::member("SILVER"),
                _ => Customer::guest(),
            };
            let seats = if chance(&mut rng, 30) { 2 } else { 1 };
            let standing = chance(&mut rng, 25);
            let wants_coupon = chance(&mut rng, 40);
            let method = if chance(&mut rng, 30) {
                Method::Points
            } else {
                Method::Card
            };
            let points = match method {
                Method::Card => 0,
                Method::Points if chance(&mut rng, 10) => 50_000,
                Method::Points => 400_000,
            };
            let leaves = match rng.random_range(0..100) {
                0..10 => Some(Leaves::AtHold),
                10..18 => Some(Leaves::AtWindow),
                _ => None,
            };
            let fault = match (method, rng.random_range(0..100)) {
                (Method::Card, 0..15) => Some(Fault::Transient("PROVIDER_ERROR".to_owned())),
                (Method::Card, 15..19) => Some(Fault::Reject("REJECT_CARD_COMPANY".to_owned())),
                _ => None,
            };
            Plan {
                index,
                user: UserId::new(),
                customer,
                seats,
                standing,
                wants_coupon,
                method,
                points,
                leaves,
                fault,
                may_time_out: method == Method::Card && chance(&mut rng, 25),
                late: leaves.is_none() && chance(&mut rng, 5),
                double_click: chance(&mut rng, 5),
                seat_seed: rng.random_range(0..u64::MAX),
            }
        })
        .collect()
}
