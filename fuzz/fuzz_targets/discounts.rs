//! Discount rules read from JSON or TOML, then `quote` on an arbitrary cart: no panic, and
//! every quote adds up exactly (shares to lines, lines to the discount, subtotal minus discount
//! to the total) with nothing negative.
//!
//! Input: the rule set's text, a 0 byte, then the bytes the cart, customer and coupons are
//! read from. Text starting with `{` is JSON, anything else TOML.
#![no_main]

use booking_core::discount::{Cart, CartLine, CouponCode, Customer, RuleSet, quote};
use booking_core::money::{Currency, Money};
use booking_fuzz::{at, pick, small};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

const TAGS: [&str; 3] = ["vip", "student", "front"];
const ITEMS: [&str; 3] = ["ICN-CJU", "concert", "sneakers"];
const GRADES: [&str; 2] = ["GOLD", "SILVER"];
const COUPONS: [&str; 3] = ["WELCOME", "OPEN10K", "VIP"];

fn rules(text: &[u8]) -> Option<RuleSet> {
    let text = std::str::from_utf8(text).ok()?;
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).ok()
    } else {
        toml::from_str(text).ok()
    }
}

fn cart(u: &mut Unstructured<'_>, currency: Currency) -> Option<Cart> {
    let lines = (0..=pick(u, 6))
        .map(|i| {
            let price = match pick(u, 4) {
                0 => i64::from(u.arbitrary::<u32>().unwrap_or(0)),
                1 => u
                    .arbitrary::<i64>()
                    .unwrap_or(0)
                    .checked_abs()
                    .unwrap_or(i64::MAX),
                _ => i64::from(small(u, 300)) * 1_000,
            };
            let quantity = match pick(u, 4) {
                0 => u.arbitrary::<u32>().unwrap_or(1),
                _ => small(u, 5),
            };
            let tags: Vec<&str> = TAGS.iter().copied().filter(|_| pick(u, 2) == 1).collect();
            let price = Money::new(price, currency).ok()?;
            Some(
                CartLine::new(format!("line-{i}"), ITEMS[pick(u, 3)], price, quantity).tagged(tags),
            )
        })
        .collect::<Option<Vec<_>>>()?;
    Cart::new(currency, lines).ok()
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Some(set) = rules(&data[..split]) else {
        return;
    };
    // A valid set survives a round trip through its own serialized form.
    let json = serde_json::to_string(&set).unwrap_or_default();
    let again: RuleSet = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(again, set);

    let mut u = Unstructured::new(data.get(split + 1..).unwrap_or_default());
    let currency = set.currency().unwrap_or(Currency::KRW);
    let Some(cart) = cart(&mut u, currency) else {
        return;
    };
    let customer = match pick(&mut u, 3) {
        0 => Customer::guest(),
        i => Customer::member(GRADES[i - 1]),
    };
    let coupons: Vec<CouponCode> = COUPONS
        .iter()
        .filter(|_| pick(&mut u, 2) == 1)
        .map(|&c| CouponCode::from(c))
        .collect();
    let now = at(i64::from(small(&mut u, 200_000)) - 100_000);

    let Ok(q) = quote(&cart, &customer, now, &coupons, &set) else {
        return;
    };
    let again = quote(&cart, &customer, now, &coupons, &set).ok();
    assert_eq!(again.as_ref(), Some(&q), "quote is not deterministic");

    let minor = |m: Money| i128::from(m.minor());
    assert_eq!(minor(q.subtotal()), minor(cart.subtotal()));
    assert_eq!(minor(q.total()), minor(q.subtotal()) - minor(q.discount()));
    assert!(q.total().minor() >= 0 && q.discount().minor() >= 0);
    let mut lines = 0_i128;
    for line in q.lines() {
        let shares: i128 = q
            .shares_of(&line.line)
            .map(|(_, amount)| minor(amount))
            .sum();
        assert_eq!(shares, minor(line.discount), "shares of {}", line.line);
        assert_eq!(minor(line.net), minor(line.gross) - minor(line.discount));
        assert!(
            line.net.minor() >= 0,
            "line {} costs less than nothing",
            line.line
        );
        lines += shares;
    }
    assert_eq!(lines, minor(q.discount()), "line discounts do not add up");
    let mut applied = 0_i128;
    for rule in q.applied() {
        let parts: i128 = rule.lines.iter().map(|s| minor(s.amount)).sum();
        assert_eq!(parts, minor(rule.amount), "allocation of {}", rule.rule);
        assert!(
            rule.amount.minor() <= rule.uncapped.minor(),
            "{} took more than uncapped",
            rule.rule
        );
        applied += minor(rule.amount);
    }
    assert_eq!(applied, minor(q.discount()), "applied rules do not add up");
});
