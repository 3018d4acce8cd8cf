//! How a rule set is applied: which of automatic promotions and coupons goes first, and how
//! percentages are rounded to the minor unit.

use serde::{Deserialize, Serialize};

use crate::money::Rounding;

/// The configurable part of the order of application and of rounding.
///
/// The default is what most shops expect: automatic promotions before coupons, percentages
/// floored (the buyer never gets more than the exact discount) line by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotePolicy {
    /// Whether coupons apply before or after automatic promotions within a phase.
    #[serde(default)]
    pub coupons: CouponOrder,
    /// How percentages are rounded.
    #[serde(default)]
    pub rounding: RoundingPolicy,
}

/// Where coupons sit in the order of application, within the line phase and within the
/// order phase (line-level rules always come before order-level ones).
///
/// It matters because a percentage applies to what is left: with 15,000 off and 10 % on
/// 120,000, "amount first" gives 10,500 + 15,000 and "percentage first" 12,000 + 15,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponOrder {
    /// Automatic promotions first, then coupons on the already reduced price.
    #[default]
    AutomaticFirst,
    /// Coupons first, then automatic promotions.
    CouponsFirst,
    /// No distinction: priority alone decides (then rule id).
    ByPriority,
}

/// How percentage discounts are rounded to the minor unit.
///
/// Three lines of ₩1,005 with 10 % off (₩100.5 each, ₩301.5 together):
///
/// | mode | granularity | discount |
/// |---|---|---|
/// | floor | per line | 100 + 100 + 100 = ₩300 |
/// | floor | per order | ₩301 (allocated 101 + 100 + 100) |
/// | half-up | per line | 101 + 101 + 101 = ₩303 |
/// | half-up | per order | ₩302 (allocated 101 + 101 + 100) |
///
/// ```
/// use booking_core::discount::{Granularity, RoundingPolicy};
/// use booking_core::money::Rounding;
///
/// let p = RoundingPolicy { mode: Rounding::HalfUp, granularity: Granularity::PerOrder };
/// assert_ne!(p, RoundingPolicy::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundingPolicy {
    /// Rounding mode; [`Rounding::Floor`] by default.
    #[serde(default)]
    pub mode: Rounding,
    /// Whether a line-level percentage is rounded on each line or once over its lines.
    #[serde(default)]
    pub granularity: Granularity,
}

/// Where a line-level percentage is rounded. Order-level rules always round once, on the
/// order, and split the result over lines exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Each line's discount is rounded on its own.
    #[default]
    PerLine,
    /// The rule's discount is rounded once over all its lines, then split over them by
    /// largest remainder.
    PerOrder,
}
