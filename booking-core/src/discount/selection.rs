//! Choosing which of the applicable rules to keep when some of them conflict.
//!
//! Two applicable rules conflict when either is [`Stacking::Exclusive`], when either has a
//! [`Stacking::CombinableWith`] list that leaves the other out, or when both are in the same
//! [`Stacking::Group`] and their lines in scope overlap (a unit is discounted by at most one
//! rule of a group). Rules that conflict with nothing always apply: that is what stacking
//! means. Among the conflicting rules the engine keeps the *maximal* compatible combination
//! (one no further rule could join without a conflict) with the largest discount:
//!
//! - up to [`EXACT_SEARCH_LIMIT`] conflicting rules, by pricing every maximal compatible
//!   combination (at most 2^12 subsets are examined) — exact;
//! - beyond it, greedily: each conflicting rule is priced alone (with the conflict-free
//!   rules), then rules are kept from the most valuable down, skipping any that conflicts
//!   with one already kept.
//!
//! Ties go to rules earlier in the order of application. In the exact search, of two
//! combinations with the same discount the one kept is the one holding the first rule, in
//! the order of application, that the two do not share (`earlier_first`). The greedy pass
//! ranks rules worth the same on their own in the order of application. Listing order never
//! matters.

use super::quote::Selection;
use super::rule::{Rule, Stacking};

/// The largest number of mutually conflicting applicable rules searched exactly.
pub const EXACT_SEARCH_LIMIT: usize = 12;

/// A rule whose conditions hold, with the cart lines it applies to (ascending).
#[derive(Debug)]
pub(super) struct Candidate<'a> {
    pub(super) rule: &'a Rule,
    pub(super) lines: Vec<usize>,
}

/// The outcome: candidates kept (ascending indices, so still in order of application), and
/// each dropped candidate with a kept one it conflicts with.
#[derive(Debug)]
pub(super) struct Choice {
    pub(super) kept: Vec<usize>,
    pub(super) dropped: Vec<(usize, usize)>,
    pub(super) selection: Selection,
}

/// Chooses among `cands`; `value` prices a combination (candidate indices, ascending) and
/// returns its total discount.
pub(super) fn choose(cands: &[Candidate<'_>], mut value: impl FnMut(&[usize]) -> i64) -> Choice {
    let n = cands.len();
    // Row-major n × n matrix: conflicts[a * n + b]; conflict is symmetric, so each pair is
    // checked once. Stackable rules never conflict with each other, so a set without any
    // other stacking mode skips the matrix altogether.
    let mut conflicts = vec![false; n.saturating_mul(n)];
    let any_restriction = cands.iter().any(|c| c.rule.stacking != Stacking::Stackable);
    for (a, ca) in cands.iter().enumerate().filter(|_| any_restriction) {
        for (b, cb) in cands.iter().enumerate().skip(a.saturating_add(1)) {
            if conflict(ca, cb) {
                for i in [
                    a.saturating_mul(n).saturating_add(b),
                    b.saturating_mul(n).saturating_add(a),
                ] {
                    if let Some(cell) = conflicts.get_mut(i) {
                        *cell = true;
                    }
                }
            }
        }
    }
    let conflicting = |a: usize, b: usize| {
        a.checked_mul(n)
            .and_then(|row| row.checked_add(b))
            .and_then(|i| conflicts.get(i))
            .copied()
            .unwrap_or(true)
    };
    let contested: Vec<usize> = (0..n)
        .filter(|&a| (0..n).any(|b| conflicting(a, b)))
        .collect();
    let free: Vec<usize> = (0..n).filter(|i| !contested.contains(i)).collect();
    if contested.is_empty() {
        return Choice {
            kept: free,
            dropped: Vec::new(),
            selection: Selection::NoConflict,
        };
    }
    let (winners, selection) = if contested.len() <= EXACT_SEARCH_LIMIT {
        exact(&contested, &free, &conflicting, &mut value)
    } else {
        greedy(&contested, &free, &conflicting, &mut value)
    };
    let dropped = contested
        .iter()
        .filter(|c| !winners.contains(c))
        .filter_map(|&loser| {
            let winner = winners.iter().copied().find(|&w| conflicting(w, loser))?;
            Some((loser, winner))
        })
        .collect();
    Choice {
        kept: merged(&free, &winners),
        dropped,
        selection,
    }
}

/// Prices every maximal compatible subset of `contested`; returns the best one.
fn exact(
    contested: &[usize],
    free: &[usize],
    conflicting: &impl Fn(usize, usize) -> bool,
    value: &mut impl FnMut(&[usize]) -> i64,
) -> (Vec<usize>, Selection) {
    // Bit j of adjacency[j'] is set when contested[j] and contested[j'] conflict.
    let adjacency: Vec<u32> = contested
        .iter()
        .map(|&a| {
            contested
                .iter()
                .enumerate()
                .filter(|&(_, &b)| a != b && conflicting(a, b))
                .fold(0_u32, |mask, (j, _)| mask | (1_u32 << j))
        })
        .collect();
    // The best combination so far: its discount, its `earlier_first` key, its mask.
    let mut best: Option<(i64, u32, u32)> = None;
    let mut combinations = 0_u32;
    let mut combination: Vec<usize> =
        Vec::with_capacity(free.len().saturating_add(contested.len()));
    let chosen = |mask: u32| {
        contested
            .iter()
            .enumerate()
            .filter(move |(j, _)| mask & (1 << j) != 0)
            .map(|(_, &c)| c)
    };
    // contested.len() <= EXACT_SEARCH_LIMIT < 32, so the shifts cannot overflow.
    for mask in 0_u32..(1_u32 << contested.len()) {
        let independent = adjacency
            .iter()
            .enumerate()
            .all(|(j, adj)| mask & (1 << j) == 0 || adj & mask == 0);
        let maximal = adjacency
            .iter()
            .enumerate()
            .all(|(j, adj)| mask & (1 << j) != 0 || adj & mask != 0);
        if !(independent && maximal) {
            continue;
        }
        combination.clear();
        combination.extend(free.iter().copied().chain(chosen(mask)));
        combination.sort_unstable();
        let v = value(&combination);
        combinations = combinations.saturating_add(1);
        let candidate = (v, earlier_first(mask), mask);
        if best.is_none_or(|b| candidate > b) {
            best = Some(candidate);
        }
    }
    let winners = best
        .map(|(_, _, mask)| chosen(mask).collect())
        .unwrap_or_default();
    (winners, Selection::Exact { combinations })
}

/// A key that orders combinations of contested rules (bit `j` = `contested[j]`, so bits in
/// the order of application) by the first rule on which they differ: the greater key holds
/// it. Reversing the bits makes that rule the most significant difference.
///
/// For the maximal combinations the search compares, where neither holds the other, this is
/// the same as comparing their rule lists in the order of application lexicographically,
/// the one with the earlier rule at the first difference winning.
fn earlier_first(mask: u32) -> u32 {
    mask.reverse_bits()
}

/// Keeps conflicting rules greedily, the one worth most on its own first; rules worth the same
/// in the order of application.
fn greedy(
    contested: &[usize],
    free: &[usize],
    conflicting: &impl Fn(usize, usize) -> bool,
    value: &mut impl FnMut(&[usize]) -> i64,
) -> (Vec<usize>, Selection) {
    let mut ranked: Vec<(i64, usize)> = contested
        .iter()
        .map(|&c| (value(&merged(free, &[c])), c))
        .collect();
    ranked.sort_by_key(|&(v, c)| (std::cmp::Reverse(v), c));
    let mut winners: Vec<usize> = Vec::new();
    for (_, c) in ranked {
        if winners.iter().all(|&w| !conflicting(w, c)) {
            winners.push(c);
        }
    }
    winners.sort_unstable();
    let conflicting = u32::try_from(contested.len()).unwrap_or(u32::MAX);
    (winners, Selection::Greedy { conflicting })
}

/// Two ascending index lists merged into one ascending list.
fn merged(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out
}

pub(super) fn conflict(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    let same_group = match (&a.rule.stacking, &b.rule.stacking) {
        (Stacking::Group(x), Stacking::Group(y)) => x == y && overlap(&a.lines, &b.lines),
        _ => false,
    };
    same_group || !allows(a.rule, b.rule) || !allows(b.rule, a.rule)
}

fn allows(rule: &Rule, other: &Rule) -> bool {
    match &rule.stacking {
        Stacking::Exclusive => false,
        Stacking::CombinableWith(ids) => ids.contains(&other.id),
        Stacking::Stackable | Stacking::Group(_) => true,
    }
}

/// Whether two ascending lists share an element.
fn overlap(a: &[usize], b: &[usize]) -> bool {
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    while let (Some(&&p), Some(&&q)) = (x.peek(), y.peek()) {
        match p.cmp(&q) {
            std::cmp::Ordering::Less => {
                x.next();
            }
            std::cmp::Ordering::Greater => {
                y.next();
            }
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests;
