//! What refunded lines actually cost: their gross amount net of the discounts allocated to
//! them, so refunds add up to exactly what was charged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::names::LineId;
use super::quote::Quote;
use crate::money::{Money, MoneyError, Rounding};

/// Units of one quoted line to refund.
///
/// A line's net amount is spread over its units so that units `1..=n` cost
/// `floor(net × n / quantity)`; refunding units `a+1..=a+k` returns the difference. Pass the
/// units already refunded from the line in earlier refunds as `already_refunded`, and any
/// sequence of partial refunds adds up to the line's net exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// The quoted line.
    pub line: LineId,
    /// Units to refund; `None` refunds every unit not refunded yet.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Units of this line refunded by earlier refunds.
    #[serde(default)]
    pub already_refunded: u32,
}

impl RefundLine {
    /// Every unit of `line` (none refunded before).
    pub fn whole(line: impl Into<LineId>) -> Self {
        RefundLine {
            line: line.into(),
            quantity: None,
            already_refunded: 0,
        }
    }

    /// `quantity` more units of `line`, after `already_refunded` units refunded earlier.
    pub fn units(line: impl Into<LineId>, quantity: u32, already_refunded: u32) -> Self {
        RefundLine {
            line: line.into(),
            quantity: Some(quantity),
            already_refunded,
        }
    }
}

impl Quote {
    /// What the given lines (or units of lines) cost the buyer: the amount to refund.
    ///
    /// Refunding every line returns exactly [`Quote::total`], and refunds of disjoint sets of
    /// lines or units add up to it.
    ///
    /// ```
    /// use booking_core::clock::Timestamp;
    /// use booking_core::discount::{quote, Benefit, Cart, CartLine, Customer, RefundLine, Rule, RuleSet};
    /// use booking_core::money::{Currency, Money};
    ///
    /// let krw = |n| Money::new(n, Currency::KRW);
    /// let rules = RuleSet::new(vec![Rule::new("sale", Benefit::AmountOff { amount: krw(1_000)? })], Default::default())?;
    /// let cart = Cart::new(Currency::KRW, vec![
    ///     CartLine::new("a", "seat", krw(10_000)?, 3),
    ///     CartLine::new("b", "meal", krw(5_000)?, 1),
    /// ])?;
    /// let q = quote(&cart, &Customer::guest(), Timestamp::UNIX_EPOCH, &[], &rules)?;
    /// assert_eq!(q.total(), krw(34_000)?); // 1,000 off, split 857 / 143
    ///
    /// let one_seat = q.refund_for(&[RefundLine::units("a", 1, 0)])?;
    /// let rest = q.refund_for(&[RefundLine::units("a", 2, 1), RefundLine::whole("b")])?;
    /// assert_eq!(one_seat.checked_add(rest)?, q.total());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refund_for(&self, lines: &[RefundLine]) -> Result<Money, RefundError> {
        let mut seen = BTreeSet::new();
        let mut sum = Money::zero(self.currency);
        for request in lines {
            if !seen.insert(&request.line) {
                return Err(RefundError::DuplicateLine(request.line.clone()));
            }
            let line = self
                .line(&request.line)
                .ok_or_else(|| RefundError::UnknownLine(request.line.clone()))?;
            let remaining = line.quantity.saturating_sub(request.already_refunded);
            if request.already_refunded > line.quantity {
                return Err(RefundError::TooManyUnits {
                    line: request.line.clone(),
                    requested: request.already_refunded,
                    remaining: line.quantity,
                });
            }
            let quantity = request.quantity.unwrap_or(remaining);
            if quantity > remaining {
                return Err(RefundError::TooManyUnits {
                    line: request.line.clone(),
                    requested: quantity,
                    remaining,
                });
            }
            let upto = request.already_refunded.saturating_add(quantity);
            let cost = |units: u32| {
                let exact = i128::from(line.net.minor()).saturating_mul(i128::from(units));
                let minor = Rounding::Floor.divide(exact, i128::from(line.quantity));
                i64::try_from(minor).unwrap_or(0)
            };
            let amount = cost(upto).saturating_sub(cost(request.already_refunded));
            sum = sum.checked_add(Money::new(amount, self.currency)?)?;
        }
        Ok(sum)
    }
}

/// Why a refund amount could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefundError {
    /// The quote has no line with this id.
    #[error("the quote has no line {0}")]
    UnknownLine(LineId),
    /// The same line was named twice in one request; ask for its units in one entry.
    #[error("line {0} is named twice in one refund")]
    DuplicateLine(LineId),
    /// More units than the line has left to refund.
    #[error("line {line}: {requested} units asked, {remaining} left to refund")]
    TooManyUnits {
        /// The line.
        line: LineId,
        /// Units asked for.
        requested: u32,
        /// Units still refundable.
        remaining: u32,
    },
    /// A stored quote holds amounts that do not add up (it was altered).
    #[error("refund arithmetic: {0}")]
    Money(#[from] MoneyError),
}
