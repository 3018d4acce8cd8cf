//! `quote`: prices a cart against a rule set and explains the result.

use super::cart::{Cart, Customer};
use super::eligibility::{Situation, eligible_lines, matched};
use super::names::CouponCode;
use super::pricing::{Pricer, RuleOutcome};
use super::quote::{AppliedRule, LineShare, NotApplied, NotAppliedReason, Quote, QuotedLine};
use super::rule::Rule;
use super::rule_set::RuleSet;
use super::selection::{Candidate, choose};
use crate::clock::Timestamp;
use crate::money::{Currency, Money, MoneyError};

/// Prices `cart` for `customer` at `now` with the coupons the buyer presented.
///
/// Deterministic: the same inputs give the same quote, whatever order the rules were listed
/// in. Rules apply in the set's order of application (line-level before order-level, then
/// the policy's [`CouponOrder`](super::CouponOrder), then priority, then id); each rule works
/// on what the lines still cost after the rules before it. When applicable rules conflict,
/// the combination best for the customer is kept (see [`EXACT_SEARCH_LIMIT`](super::EXACT_SEARCH_LIMIT)).
///
/// ```
/// use booking_core::clock::Timestamp;
/// use booking_core::discount::{quote, Benefit, Cart, CartLine, CouponCode, Customer, NotAppliedReason, Rule, RuleSet};
/// use booking_core::money::{Currency, Money};
///
/// let krw = |n| Money::new(n, Currency::KRW);
/// let rules = RuleSet::new(
///     vec![Rule::new("welcome", Benefit::AmountOff { amount: krw(5_000)? })
///         .coupon("WELCOME")
///         .min_subtotal(krw(30_000)?)],
///     Default::default(),
/// )?;
/// let cart = Cart::new(Currency::KRW, vec![CartLine::new("l1", "ticket", krw(20_000)?, 2)])?;
/// let q = quote(&cart, &Customer::guest(), Timestamp::UNIX_EPOCH, &[CouponCode::from("WELCOME")], &rules)?;
/// assert_eq!(q.total(), krw(35_000)?);
///
/// let q = quote(&cart, &Customer::guest(), Timestamp::UNIX_EPOCH, &[], &rules)?;
/// assert_eq!(q.total(), krw(40_000)?);
/// assert!(matches!(q.why_not(&"welcome".into()), Some(NotAppliedReason::CouponNotPresented { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn quote(
    cart: &Cart,
    customer: &Customer,
    now: Timestamp,
    coupons: &[CouponCode],
    rules: &RuleSet,
) -> Result<Quote, QuoteError> {
    let currency = cart.currency();
    if let Some(expected) = rules.currency()
        && expected != currency
    {
        return Err(QuoteError::CurrencyMismatch {
            cart: currency,
            rules: expected,
        });
    }
    let situation = Situation {
        cart,
        customer,
        now,
        coupons,
    };
    let policy = rules.policy();
    // One slot per rule, by position in the order of application: filled out of order,
    // read in order.
    let mut not_applied: Vec<Option<NotApplied>> = vec![None; rules.rules().len()];
    let mut explain = |pos: usize, entry: NotApplied| {
        if let Some(slot) = not_applied.get_mut(pos) {
            *slot = Some(entry);
        }
    };
    let mut cands: Vec<Candidate<'_>> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    for (position, rule) in rules.rules().iter().enumerate() {
        match eligible_lines(rule, situation) {
            Ok(lines) => {
                cands.push(Candidate { rule, lines });
                positions.push(position);
            }
            Err(reason) => explain(position, not_applied_entry(rule, reason)),
        }
    }
    let mut pricer = Pricer::new(cart, policy.rounding);
    let mut combination = Vec::with_capacity(cands.len());
    let choice = choose(&cands, |set| {
        rules_of(&cands, set, &mut combination);
        pricer.total(&combination)
    });
    rules_of(&cands, &choice.kept, &mut combination);
    let outcomes = pricer.outcomes(combination.iter().copied());

    for &(loser, winner) in &choice.dropped {
        if let (Some(l), Some(w), Some(&pos)) =
            (cands.get(loser), cands.get(winner), positions.get(loser))
        {
            let reason = NotAppliedReason::LostTo {
                winner: w.rule.id.clone(),
            };
            explain(pos, not_applied_entry(l.rule, reason));
        }
    }
    let mut applied: Vec<AppliedRule> = Vec::new();
    let mut line_discounts: Vec<i64> = vec![0; cart.lines().len()];
    for (&c, outcome) in choice.kept.iter().zip(&outcomes) {
        let (Some(cand), Some(&pos)) = (cands.get(c), positions.get(c)) else {
            continue;
        };
        if outcome.amount == 0 {
            explain(
                pos,
                not_applied_entry(cand.rule, NotAppliedReason::ZeroDiscount),
            );
            continue;
        }
        applied.push(applied_rule(
            cand,
            outcome,
            situation,
            &mut line_discounts,
            currency,
        )?);
    }

    let (lines, discount) = quoted_lines(cart, line_discounts)?;
    let subtotal = cart.subtotal();
    Ok(Quote {
        currency,
        subtotal,
        discount,
        total: subtotal.checked_sub(discount)?,
        lines,
        applied,
        not_applied: not_applied.into_iter().flatten().collect(),
        unknown_coupons: unknown_coupons(coupons, rules),
        selection: choice.selection,
    })
}

/// Fills `out` with the rules of the candidates `set`, with their lines, in order.
fn rules_of<'a>(cands: &'a [Candidate<'a>], set: &[usize], out: &mut Vec<(&'a Rule, &'a [usize])>) {
    out.clear();
    out.extend(
        set.iter()
            .filter_map(|&c| cands.get(c))
            .map(|c| (c.rule, c.lines.as_slice())),
    );
}

/// Each cart line with its total discount, and the discount of the whole cart.
fn quoted_lines(
    cart: &Cart,
    line_discounts: Vec<i64>,
) -> Result<(Vec<QuotedLine>, Money), QuoteError> {
    let currency = cart.currency();
    let mut lines = Vec::with_capacity(cart.lines().len());
    let mut discount = Money::zero(currency);
    for ((line, gross), line_discount) in cart.lines_with_gross().zip(line_discounts) {
        let line_discount = Money::new(line_discount, currency)?;
        discount = discount.checked_add(line_discount)?;
        lines.push(QuotedLine {
            line: line.id.clone(),
            unit_price: line.unit_price,
            quantity: line.quantity,
            gross,
            discount: line_discount,
            net: gross.checked_sub(line_discount)?,
        });
    }
    Ok((lines, discount))
}

fn not_applied_entry(rule: &Rule, reason: NotAppliedReason) -> NotApplied {
    NotApplied {
        rule: rule.id.clone(),
        reason,
    }
}

/// The explanation of one kept rule; also adds its shares to `line_discounts`.
fn applied_rule(
    cand: &Candidate<'_>,
    outcome: &RuleOutcome,
    situation: Situation<'_>,
    line_discounts: &mut [i64],
    currency: Currency,
) -> Result<AppliedRule, QuoteError> {
    let rule = cand.rule;
    let mut shares = Vec::with_capacity(outcome.parts.len());
    for &(i, minor) in outcome.parts.iter().filter(|(_, minor)| *minor > 0) {
        if let (Some(line), Some(sum)) = (situation.cart.lines().get(i), line_discounts.get_mut(i))
        {
            *sum = sum.checked_add(minor).ok_or(MoneyError::Overflow)?;
            shares.push(LineShare {
                line: line.id.clone(),
                amount: Money::new(minor, currency)?,
            });
        }
    }
    Ok(AppliedRule {
        rule: rule.id.clone(),
        description: rule.description.clone(),
        benefit: rule.benefit,
        scope: rule.scope,
        because: matched(rule, &cand.lines, situation),
        uncapped: Money::new(outcome.uncapped, currency)?,
        amount: Money::new(outcome.amount, currency)?,
        lines: shares,
    })
}

/// Presented codes no rule asks for, each once, in the order presented.
fn unknown_coupons(coupons: &[CouponCode], rules: &RuleSet) -> Vec<CouponCode> {
    let mut out: Vec<CouponCode> = Vec::new();
    for code in coupons {
        let known = rules
            .rules()
            .iter()
            .any(|r| r.conditions.coupon.as_ref() == Some(code));
        if !known && !out.contains(code) {
            out.push(code.clone());
        }
    }
    out
}

/// Why a cart could not be quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The cart and the rules are in different currencies; use the rule set for the cart's
    /// currency.
    #[error("the cart is in {cart} but the rules are in {rules}")]
    CurrencyMismatch {
        /// The cart's currency.
        cart: Currency,
        /// The rules' currency.
        rules: Currency,
    },
    /// An amount fell outside what [`Money`] holds; the engine keeps every discount between
    /// zero and what the line costs, so this signals a bug, not bad input.
    #[error("discount arithmetic: {0}")]
    Money(#[from] MoneyError),
}
