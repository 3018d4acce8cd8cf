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

mod percent;

pub use percent::{BasisPoints, Rounding, allocate};

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::cast_sign_loss)]
mod tests;
