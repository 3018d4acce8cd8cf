//! Percentages in basis points, rounding of uneven divisions, and exact allocation of an
//! amount over weights.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Money, MoneyError};

/// A percentage in basis points: `100` is 1 %, `10_000` is 100 %. Never above 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct BasisPoints(u32);

impl BasisPoints {
    /// 100 % in basis points.
    pub const FULL: u32 = 10_000;

    /// A percentage of `bps` basis points; more than 10,000 (100 %) is refused.
    pub fn new(bps: u32) -> Result<Self, MoneyError> {
        if bps > Self::FULL {
            return Err(MoneyError::PercentageTooLarge(bps));
        }
        Ok(BasisPoints(bps))
    }

    /// The value in basis points.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for BasisPoints {
    type Error = MoneyError;

    fn try_from(bps: u32) -> Result<Self, Self::Error> {
        BasisPoints::new(bps)
    }
}

impl From<BasisPoints> for u32 {
    fn from(bps: BasisPoints) -> u32 {
        bps.0
    }
}

impl fmt::Display for BasisPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        if frac == 0 {
            write!(f, "{whole}%")
        } else {
            write!(f, "{whole}.{frac:02}%")
        }
    }
}

/// How a division that does not come out even is rounded to the minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward zero: the buyer never gets more discount than the exact figure.
    #[default]
    Floor,
    /// Away from zero whenever there is a remainder.
    Ceil,
    /// To the nearest; halves go up.
    HalfUp,
    /// To the nearest; halves go to the even neighbour (banker's rounding).
    HalfEven,
}

impl Rounding {
    /// `numerator / denominator` rounded by this mode, for `numerator >= 0` and `denominator > 0`.
    ///
    /// Returns 0 for a zero or negative denominator rather than panicking; callers in this crate
    /// only pass positive constants or checked sums.
    pub fn divide(self, numerator: i128, denominator: i128) -> i128 {
        if denominator <= 0 {
            return 0;
        }
        let q = numerator.div_euclid(denominator);
        let r = numerator.rem_euclid(denominator);
        if r == 0 {
            return q;
        }
        let twice = r.saturating_mul(2);
        let up = match self {
            Rounding::Floor => false,
            Rounding::Ceil => true,
            Rounding::HalfUp => twice >= denominator,
            Rounding::HalfEven => twice > denominator || (twice == denominator && q % 2 != 0),
        };
        if up { q.saturating_add(1) } else { q }
    }
}

/// Splits `total` into one part per weight, proportional to the weights, so that the parts add
/// up to `total` exactly.
///
/// Each part first gets the floor of its exact share; the minor units left over go one each to
/// the parts with the largest remainders, ties to the earlier index. The result is therefore
/// deterministic and never differs from the exact share by a whole minor unit or more.
///
/// ```
/// use booking_core::money::{allocate, Currency, Money};
///
/// let discount = Money::new(100, Currency::KRW)?;
/// let parts = allocate(discount, &[1, 1, 1])?;
/// let minors: Vec<i64> = parts.iter().map(|m| m.minor()).collect();
/// assert_eq!(minors, [34, 33, 33]);
/// # Ok::<(), booking_core::money::MoneyError>(())
/// ```
///
/// A zero total over no weights is an empty split; a non-zero total needs a positive weight.
pub fn allocate(total: Money, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
    let weight_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if weight_sum == 0 {
        return if total.is_zero() {
            Ok(weights
                .iter()
                .map(|_| Money::zero(total.currency))
                .collect())
        } else {
            Err(MoneyError::ZeroWeight)
        };
    }
    let amount =
        u128::try_from(total.minor).map_err(|_| MoneyError::Negative(total.minor.into()))?;
    // amount < 2^63 and each weight < 2^64, so every product fits in u128 and the saturating
    // operations below never saturate; weight_sum > 0 so the divisions are defined.
    let mut parts: Vec<(u128, u128)> = weights
        .iter()
        .map(|&w| {
            let exact = amount.saturating_mul(u128::from(w));
            (
                exact.checked_div(weight_sum).unwrap_or(0),
                exact.checked_rem(weight_sum).unwrap_or(0),
            )
        })
        .collect();
    let floors: u128 = parts.iter().fold(0, |acc, &(q, _)| acc.saturating_add(q));
    let mut leftover = amount.saturating_sub(floors);
    let mut order: Vec<(usize, u128)> = parts.iter().map(|&(_, r)| r).enumerate().collect();
    // Largest remainder first; equal remainders keep index order (sort is stable).
    order.sort_by_key(|&(_, r)| std::cmp::Reverse(r));
    for (i, _) in order {
        if leftover == 0 {
            break;
        }
        if let Some(part) = parts.get_mut(i) {
            part.0 = part.0.saturating_add(1);
            leftover = leftover.saturating_sub(1);
        }
    }
    parts
        .into_iter()
        .map(|(q, _)| {
            Money::new(
                i64::try_from(q).map_err(|_| MoneyError::Overflow)?,
                total.currency,
            )
        })
        .collect()
}
