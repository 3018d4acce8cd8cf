//! What one rule takes off each line, given what the lines still cost, and the pass that
//! applies a combination of rules one after another.
//!
//! Amounts here are minor units in `i64`. Every discount is at most what its line still
//! costs, so nets only go down and never below zero; products are taken in `i128`.

use super::cart::Cart;
use super::policy::{Granularity, RoundingPolicy};
use super::rule::{Benefit, Rule, Scope};
use crate::money::{BasisPoints, Currency, Money, Rounding, allocate};

/// One line as the pricing pass sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineState {
    unit_price: i64,
    quantity: u32,
    net: i64,
}

/// The lines of `cart` before any discount.
pub(super) fn initial_state(cart: &Cart) -> Vec<LineState> {
    cart.lines_with_gross()
        .map(|(line, gross)| LineState {
            unit_price: line.unit_price.minor(),
            quantity: line.quantity,
            net: gross.minor(),
        })
        .collect()
}

/// What one rule took off: before the cap, and per line after it.
#[derive(Debug, Clone, Default)]
pub(super) struct RuleOutcome {
    pub(super) uncapped: i64,
    pub(super) amount: i64,
    /// `(line index, amount)`; the amounts add up to `amount`.
    pub(super) parts: Vec<(usize, i64)>,
}

/// Applies `rules` (with their eligible lines) in the order given to a fresh copy of `state`
/// and returns the total discount and each rule's outcome.
pub(super) fn apply_in_order<'r>(
    rules: impl Iterator<Item = (&'r Rule, &'r [usize])>,
    state: &[LineState],
    currency: Currency,
    rounding: RoundingPolicy,
) -> (i64, Vec<RuleOutcome>) {
    let mut state = state.to_vec();
    let mut total = 0_i64;
    let mut outcomes = Vec::new();
    for (rule, lines) in rules {
        let outcome = price_rule(rule, lines, &state, currency, rounding);
        for &(i, amount) in &outcome.parts {
            if let Some(line) = state.get_mut(i) {
                line.net = line.net.saturating_sub(amount).max(0);
            }
        }
        total = total.saturating_add(outcome.amount);
        outcomes.push(outcome);
    }
    (total, outcomes)
}

/// What `rule` takes off the lines `lines` given their current state, cap included.
fn price_rule(
    rule: &Rule,
    lines: &[usize],
    state: &[LineState],
    currency: Currency,
    rounding: RoundingPolicy,
) -> RuleOutcome {
    let in_scope: Vec<(usize, LineState)> = lines
        .iter()
        .filter_map(|&i| state.get(i).map(|s| (i, *s)))
        .collect();
    let parts = match (rule.benefit, rule.scope) {
        (Benefit::Percentage { percent }, Scope::PerLine)
            if rounding.granularity == Granularity::PerLine =>
        {
            each(&in_scope, |s| percent_of(s.net, percent, rounding.mode))
        }
        (Benefit::Percentage { percent }, _) => {
            let sum = sum_net(&in_scope);
            split(
                percent_of(sum, percent, rounding.mode),
                &in_scope,
                |s| s.net,
                currency,
            )
        }
        (Benefit::AmountOff { amount }, Scope::PerLine) => each(&in_scope, |s| {
            amount
                .minor()
                .saturating_mul(i64::from(s.quantity))
                .min(s.net)
        }),
        (Benefit::AmountOff { amount }, Scope::PerOrder) => {
            let off = amount.minor().min(sum_net(&in_scope));
            split(off, &in_scope, |s| s.net, currency)
        }
        (Benefit::UnitPrice { price }, _) => each(&in_scope, |s| {
            let target = price.minor().saturating_mul(i64::from(s.quantity));
            s.net.saturating_sub(target).max(0)
        }),
        (Benefit::BuyNPayM { buy, pay }, Scope::PerLine) => each(&in_scope, |s| {
            let free = free_units(u64::from(s.quantity), buy, pay);
            share_of_units(s, free, rounding.mode)
        }),
        (Benefit::BuyNPayM { buy, pay }, Scope::PerOrder) => {
            cheapest_free(&in_scope, buy, pay, rounding.mode)
        }
    };
    let uncapped = parts
        .iter()
        .fold(0_i64, |acc, &(_, a)| acc.saturating_add(a));
    let (amount, parts) = match rule.cap {
        Some(cap) if cap.minor() < uncapped => {
            let weights: Vec<(usize, i64)> = parts;
            let capped = split_weights(cap.minor(), &weights, currency);
            (cap.minor(), capped)
        }
        _ => (uncapped, parts),
    };
    RuleOutcome {
        uncapped,
        amount,
        parts,
    }
}

fn each(lines: &[(usize, LineState)], f: impl Fn(&LineState) -> i64) -> Vec<(usize, i64)> {
    lines
        .iter()
        .map(|(i, s)| (*i, f(s).clamp(0, s.net)))
        .collect()
}

fn sum_net(lines: &[(usize, LineState)]) -> i64 {
    lines
        .iter()
        .fold(0_i64, |acc, (_, s)| acc.saturating_add(s.net))
}

/// `percent` of `amount`, rounded; never more than `amount` because `percent <= 100 %`.
fn percent_of(amount: i64, percent: BasisPoints, mode: Rounding) -> i64 {
    let exact = i128::from(amount).saturating_mul(i128::from(percent.get()));
    let rounded = mode.divide(exact, i128::from(BasisPoints::FULL));
    i64::try_from(rounded).unwrap_or(amount).min(amount)
}

/// Units free among `units` under "buy `buy`, pay `pay`".
fn free_units(units: u64, buy: u32, pay: u32) -> u64 {
    let groups = units.checked_div(u64::from(buy)).unwrap_or(0);
    groups.saturating_mul(u64::from(buy.saturating_sub(pay)))
}

/// The part of a line's net that `free` of its units stand for.
fn share_of_units(s: &LineState, free: u64, mode: Rounding) -> i64 {
    let exact = i128::from(s.net).saturating_mul(i128::from(free));
    let rounded = mode.divide(exact, i128::from(s.quantity));
    i64::try_from(rounded).unwrap_or(s.net).min(s.net)
}

/// Pooled buy-N-pay-M: the free units go to the cheapest units first (by what one unit still
/// costs, ties to the earlier line).
fn cheapest_free(
    lines: &[(usize, LineState)],
    buy: u32,
    pay: u32,
    mode: Rounding,
) -> Vec<(usize, i64)> {
    let units = lines.iter().fold(0_u64, |acc, (_, s)| {
        acc.saturating_add(u64::from(s.quantity))
    });
    let mut free = free_units(units, buy, pay);
    let mut by_price: Vec<&(usize, LineState)> = lines.iter().collect();
    // a.net / a.qty < b.net / b.qty  <=>  a.net * b.qty < b.net * a.qty (quantities > 0).
    by_price.sort_by(|(ia, a), (ib, b)| {
        let left = i128::from(a.net).saturating_mul(i128::from(b.quantity));
        let right = i128::from(b.net).saturating_mul(i128::from(a.quantity));
        left.cmp(&right)
            .then(a.unit_price.cmp(&b.unit_price))
            .then(ia.cmp(ib))
    });
    let mut parts: Vec<(usize, i64)> = Vec::with_capacity(lines.len());
    for (i, s) in by_price {
        let take = free.min(u64::from(s.quantity));
        free = free.saturating_sub(take);
        parts.push((*i, share_of_units(s, take, mode)));
    }
    parts.sort_by_key(|(i, _)| *i);
    parts
}

/// Splits `total` over the lines in proportion to `weight`, exactly (largest remainder).
fn split(
    total: i64,
    lines: &[(usize, LineState)],
    weight: impl Fn(&LineState) -> i64,
    currency: Currency,
) -> Vec<(usize, i64)> {
    let weights: Vec<(usize, i64)> = lines.iter().map(|(i, s)| (*i, weight(s))).collect();
    split_weights(total, &weights, currency)
}

/// Splits `total` over `(line, weight)` pairs exactly. When `total` is at most the sum of the
/// weights, no part exceeds its weight, so a line never goes below zero.
fn split_weights(total: i64, weights: &[(usize, i64)], currency: Currency) -> Vec<(usize, i64)> {
    let raw: Vec<u64> = weights
        .iter()
        .map(|(_, w)| u64::try_from(*w).unwrap_or(0))
        .collect();
    let parts = Money::new(total, currency).and_then(|t| allocate(t, &raw));
    match parts {
        Ok(parts) => weights
            .iter()
            .zip(parts)
            .map(|((i, _), m)| (*i, m.minor()))
            .collect(),
        // Only reachable for a positive total over zero weight, i.e. nothing left to
        // discount: the rule then gives nothing rather than more than the lines cost.
        Err(_) => weights.iter().map(|(i, _)| (*i, 0)).collect(),
    }
}
