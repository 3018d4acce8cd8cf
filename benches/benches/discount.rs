//! Quoting a cart against a rule set, next to the loop a user would write by hand: apply each
//! matching rule's percentage or amount to the matching lines, with no stacking search, no
//! allocation and no explanations.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::hint::black_box;

use booking_benches::{Summary, criterion};
use booking_core::clock::Timestamp;
use booking_core::discount::{
    Benefit, Cart, CartLine, CouponCode, Customer, Rule, RuleSet, Scope, Stacking, quote,
};
use booking_core::money::{BasisPoints, Currency, Money};

const TAGS: [&str; 5] = ["flight", "hotel", "vip", "economy", "meal"];
const GRADES: [&str; 4] = ["GOLD", "SILVER", "VIP", "FAMILY"];
const NOW: i64 = 1_800_000_000;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

/// One generated rule, in the plain shape a hand-written loop would use.
struct Plain {
    percent_bps: i64,
    amount_off: i64,
    grade: Option<&'static str>,
    tag: Option<&'static str>,
    from: i64,
    until: i64,
    coupon: Option<String>,
    min_subtotal: i64,
}

/// A mix like a real shop's: grade discounts, time sales (most not running now), coupons
/// (few presented), tag-scoped line promotions in stack groups, a few exclusive deals.
fn plain_rules(n: usize) -> Vec<Plain> {
    (0..n)
        .map(|i| {
            let running = i % 3 == 0;
            let kind = i % 5;
            Plain {
                percent_bps: if kind % 2 == 0 {
                    500 + (i as i64 % 7) * 100
                } else {
                    0
                },
                amount_off: if kind % 2 == 1 {
                    1_000 + (i as i64 % 9) * 500
                } else {
                    0
                },
                grade: (kind == 0).then_some(GRADES[i % GRADES.len()]),
                tag: (kind == 2 || kind == 3).then_some(TAGS[i % TAGS.len()]),
                from: if running { NOW - 3_600 } else { NOW + 3_600 },
                until: NOW + 7_200,
                coupon: (kind == 4).then(|| format!("C{i}")),
                min_subtotal: if i % 4 == 0 { 50_000 } else { 0 },
            }
        })
        .collect()
}

/// The engine's version of `plain`; with `conflicts`, tag-scoped rules share a stack group
/// per tag and every 17th rule is exclusive, so the best-of search has work to do.
fn engine_rules(plain: &[Plain], conflicts: bool) -> RuleSet {
    let rules = plain
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let benefit = if p.percent_bps > 0 {
                Benefit::Percentage {
                    percent: BasisPoints::new(p.percent_bps as u32).unwrap(),
                }
            } else {
                Benefit::AmountOff {
                    amount: krw(p.amount_off),
                }
            };
            let mut r = Rule::new(format!("r{i:03}"), benefit).window(
                Timestamp::from_second(p.from).unwrap(),
                Timestamp::from_second(p.until).unwrap(),
            );
            if let Some(g) = p.grade {
                r = r.grades([g]);
            }
            if let Some(t) = p.tag {
                r = r.tags([t]).scope(Scope::PerLine);
                if conflicts {
                    r = r.stacking(Stacking::Group(t.to_owned()));
                }
            }
            if let Some(c) = &p.coupon {
                r = r.coupon(c.as_str());
            }
            if p.min_subtotal > 0 {
                r = r.min_subtotal(krw(p.min_subtotal));
            }
            if conflicts && i % 17 == 5 {
                r = r.stacking(Stacking::Exclusive);
            }
            r
        })
        .collect();
    RuleSet::new(rules, Default::default()).unwrap()
}

fn cart(n: usize) -> Cart {
    let lines = (0..n)
        .map(|i| {
            CartLine::new(
                format!("line-{i}"),
                format!("item-{}", i % 7),
                krw(10_000 + (i as i64 % 13) * 7_000),
                1 + (i % 3) as u32,
            )
            .tagged([TAGS[i % TAGS.len()], TAGS[(i + 2) % TAGS.len()]])
        })
        .collect();
    Cart::new(Currency::KRW, lines).unwrap()
}

/// The hand-written loop: every matching rule applied to every matching line, in list order.
fn by_hand(lines: &[CartLine], rules: &[Plain], grade: &str, now: i64, coupons: &[&str]) -> i64 {
    let subtotal: i64 = lines
        .iter()
        .map(|l| l.unit_price.minor() * i64::from(l.quantity))
        .sum();
    let mut nets: Vec<i64> = lines
        .iter()
        .map(|l| l.unit_price.minor() * i64::from(l.quantity))
        .collect();
    for r in rules {
        if r.grade.is_some_and(|g| g != grade)
            || now < r.from
            || now >= r.until
            || r.coupon.as_deref().is_some_and(|c| !coupons.contains(&c))
            || subtotal < r.min_subtotal
        {
            continue;
        }
        for (line, net) in lines.iter().zip(nets.iter_mut()) {
            if r.tag.is_some_and(|t| !line.tags.contains(t)) {
                continue;
            }
            let off = if r.percent_bps > 0 {
                *net * r.percent_bps / 10_000
            } else {
                r.amount_off
            };
            *net = (*net - off).max(0);
        }
    }
    nets.iter().sum()
}

fn main() {
    let mut c = criterion();
    let mut g = c.benchmark_group("discount");
    let customer = Customer::member("GOLD");
    let now = Timestamp::from_second(NOW).unwrap();
    for (lines, rules, conflicts) in [(10, 50, true), (100, 200, true), (10, 50, false)] {
        let name = format!(
            "{lines}x{rules}{}",
            if conflicts { "" } else { "_stackable" }
        );
        let plain = plain_rules(rules);
        let set = engine_rules(&plain, conflicts);
        let cart = cart(lines);
        let codes: Vec<CouponCode> = vec!["C4".into(), "C9".into()];
        let raw_codes = ["C4", "C9"];
        let q = quote(&cart, &customer, now, &codes, &set).unwrap();
        println!(
            "{name}: {} applied, {} not applied, selection {:?}, total {}",
            q.applied().len(),
            q.not_applied().len(),
            q.selection(),
            q.total()
        );
        g.bench_function(format!("quote_{name}"), |b| {
            b.iter(|| {
                quote(
                    black_box(&cart),
                    &customer,
                    now,
                    black_box(&codes),
                    black_box(&set),
                )
            })
        });
        g.bench_function(format!("by_hand_{name}"), |b| {
            b.iter(|| {
                by_hand(
                    black_box(cart.lines()),
                    black_box(&plain),
                    "GOLD",
                    NOW,
                    &raw_codes,
                )
            })
        });
    }
    g.finish();
    let mut s = Summary::new("discount");
    let rows = [
        (
            "quote, 10 lines x 50 rules",
            "10x50",
            "12 combinations priced (2 stack groups + exclusives)",
        ),
        (
            "quote, 100 lines x 200 rules",
            "100x200",
            "45 conflicting rules: greedy selection",
        ),
        (
            "quote, 10 lines x 50 rules, no conflicts",
            "10x50_stackable",
            "same rules, all stackable: one pass",
        ),
    ];
    for (label, name, note) in rows {
        s.criterion_row(
            label,
            "discount",
            &format!("quote_{name}"),
            &format!("by_hand_{name}"),
            &format!("{note}; baseline: hand loop, no search/allocation/explanations"),
        );
    }
    s.print();
}
