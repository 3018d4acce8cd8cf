//! What is being priced: the cart's lines and the customer buying them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::names::{LineId, MemberGrade};
use crate::money::{Currency, Money, MoneyError};

/// One line of a cart: `quantity` units of one item at one unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// Stable id of the line, used again at refund time.
    pub id: LineId,
    /// The item sold (a ticket class, a fare, a SKU), matched by [`LineFilter::Items`](super::LineFilter::Items).
    pub item: String,
    /// Free-form tags matched by [`LineFilter::Tags`](super::LineFilter::Tags) (`"flight"`, `"vip"`).
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Price of one unit before any discount.
    pub unit_price: Money,
    /// Number of units, at least 1.
    pub quantity: u32,
}

impl CartLine {
    /// A line without tags.
    pub fn new(
        id: impl Into<LineId>,
        item: impl Into<String>,
        unit_price: Money,
        quantity: u32,
    ) -> Self {
        CartLine {
            id: id.into(),
            item: item.into(),
            tags: BTreeSet::new(),
            unit_price,
            quantity,
        }
    }

    /// Adds tags to the line.
    pub fn tagged<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}

/// A validated cart: lines in one currency, unique line ids, no empty line, a subtotal that
/// fits.
///
/// ```
/// use booking_core::discount::{Cart, CartLine};
/// use booking_core::money::{Currency, Money};
///
/// let seat = Money::new(120_000, Currency::KRW)?;
/// let cart = Cart::new(Currency::KRW, vec![CartLine::new("seat-12A", "ICN-NRT", seat, 1)])?;
/// assert_eq!(cart.subtotal(), seat);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It deserializes from `{"currency": "KRW", "lines": [...]}` through the same checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCart", into = "RawCart")]
pub struct Cart {
    currency: Currency,
    lines: Vec<CartLine>,
    gross: Vec<Money>,
    subtotal: Money,
}

/// The serialized shape of a [`Cart`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCart {
    currency: Currency,
    lines: Vec<CartLine>,
}

impl TryFrom<RawCart> for Cart {
    type Error = CartError;

    fn try_from(raw: RawCart) -> Result<Self, Self::Error> {
        Cart::new(raw.currency, raw.lines)
    }
}

impl From<Cart> for RawCart {
    fn from(cart: Cart) -> Self {
        RawCart {
            currency: cart.currency,
            lines: cart.lines,
        }
    }
}

impl Cart {
    /// Checks the lines and computes their amounts.
    pub fn new(currency: Currency, lines: Vec<CartLine>) -> Result<Self, CartError> {
        let mut ids = BTreeSet::new();
        let mut gross = Vec::with_capacity(lines.len());
        let mut subtotal = Money::zero(currency);
        for line in &lines {
            if !ids.insert(&line.id) {
                return Err(CartError::DuplicateLine(line.id.clone()));
            }
            if line.quantity == 0 {
                return Err(CartError::ZeroQuantity(line.id.clone()));
            }
            if line.unit_price.currency() != currency {
                return Err(CartError::CurrencyMismatch {
                    line: line.id.clone(),
                    expected: currency,
                    found: line.unit_price.currency(),
                });
            }
            let amount = line
                .unit_price
                .checked_mul(line.quantity)
                .map_err(CartError::Money)?;
            subtotal = subtotal.checked_add(amount).map_err(CartError::Money)?;
            gross.push(amount);
        }
        Ok(Cart {
            currency,
            lines,
            gross,
            subtotal,
        })
    }

    /// The cart's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The lines, in the order given.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    /// Sum of `unit_price × quantity` over all lines.
    pub fn subtotal(&self) -> Money {
        self.subtotal
    }

    /// Each line with its gross amount (`unit_price × quantity`).
    pub(crate) fn lines_with_gross(&self) -> impl Iterator<Item = (&CartLine, Money)> {
        self.lines.iter().zip(self.gross.iter().copied())
    }
}

/// The customer the cart is priced for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Customer {
    /// Member grade, or `None` for a guest.
    #[serde(default)]
    pub grade: Option<MemberGrade>,
}

impl Customer {
    /// A guest: no member grade.
    pub fn guest() -> Self {
        Customer { grade: None }
    }

    /// A member of `grade`.
    pub fn member(grade: impl Into<MemberGrade>) -> Self {
        Customer {
            grade: Some(grade.into()),
        }
    }
}

/// Why a cart was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CartError {
    /// Two lines share an id; line ids must be unique so refunds can name them.
    #[error("two cart lines have the id {0}")]
    DuplicateLine(LineId),
    /// A line has quantity zero; drop the line instead.
    #[error("cart line {0} has quantity zero")]
    ZeroQuantity(LineId),
    /// A line is priced in another currency than the cart.
    #[error("cart line {line} is in {found} but the cart is in {expected}")]
    CurrencyMismatch {
        /// The line at fault.
        line: LineId,
        /// The cart's currency.
        expected: Currency,
        /// The line's currency.
        found: Currency,
    },
    /// An amount does not fit in 63 bits of minor units.
    #[error("cart amount: {0}")]
    Money(MoneyError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krw(n: i64) -> Money {
        Money::new(n, Currency::KRW).unwrap()
    }

    #[test]
    fn bad_carts_are_refused() {
        let a = CartLine::new("a", "x", krw(10), 1);
        assert_eq!(
            Cart::new(Currency::KRW, vec![a.clone(), a.clone()]),
            Err(CartError::DuplicateLine("a".into()))
        );
        assert_eq!(
            Cart::new(Currency::KRW, vec![CartLine::new("z", "x", krw(1), 0)]),
            Err(CartError::ZeroQuantity("z".into()))
        );
        let usd = CartLine::new("u", "x", Money::new(1, Currency::USD).unwrap(), 1);
        assert!(matches!(
            Cart::new(Currency::KRW, vec![usd]),
            Err(CartError::CurrencyMismatch { .. })
        ));
        let huge = CartLine::new("h", "x", krw(i64::MAX), 2);
        assert_eq!(
            Cart::new(Currency::KRW, vec![huge]),
            Err(CartError::Money(MoneyError::Overflow))
        );
        let cart = Cart::new(
            Currency::KRW,
            vec![a.tagged(["t"]), CartLine::new("b", "y", krw(5), 3)],
        )
        .unwrap();
        assert_eq!(cart.subtotal(), krw(25));
        assert!(
            Cart::new(Currency::KRW, vec![])
                .unwrap()
                .subtotal()
                .is_zero()
        );
        let json = serde_json::to_string(&cart).unwrap();
        assert_eq!(serde_json::from_str::<Cart>(&json).unwrap(), cart);
        let zero = r#"{"currency":"KRW","lines":[{"id":"z","item":"x",
            "unit_price":{"amount":1,"currency":"KRW"},"quantity":0}]}"#;
        assert!(serde_json::from_str::<Cart>(zero).is_err());
    }
}
