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
fn initial_state(cart: &Cart) -> Vec<LineState> {
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

/// Prices combinations of rules over one cart, reusing its buffers between them: the
/// best-of search prices many combinations per quote.
#[derive(Debug)]
pub(super) struct Pricer {
    base: Vec<LineState>,
    state: Vec<LineState>,
    scope: Vec<(usize, LineState)>,
    parts: Vec<(usize, i64)>,
    weights: Vec<u64>,
    currency: Currency,
    rounding: RoundingPolicy,
}

impl Pricer {
    /// A pricer for `cart` under `rounding`.
    pub(super) fn new(cart: &Cart, rounding: RoundingPolicy) -> Self {
        let base = initial_state(cart);
        Pricer {
            state: Vec::with_capacity(base.len()),
            scope: Vec::with_capacity(base.len()),
            parts: Vec::with_capacity(base.len()),
            weights: Vec::with_capacity(base.len()),
            base,
            currency: cart.currency(),
            rounding,
        }
    }

    /// The total discount of `rules` (with their eligible lines) applied in the order given;
    /// the same figure as the sum of [`Pricer::outcomes`], computed with less work.
    ///
    /// A per-order percentage or amount off on the whole cart depends only on what the whole
    /// cart still costs, not on how earlier discounts were split over lines. So once only
    /// such rules are left, the split is skipped and they are priced on the running total.
    pub(super) fn total(&mut self, rules: &[(&Rule, &[usize])]) -> i64 {
        let whole_cart = |(rule, lines): &&(&Rule, &[usize])| {
            rule.scope == Scope::PerOrder
                && lines.len() == self.base.len()
                && matches!(
                    rule.benefit,
                    Benefit::Percentage { .. } | Benefit::AmountOff { .. }
                )
        };
        let tail = rules.iter().rev().take_while(whole_cart).count();
        let (head, tail) = rules.split_at(rules.len().saturating_sub(tail));
        let mut total = self.run(head.iter().copied(), |_, _| {});
        let mut left = self
            .state
            .iter()
            .fold(0_i64, |acc, s| acc.saturating_add(s.net));
        for (rule, _) in tail {
            let uncapped = match rule.benefit {
                Benefit::Percentage { percent } => percent_of(left, percent, self.rounding.mode),
                Benefit::AmountOff { amount } => amount.minor().min(left),
                Benefit::UnitPrice { .. } | Benefit::BuyNPayM { .. } => 0,
            };
            let amount = rule.cap.map_or(uncapped, |cap| uncapped.min(cap.minor()));
            left = left.saturating_sub(amount);
            total = total.saturating_add(amount);
        }
        total
    }

    /// Each rule's outcome when `rules` are applied in the order given.
    pub(super) fn outcomes<'r>(
        &mut self,
        rules: impl Iterator<Item = (&'r Rule, &'r [usize])>,
    ) -> Vec<RuleOutcome> {
        let mut out = Vec::new();
        self.run(rules, |(uncapped, amount), parts| {
            out.push(RuleOutcome {
                uncapped,
                amount,
                parts: parts.to_vec(),
            });
        });
        out
    }

    fn run<'r>(
        &mut self,
        rules: impl Iterator<Item = (&'r Rule, &'r [usize])>,
        mut record: impl FnMut((i64, i64), &[(usize, i64)]),
    ) -> i64 {
        self.state.clear();
        self.state.extend_from_slice(&self.base);
        let mut total = 0_i64;
        for (rule, lines) in rules {
            let amounts = self.price_rule(rule, lines);
            for &(i, amount) in &self.parts {
                if let Some(line) = self.state.get_mut(i) {
                    line.net = line.net.saturating_sub(amount).max(0);
                }
            }
            total = total.saturating_add(amounts.1);
            record(amounts, &self.parts);
        }
        total
    }

    /// Fills `self.parts` with what `rule` takes off each of `lines`, cap included, and
    /// returns `(uncapped, amount)`.
    fn price_rule(&mut self, rule: &Rule, lines: &[usize]) -> (i64, i64) {
        let state = &self.state;
        self.scope.clear();
        self.scope
            .extend(lines.iter().filter_map(|&i| state.get(i).map(|s| (i, *s))));
        self.parts.clear();
        let (scope, rounding) = (&self.scope, self.rounding);
        match (rule.benefit, rule.scope) {
            (Benefit::Percentage { percent }, Scope::PerLine)
                if rounding.granularity == Granularity::PerLine =>
            {
                each(scope, &mut self.parts, |s| {
                    percent_of(s.net, percent, rounding.mode)
                });
            }
            (Benefit::Percentage { percent }, _) => {
                let total = percent_of(sum_net(scope), percent, rounding.mode);
                self.split_by_net(total);
            }
            (Benefit::AmountOff { amount }, Scope::PerLine) => each(scope, &mut self.parts, |s| {
                amount.minor().saturating_mul(i64::from(s.quantity))
            }),
            (Benefit::AmountOff { amount }, Scope::PerOrder) => {
                let total = amount.minor().min(sum_net(scope));
                self.split_by_net(total);
            }
            (Benefit::UnitPrice { price }, _) => each(scope, &mut self.parts, |s| {
                let target = price.minor().saturating_mul(i64::from(s.quantity));
                s.net.saturating_sub(target)
            }),
            (Benefit::BuyNPayM { buy, pay }, Scope::PerLine) => each(scope, &mut self.parts, |s| {
                let free = free_units(u64::from(s.quantity), buy, pay);
                share_of_units(s, free, rounding.mode)
            }),
            (Benefit::BuyNPayM { buy, pay }, Scope::PerOrder) => {
                cheapest_free(scope, &mut self.parts, buy, pay, rounding.mode);
            }
        }
        let uncapped = self.parts_sum();
        if let Some(cap) = rule.cap
            && cap.minor() < uncapped
        {
            self.weights.clear();
            self.weights.extend(
                self.parts
                    .iter()
                    .map(|&(_, a)| u64::try_from(a).unwrap_or(0)),
            );
            self.split(cap.minor());
        }
        // Read back from the parts, so the amount is always exactly what the lines got.
        (uncapped, self.parts_sum())
    }

    fn parts_sum(&self) -> i64 {
        self.parts
            .iter()
            .fold(0_i64, |acc, &(_, a)| acc.saturating_add(a))
    }

    /// Splits `total` over the lines in scope in proportion to what they still cost.
    fn split_by_net(&mut self, total: i64) {
        self.weights.clear();
        self.weights.extend(
            self.scope
                .iter()
                .map(|(_, s)| u64::try_from(s.net).unwrap_or(0)),
        );
        self.parts.clear();
        self.parts.extend(self.scope.iter().map(|&(i, _)| (i, 0)));
        self.split(total);
    }

    /// Replaces the amounts of `self.parts` by an exact split of `total` in proportion to
    /// `self.weights` (largest remainder). When `total` is at most the sum of the weights no
    /// part exceeds its weight, so a line never goes below zero.
    fn split(&mut self, total: i64) {
        // The two common exact cases need no division: nothing, or everything.
        let weight_sum = self
            .weights
            .iter()
            .fold(0_u64, |acc, &w| acc.saturating_add(w));
        if total == 0 || u64::try_from(total).is_ok_and(|t| t == weight_sum) {
            for (part, &w) in self.parts.iter_mut().zip(&self.weights) {
                part.1 = if total == 0 {
                    0
                } else {
                    i64::try_from(w).unwrap_or(0)
                };
            }
            return;
        }
        let shares = Money::new(total, self.currency).and_then(|t| allocate(t, &self.weights));
        match shares {
            Ok(shares) => {
                for (part, share) in self.parts.iter_mut().zip(shares) {
                    part.1 = share.minor();
                }
            }
            // Only reachable for a positive total over zero weight, i.e. nothing left to
            // discount: the rule then gives nothing rather than more than the lines cost.
            Err(_) => self.parts.iter_mut().for_each(|part| part.1 = 0),
        }
    }
}

/// One part per line in scope, each clamped to what the line still costs.
fn each(
    scope: &[(usize, LineState)],
    parts: &mut Vec<(usize, i64)>,
    f: impl Fn(&LineState) -> i64,
) {
    parts.extend(scope.iter().map(|(i, s)| (*i, f(s).clamp(0, s.net))));
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
    parts: &mut Vec<(usize, i64)>,
    buy: u32,
    pay: u32,
    mode: Rounding,
) {
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
    for (i, s) in by_price {
        let take = free.min(u64::from(s.quantity));
        free = free.saturating_sub(take);
        parts.push((*i, share_of_units(s, take, mode)));
    }
    parts.sort_by_key(|(i, _)| *i);
}
