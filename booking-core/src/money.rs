//! Money as integer minor units of one currency, with checked arithmetic only.
//!
//! A [`Money`] is never negative and never a float. Every operation that could overflow, mix
//! currencies or go below zero returns a [`MoneyError`] instead of wrapping or panicking.
//! Percentages are [`BasisPoints`] (1 % = 100 bp) applied with an explicit [`Rounding`], and
//! [`allocate`] splits an amount into parts that add up to it exactly.
//!
//! This module denies clippy's `arithmetic_side_effects`: every operator here is checked.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency together with the number of digits of its minor unit.
///
/// The exponent decides how an amount is stored and shown: KRW and JPY have no minor unit, so
/// `15000` minor units of KRW is `₩15,000`; USD has two, so `1234` minor units is `$12.34`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Currency {
    /// South Korean won (no minor unit).
    KRW,
    /// Japanese yen (no minor unit).
    JPY,
    /// United States dollar (2 digits).
    USD,
    /// Euro (2 digits).
    EUR,
    /// Pound sterling (2 digits).
    GBP,
    /// Chinese yuan (2 digits).
    CNY,
}

impl Currency {
    /// Every supported currency, in declaration order.
    pub const ALL: [Currency; 6] = [
        Currency::KRW,
        Currency::JPY,
        Currency::USD,
        Currency::EUR,
        Currency::GBP,
        Currency::CNY,
    ];

    /// The ISO 4217 alphabetic code, e.g. `"KRW"`.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::KRW => "KRW",
            Currency::JPY => "JPY",
            Currency::USD => "USD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::CNY => "CNY",
        }
    }

    /// Number of decimal digits of the minor unit (0 for KRW, 2 for USD).
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::KRW | Currency::JPY => 0,
            Currency::USD | Currency::EUR | Currency::GBP | Currency::CNY => 2,
        }
    }

    /// The symbol used by [`Money`]'s `Display`.
    pub const fn symbol(self) -> &'static str {
        match self {
            Currency::KRW => "₩",
            Currency::JPY => "¥",
            Currency::USD => "$",
            Currency::EUR => "€",
            Currency::GBP => "£",
            Currency::CNY => "CN¥",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

/// What went wrong in a money operation. Nothing is ever rounded away or wrapped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// An amount below zero was given or would have resulted.
    #[error("money cannot be negative (got {0} minor units)")]
    Negative(i128),
    /// The result does not fit in 63 bits of minor units.
    #[error("money amount overflows")]
    Overflow,
    /// Two amounts of different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// A currency code this library does not know.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// A percentage above 100 %.
    #[error("{0} basis points is more than 100 %")]
    PercentageTooLarge(u32),
    /// [`allocate`] was given no weights, or weights that are all zero, for a non-zero total.
    #[error("cannot allocate a non-zero amount over zero total weight")]
    ZeroWeight,
}

/// A non-negative amount of money in minor units of one [`Currency`].
///
/// ```
/// use booking_core::money::{Currency, Money};
///
/// let seat = Money::new(120_000, Currency::KRW)?;
/// let two = seat.checked_mul(2)?;
/// assert_eq!(two.to_string(), "₩240,000");
/// assert_eq!(Money::new(1234, Currency::USD)?.to_string(), "$12.34");
/// # Ok::<(), booking_core::money::MoneyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMoney", into = "RawMoney")]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// The serialized shape of [`Money`]: `{"amount": 15000, "currency": "KRW"}`.
#[derive(Serialize, Deserialize)]
struct RawMoney {
    amount: i64,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = MoneyError;

    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Money::new(raw.amount, raw.currency)
    }
}

impl From<Money> for RawMoney {
    fn from(m: Money) -> Self {
        RawMoney {
            amount: m.minor,
            currency: m.currency,
        }
    }
}

impl Money {
    /// An amount of `minor` minor units; negative amounts are refused.
    pub fn new(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative(minor.into()));
        }
        Ok(Money { minor, currency })
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// The amount in minor units (always `>= 0`).
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`; fails on overflow or a currency mismatch.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// `self - other`; fails if the result would be negative or the currencies differ.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        match self.minor.checked_sub(other.minor) {
            Some(minor) if minor >= 0 => Ok(Money { minor, ..self }),
            // Both operands are in 0..=i64::MAX, so the exact difference fits in i128.
            _ => Err(MoneyError::Negative(
                i128::from(self.minor).saturating_sub(i128::from(other.minor)),
            )),
        }
    }

    /// `self - other`, or zero when `other` is larger. Fails only on a currency mismatch.
    pub fn saturating_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(Money {
            minor: self.minor.saturating_sub(other.minor).max(0),
            ..self
        })
    }

    /// `self × quantity`; fails on overflow.
    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// `percentage` of this amount, rounded to the minor unit as `rounding` says.
    ///
    /// ```
    /// use booking_core::money::{BasisPoints, Currency, Money, Rounding};
    ///
    /// let price = Money::new(12_345, Currency::KRW)?;
    /// let ten = BasisPoints::new(1_000)?; // 10 %
    /// assert_eq!(price.percent(ten, Rounding::Floor).minor(), 1_234);
    /// assert_eq!(price.percent(ten, Rounding::HalfUp).minor(), 1_235);
    /// # Ok::<(), booking_core::money::MoneyError>(())
    /// ```
    pub fn percent(self, percentage: BasisPoints, rounding: Rounding) -> Money {
        // i64 × u32 always fits in i128.
        let numerator = i128::from(self.minor).saturating_mul(i128::from(percentage.get()));
        let minor = rounding.divide(numerator, i128::from(BasisPoints::FULL));
        // percentage <= 100 % and self.minor fits in i64, so the quotient fits too.
        Money {
            minor: i64::try_from(minor).unwrap_or(self.minor),
            currency: self.currency,
        }
    }

    /// The smaller of two amounts of the same currency.
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.minor < self.minor {
            other
        } else {
            self
        })
    }

    /// Sum of `amounts`, all in `currency`; zero when empty.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }
}

impl PartialOrd for Money {
    /// Amounts of different currencies are not comparable.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self.currency == other.currency).then(|| self.minor.cmp(&other.minor))
    }
}

impl fmt::Display for Money {
    /// `₩15,000`, `$1,234.50`: symbol, thousands separators, and the minor digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        // exponent <= 2 and the scale is positive, so none of these can fail.
        let scale = 10_i64.saturating_pow(exp);
        let whole = self.minor.checked_div(scale).unwrap_or(self.minor);
        let frac = self.minor.checked_rem(scale).unwrap_or(0);
        let digits = whole.to_string();
        let mut grouped = String::with_capacity(digits.len().saturating_mul(2));
        for (i, ch) in digits.chars().enumerate() {
            let from_end = digits.len().saturating_sub(i);
            if i > 0 && from_end.is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        f.write_str(self.currency.symbol())?;
        f.write_str(&grouped)?;
        if exp > 0 {
            write!(f, ".{frac:0width$}", width = exp as usize)?;
        }
        Ok(())
    }
}

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

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::cast_sign_loss)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn krw(n: i64) -> Money {
        Money::new(n, Currency::KRW).unwrap()
    }

    #[test]
    fn negative_amounts_are_refused() {
        assert_eq!(Money::new(-1, Currency::KRW), Err(MoneyError::Negative(-1)));
        let json = r#"{"amount":-5,"currency":"KRW"}"#;
        assert!(serde_json::from_str::<Money>(json).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(krw(5).checked_sub(krw(6)), Err(MoneyError::Negative(-1)));
        assert_eq!(krw(i64::MAX).checked_add(krw(1)), Err(MoneyError::Overflow));
        assert_eq!(krw(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        let usd = Money::new(1, Currency::USD).unwrap();
        assert_eq!(
            krw(1).checked_add(usd),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::KRW,
                right: Currency::USD
            })
        );
        assert_eq!(krw(3).saturating_sub(krw(10)).unwrap(), krw(0));
        assert_eq!(krw(7).checked_mul(3).unwrap(), krw(21));
        assert_eq!(Money::sum(Currency::KRW, [krw(1), krw(2)]).unwrap(), krw(3));
    }

    #[test]
    fn display_groups_thousands_and_shows_minor_digits() {
        assert_eq!(krw(15_000).to_string(), "₩15,000");
        assert_eq!(krw(0).to_string(), "₩0");
        assert_eq!(krw(999).to_string(), "₩999");
        assert_eq!(krw(1_234_567).to_string(), "₩1,234,567");
        assert_eq!(
            Money::new(123_450, Currency::USD).unwrap().to_string(),
            "$1,234.50"
        );
        assert_eq!(Money::new(5, Currency::EUR).unwrap().to_string(), "€0.05");
    }

    #[test]
    fn serde_shape_is_amount_and_code() {
        let json = serde_json::to_string(&krw(15_000)).unwrap();
        assert_eq!(json, r#"{"amount":15000,"currency":"KRW"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), krw(15_000));
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"XXX"}"#).is_err());
        assert_eq!("USD".parse::<Currency>().unwrap(), Currency::USD);
        assert!("usd".parse::<Currency>().is_err());
    }

    #[test]
    fn percentages_round_as_asked() {
        let p = BasisPoints::new(1_000).unwrap();
        assert_eq!(krw(12_345).percent(p, Rounding::Floor), krw(1_234));
        assert_eq!(krw(12_345).percent(p, Rounding::Ceil), krw(1_235));
        assert_eq!(krw(12_345).percent(p, Rounding::HalfUp), krw(1_235));
        assert_eq!(krw(12_345).percent(p, Rounding::HalfEven), krw(1_234));
        assert_eq!(krw(12_355).percent(p, Rounding::HalfEven), krw(1_236));
        assert_eq!(
            krw(i64::MAX).percent(BasisPoints::new(10_000).unwrap(), Rounding::Ceil),
            krw(i64::MAX)
        );
        assert_eq!(
            BasisPoints::new(10_001),
            Err(MoneyError::PercentageTooLarge(10_001))
        );
        assert!(serde_json::from_str::<BasisPoints>("10001").is_err());
        assert_eq!(BasisPoints::new(1_250).unwrap().to_string(), "12.50%");
    }

    #[test]
    fn allocate_edge_cases() {
        assert_eq!(allocate(krw(0), &[]).unwrap(), vec![]);
        assert_eq!(allocate(krw(5), &[]), Err(MoneyError::ZeroWeight));
        assert_eq!(allocate(krw(5), &[0, 0]), Err(MoneyError::ZeroWeight));
        assert_eq!(allocate(krw(0), &[0, 0]).unwrap(), vec![krw(0), krw(0)]);
        assert_eq!(allocate(krw(10), &[0, 1]).unwrap(), vec![krw(0), krw(10)]);
        // Equal remainders: the earlier index gets the extra unit.
        assert_eq!(
            allocate(krw(2), &[1, 1, 1]).unwrap(),
            vec![krw(1), krw(1), krw(0)]
        );
        assert_eq!(
            allocate(krw(i64::MAX), &[u64::MAX, u64::MAX])
                .unwrap()
                .iter()
                .map(|m| i128::from(m.minor()))
                .sum::<i128>(),
            i128::from(i64::MAX)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn allocation_sums_exactly_and_stays_within_one_unit(
            total in 0_i64..=i64::MAX,
            weights in proptest::collection::vec(0_u64..=u64::MAX, 1..20),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let parts = allocate(krw(total), &weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            let sum: i128 = parts.iter().map(|m| i128::from(m.minor())).sum();
            prop_assert_eq!(sum, i128::from(total));
            let wsum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            for (part, &w) in parts.iter().zip(&weights) {
                let exact_floor = (total as u128) * u128::from(w) / wsum;
                let got = part.minor() as u128;
                prop_assert!(got == exact_floor || got == exact_floor + 1);
            }
        }

        #[test]
        fn allocation_is_deterministic(
            total in 0_i64..1_000_000,
            weights in proptest::collection::vec(1_u64..1_000, 1..10),
        ) {
            prop_assert_eq!(allocate(krw(total), &weights), allocate(krw(total), &weights));
        }

        #[test]
        fn rounding_modes_bracket_the_exact_value(n in 0_i128..1_000_000_000, d in 1_i128..10_000) {
            let floor = Rounding::Floor.divide(n, d);
            let ceil = Rounding::Ceil.divide(n, d);
            prop_assert!(floor * d <= n && n <= ceil * d);
            prop_assert!(ceil - floor <= 1);
            for mode in [Rounding::HalfUp, Rounding::HalfEven] {
                let v = mode.divide(n, d);
                prop_assert!(v == floor || v == ceil);
                prop_assert!((v * d - n).abs() * 2 <= d);
            }
        }
    }
}
