//! [`Amount`]: an amount as Toss writes it, read as a whole number — never a float.

use std::fmt;

use booking_core::money::{Currency, Money};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::TossError;

/// A non-negative whole amount in the payment's currency, as Toss's JSON numbers carry it.
///
/// Toss documents its amounts as JSON numbers that may carry decimals for foreign currencies;
/// for KRW (no minor unit) they are whole won. This type reads only whole numbers: a fractional
/// or negative amount is refused when the response is read, so no float ever stands in for
/// money. [`to_money`](Self::to_money) and [`from_money`](Self::from_money) convert to
/// booking-core's [`Money`] with checks, for currencies without a minor unit (KRW, JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// `value` whole units.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] if `value` is negative.
    pub fn new(value: i64) -> Result<Self, TossError> {
        if value < 0 {
            return Err(TossError::InvalidRequest(format!(
                "amount must not be negative, got {value}"
            )));
        }
        Ok(Amount(value))
    }

    /// The whole number.
    pub const fn value(self) -> i64 {
        self.0
    }

    /// The amount as [`Money`] of `currency`.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] if `currency` has a minor unit: Toss writes those amounts
    /// with decimals, which this type does not read.
    pub fn to_money(self, currency: Currency) -> Result<Money, TossError> {
        if currency.exponent() != 0 {
            return Err(TossError::InvalidRequest(format!(
                "{currency} has a minor unit; only currencies without one (KRW) are supported"
            )));
        }
        Money::new(self.0, currency).map_err(|e| TossError::InvalidRequest(e.to_string()))
    }

    /// The amount of `money`.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] if its currency has a minor unit.
    pub fn from_money(money: Money) -> Result<Self, TossError> {
        if money.currency().exponent() != 0 {
            return Err(TossError::InvalidRequest(format!(
                "{} has a minor unit; only currencies without one (KRW) are supported",
                money.currency()
            )));
        }
        Amount::new(money.minor())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeAmount)
    }
}

/// Accepts JSON integers that fit an `i64` and are not negative; refuses everything else.
struct WholeAmount;

impl Visitor<'_> for WholeAmount {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative whole amount")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Amount, E> {
        Amount::new(value).map_err(|_| E::custom(format!("negative amount {value}")))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Amount, E> {
        i64::try_from(value)
            .map(Amount)
            .map_err(|_| E::custom(format!("amount {value} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Amount, E> {
        // Not converted: a fractional amount is a currency this crate does not support, and a
        // whole one written as a float is not what Toss sends for KRW.
        Err(E::custom(format!(
            "amount {value} is not a whole number of minor units"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_amounts_read_and_others_are_refused() {
        assert_eq!(
            serde_json::from_str::<Amount>("15000").unwrap(),
            Amount(15_000)
        );
        assert_eq!(serde_json::from_str::<Amount>("0").unwrap(), Amount::ZERO);
        for bad in [
            "15000.5",
            "1e3",
            "-1",
            "18446744073709551615",
            "\"15000\"",
            "null",
        ] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Amount(7)).unwrap(), "7");
    }

    #[test]
    fn money_conversions_are_checked() {
        let won = Money::new(15_000, Currency::KRW).unwrap();
        assert_eq!(Amount::from_money(won).unwrap(), Amount(15_000));
        assert_eq!(Amount(15_000).to_money(Currency::KRW).unwrap(), won);
        let dollars = Money::new(1_234, Currency::USD).unwrap();
        assert!(Amount::from_money(dollars).is_err());
        assert!(Amount(1).to_money(Currency::USD).is_err());
        assert!(Amount::new(-1).is_err());
    }
}
