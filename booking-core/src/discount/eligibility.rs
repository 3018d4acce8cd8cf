//! Whether a rule's conditions hold for a cart, a customer, a moment and a set of coupons.

use super::cart::{Cart, Customer};
use super::names::CouponCode;
use super::quote::{Matched, NotAppliedReason};
use super::rule::Rule;
use crate::clock::Timestamp;
use crate::money::Money;

/// Everything a rule's conditions are checked against.
#[derive(Debug, Clone, Copy)]
pub(super) struct Situation<'a> {
    pub(super) cart: &'a Cart,
    pub(super) customer: &'a Customer,
    pub(super) now: Timestamp,
    pub(super) coupons: &'a [CouponCode],
}

/// The indices of the cart lines the rule applies to, or the first condition that fails, in
/// the documented order: coupon presented, window, grade, lines in scope, minimum quantity,
/// minimum subtotal.
pub(super) fn eligible_lines(
    rule: &Rule,
    s: Situation<'_>,
) -> Result<Vec<usize>, NotAppliedReason> {
    let c = &rule.conditions;
    if let Some(code) = &c.coupon
        && !s.coupons.contains(code)
    {
        return Err(NotAppliedReason::CouponNotPresented { code: code.clone() });
    }
    if let Some(window) = c.window
        && !window.contains(s.now)
    {
        return Err(match (rule.is_coupon(), window.from, window.until) {
            (true, Some(from), _) if s.now < from => {
                NotAppliedReason::CouponNotYetValid { valid_from: from }
            }
            (true, _, Some(until)) => NotAppliedReason::CouponExpired { expired_at: until },
            _ => NotAppliedReason::OutsideWindow { window },
        });
    }
    if let Some(grades) = &c.grades
        && !s
            .customer
            .grade
            .as_ref()
            .is_some_and(|g| grades.contains(g))
    {
        return Err(NotAppliedReason::GradeMismatch {
            required: grades.clone(),
            actual: s.customer.grade.clone(),
        });
    }
    let lines: Vec<usize> = s
        .cart
        .lines()
        .iter()
        .enumerate()
        .filter(|(_, line)| c.lines.matches(&line.item, &line.tags))
        .map(|(i, _)| i)
        .collect();
    if lines.is_empty() {
        return Err(NotAppliedReason::NoEligibleLine);
    }
    if let Some(required) = c.min_quantity {
        let actual = units_in(s.cart, &lines);
        if actual < required {
            return Err(NotAppliedReason::BelowMinQuantity { required, actual });
        }
    }
    if let Some(required) = c.min_subtotal {
        let actual = gross_of(s.cart, &lines);
        if actual.minor() < required.minor() {
            return Err(NotAppliedReason::BelowMinimum { required, actual });
        }
    }
    Ok(lines)
}

/// The conditions an applied rule met, for its explanation.
pub(super) fn matched(rule: &Rule, lines: &[usize], s: Situation<'_>) -> Vec<Matched> {
    let c = &rule.conditions;
    let mut out = Vec::new();
    if let (Some(_), Some(grade)) = (&c.grades, &s.customer.grade) {
        out.push(Matched::Grade {
            grade: grade.clone(),
        });
    }
    if let Some(window) = c.window {
        out.push(Matched::Window { window });
    }
    if let Some(required) = c.min_subtotal {
        out.push(Matched::MinSubtotal {
            required,
            actual: gross_of(s.cart, lines),
        });
    }
    if let Some(required) = c.min_quantity {
        out.push(Matched::MinQuantity {
            required,
            actual: units_in(s.cart, lines),
        });
    }
    if let Some(code) = &c.coupon {
        out.push(Matched::Coupon { code: code.clone() });
    }
    out
}

/// Units held by the given lines (saturating: a count beyond `u32::MAX` is surely enough).
fn units_in(cart: &Cart, lines: &[usize]) -> u32 {
    lines
        .iter()
        .filter_map(|&i| cart.lines().get(i))
        .fold(0_u32, |acc, l| acc.saturating_add(l.quantity))
}

/// Gross amount of the given lines. It cannot overflow: the cart's subtotal, a larger sum,
/// was checked when the cart was built.
fn gross_of(cart: &Cart, lines: &[usize]) -> Money {
    let mut sum = Money::zero(cart.currency());
    let mut wanted = lines.iter().peekable();
    for (i, (_, gross)) in cart.lines_with_gross().enumerate() {
        if wanted.peek() == Some(&&i) {
            wanted.next();
            sum = sum.checked_add(gross).unwrap_or(sum);
        }
    }
    sum
}
