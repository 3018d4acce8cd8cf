//! The worked examples of `docs/discounts.md`, as tests: each one states the exact figures a
//! user would check by hand.

use super::*;
use crate::clock::Timestamp;
use crate::money::{BasisPoints, Currency, Money, Rounding};

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn pct(bps: u32) -> Benefit {
    Benefit::Percentage {
        percent: BasisPoints::new(bps).unwrap(),
    }
}

fn off(n: i64) -> Benefit {
    Benefit::AmountOff { amount: krw(n) }
}

fn cart(lines: &[(&str, i64, u32)]) -> Cart {
    let lines = lines
        .iter()
        .map(|&(id, price, qty)| CartLine::new(id, "item", krw(price), qty))
        .collect();
    Cart::new(Currency::KRW, lines).unwrap()
}

/// Quotes `cart` for a guest during the sale.
fn guest(cart: &Cart, coupons: &[CouponCode], rules: &RuleSet) -> Quote {
    quote(cart, &Customer::guest(), at(DURING_SALE), coupons, rules).unwrap()
}

/// Quotes the flight seat for a GOLD member at `now`.
fn gold_seat(now: Timestamp, rules: &RuleSet) -> Quote {
    quote(&seat(), &Customer::member("GOLD"), now, &[], rules).unwrap()
}

fn set(rules: Vec<Rule>) -> RuleSet {
    RuleSet::new(rules, QuotePolicy::default()).unwrap()
}

fn seat() -> Cart {
    let line = CartLine::new("seat-12A", "ICN-NRT", krw(120_000), 1).tagged(["flight"]);
    Cart::new(Currency::KRW, vec![line]).unwrap()
}

const DURING_SALE: &str = "2026-11-23T10:00:00Z";

fn gold_and_time_sale(stacking: Stacking) -> RuleSet {
    let gold = Rule::new("gold-10", pct(1_000))
        .description("GOLD member 10 %")
        .grades(["GOLD"])
        .stacking(stacking.clone());
    let sale = Rule::new("time-sale", off(15_000))
        .description("time sale")
        .window(at("2026-11-23T09:00:00Z"), at("2026-11-23T12:00:00Z"))
        .tags(["flight"])
        .scope(Scope::PerLine)
        .stacking(stacking);
    set(vec![gold, sale])
}

#[test]
fn seed_a_gold_member_and_time_sale_stacking() {
    let rules = gold_and_time_sale(Stacking::Stackable);
    let q = gold_seat(at(DURING_SALE), &rules);
    // Per-line 15,000 first (120,000 -> 105,000), then 10 % of 105,000 = 10,500.
    assert_eq!(q.subtotal(), krw(120_000));
    assert_eq!(q.discount(), krw(25_500));
    assert_eq!(q.total(), krw(94_500));
    let applied: Vec<(&str, i64)> = q
        .applied()
        .iter()
        .map(|a| (a.rule.as_str(), a.amount.minor()))
        .collect();
    assert_eq!(applied, [("time-sale", 15_000), ("gold-10", 10_500)]);
    assert_eq!(q.selection(), Selection::NoConflict);
    assert!(q.not_applied().is_empty());
    assert!(q.applied()[1].because.contains(&Matched::Grade {
        grade: "GOLD".into()
    }));
}

#[test]
fn seed_a_gold_member_and_time_sale_exclusive() {
    let rules = gold_and_time_sale(Stacking::Exclusive);
    let q = gold_seat(at(DURING_SALE), &rules);
    // 15,000 off beats 10 % (12,000): the better one for the customer wins.
    assert_eq!(q.total(), krw(105_000));
    assert_eq!(q.applied().len(), 1);
    assert_eq!(q.applied()[0].rule.as_str(), "time-sale");
    assert_eq!(
        q.why_not(&"gold-10".into()),
        Some(&NotAppliedReason::LostTo {
            winner: "time-sale".into()
        })
    );
    assert_eq!(q.selection(), Selection::Exact { combinations: 2 });

    // After the sale only the grade discount is left: 120,000 - 12,000.
    let q = gold_seat(at("2026-11-23T12:00:00Z"), &rules);
    assert_eq!(q.total(), krw(108_000));
    assert!(matches!(
        q.why_not(&"time-sale".into()),
        Some(NotAppliedReason::OutsideWindow { .. })
    ));

    // A guest gets the sale only, and is told why not the grade discount.
    let q = guest(&seat(), &[], &rules);
    assert_eq!(q.total(), krw(105_000));
    assert_eq!(
        q.why_not(&"gold-10".into()),
        Some(&NotAppliedReason::GradeMismatch {
            required: [MemberGrade::from("GOLD")].into(),
            actual: None
        })
    );
}

fn welcome() -> RuleSet {
    set(vec![
        Rule::new("welcome", off(5_000))
            .coupon("WELCOME")
            .min_subtotal(krw(30_000)),
    ])
}

#[test]
fn seed_b_coupon_below_minimum_is_explained() {
    let q = guest(&cart(&[("l", 25_000, 1)]), &["WELCOME".into()], &welcome());
    assert_eq!(q.total(), krw(25_000));
    assert_eq!(
        q.why_not(&"welcome".into()),
        Some(&NotAppliedReason::BelowMinimum {
            required: krw(30_000),
            actual: krw(25_000)
        })
    );
    // The shape stored with an order and shown in docs/discounts.md.
    let json = serde_json::to_value(&q.not_applied()[0]).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        r#"{ "rule": "welcome", "reason": { "reason": "below_minimum",
             "required": { "amount": 30000, "currency": "KRW" },
             "actual": { "amount": 25000, "currency": "KRW" } } }"#,
    )
    .unwrap();
    assert_eq!(json, expected);
}

#[test]
fn seed_b_coupon_at_minimum_applies() {
    let q = guest(&cart(&[("l", 10_000, 3)]), &["WELCOME".into()], &welcome());
    assert_eq!(q.total(), krw(25_000));
    assert_eq!(q.applied()[0].amount, krw(5_000));
    assert!(q.unknown_coupons().is_empty());
}

#[test]
fn seed_c_percentage_coupon_capped() {
    let rules = set(vec![
        Rule::new("ten", pct(1_000)).coupon("TEN").cap(krw(10_000)),
    ]);
    let code = ["TEN".into()];
    let q = guest(&cart(&[("a", 100_000, 1), ("b", 50_000, 1)]), &code, &rules);
    let applied = &q.applied()[0];
    assert_eq!(applied.uncapped, krw(15_000));
    assert_eq!(applied.amount, krw(10_000));
    assert_eq!(q.total(), krw(140_000));
    // The capped 10,000 is split 2:1 like the uncapped shares (6,667 + 3,333).
    let shares: Vec<i64> = q.lines().iter().map(|l| l.discount.minor()).collect();
    assert_eq!(shares, [6_667, 3_333]);

    let q = guest(&cart(&[("a", 80_000, 1)]), &code, &rules);
    assert_eq!(
        q.total(),
        krw(72_000),
        "under the cap the full 10 % applies"
    );
}

#[test]
fn seed_d_expired_coupon_is_reported() {
    let rules = set(vec![
        Rule::new("autumn", off(3_000))
            .coupon("AUTUMN")
            .window(at("2026-09-01T00:00:00Z"), at("2026-11-01T00:00:00Z")),
    ]);
    let q = guest(&cart(&[("l", 40_000, 1)]), &["AUTUMN".into()], &rules);
    assert_eq!(q.total(), krw(40_000));
    assert_eq!(
        q.why_not(&"autumn".into()),
        Some(&NotAppliedReason::CouponExpired {
            expired_at: at("2026-11-01T00:00:00Z")
        })
    );
    let early = quote(
        &cart(&[("l", 40_000, 1)]),
        &Customer::guest(),
        at("2026-08-01T00:00:00Z"),
        &["AUTUMN".into()],
        &rules,
    )
    .unwrap();
    assert!(matches!(
        early.why_not(&"autumn".into()),
        Some(NotAppliedReason::CouponNotYetValid { .. })
    ));
}

#[test]
fn a_unit_is_discounted_by_at_most_one_rule_of_a_stack_group() {
    let group = || Stacking::Group("fare".into());
    let rules = set(vec![
        Rule::new("flights-20", pct(2_000))
            .tags(["flight"])
            .scope(Scope::PerLine)
            .stacking(group()),
        Rule::new("flights-5000", off(5_000))
            .tags(["flight"])
            .scope(Scope::PerLine)
            .stacking(group()),
        Rule::new("hotels-10", pct(1_000))
            .tags(["hotel"])
            .scope(Scope::PerLine)
            .stacking(group()),
    ]);
    let lines = vec![
        CartLine::new("f", "fare", krw(100_000), 1).tagged(["flight"]),
        CartLine::new("h", "room", krw(50_000), 1).tagged(["hotel"]),
    ];
    let q = guest(&Cart::new(Currency::KRW, lines).unwrap(), &[], &rules);
    // Flight: 20 % (20,000) beats 5,000; the hotel rule touches other units and stays.
    assert_eq!(q.total(), krw(150_000 - 20_000 - 5_000));
    assert_eq!(
        q.why_not(&"flights-5000".into()),
        Some(&NotAppliedReason::LostTo {
            winner: "flights-20".into()
        })
    );
    for line in q.lines() {
        assert_eq!(q.shares_of(&line.line).count(), 1);
    }
}

#[test]
fn combinable_with_lists_are_honoured_both_ways() {
    let only_with_b = Stacking::CombinableWith(["b".into()].into());
    let rules = set(vec![
        Rule::new("a", off(1_000)).stacking(only_with_b),
        Rule::new("b", off(2_000)),
        Rule::new("c", off(2_500)),
    ]);
    let q = guest(&cart(&[("l", 10_000, 1)]), &[], &rules);
    // `a` conflicts with `c`: {b, c} takes 4,500 off, {a, b} only 3,000.
    assert_eq!(q.discount(), krw(4_500));
    assert_eq!(
        q.why_not(&"a".into()),
        Some(&NotAppliedReason::LostTo { winner: "c".into() })
    );
}

#[test]
fn buy_three_pay_two_frees_the_cheapest_units() {
    let rules = set(vec![Rule::new(
        "3for2",
        Benefit::BuyNPayM { buy: 3, pay: 2 },
    )]);
    let q = guest(&cart(&[("a", 30_000, 2), ("b", 10_000, 2)]), &[], &rules);
    // 4 units -> one group of 3 -> the cheapest unit (10,000) is free.
    assert_eq!(q.discount(), krw(10_000));
    assert_eq!(q.line(&"b".into()).unwrap().discount, krw(10_000));
    let per_line = set(vec![
        Rule::new("3for2", Benefit::BuyNPayM { buy: 3, pay: 2 }).scope(Scope::PerLine),
    ]);
    let q = guest(&cart(&[("a", 30_000, 2), ("b", 10_000, 2)]), &[], &per_line);
    assert_eq!(q.discount(), krw(0), "no line has 3 units on its own");
    assert_eq!(
        q.why_not(&"3for2".into()),
        Some(&NotAppliedReason::ZeroDiscount)
    );
}

#[test]
fn unit_price_brings_each_unit_down() {
    let rules = set(vec![
        Rule::new("flat", Benefit::UnitPrice { price: krw(9_900) })
            .scope(Scope::PerLine)
            .min_quantity(2),
    ]);
    let q = guest(&cart(&[("a", 15_000, 2), ("b", 5_000, 1)]), &[], &rules);
    assert_eq!(q.total(), krw(9_900 * 2 + 5_000));
    let q = guest(&cart(&[("a", 15_000, 1)]), &[], &rules);
    assert_eq!(
        q.why_not(&"flat".into()),
        Some(&NotAppliedReason::BelowMinQuantity {
            required: 2,
            actual: 1
        })
    );
}

#[test]
fn rounding_policy_table_from_the_docs() {
    let lines = [("a", 1_005, 1), ("b", 1_005, 1), ("c", 1_005, 1)];
    use Granularity::{PerLine, PerOrder};
    let cases = [
        (Rounding::Floor, PerLine, 300, [100, 100, 100]),
        (Rounding::Floor, PerOrder, 301, [101, 100, 100]),
        (Rounding::HalfUp, PerLine, 303, [101, 101, 101]),
        (Rounding::HalfUp, PerOrder, 302, [101, 101, 100]),
    ];
    for (mode, granularity, discount, shares) in cases {
        let policy = QuotePolicy {
            rounding: RoundingPolicy { mode, granularity },
            ..QuotePolicy::default()
        };
        let rules = RuleSet::new(
            vec![Rule::new("ten", pct(1_000)).scope(Scope::PerLine)],
            policy,
        )
        .unwrap();
        let q = guest(&cart(&lines), &[], &rules);
        assert_eq!(q.discount(), krw(discount), "{mode:?} {granularity:?}");
        let got: Vec<i64> = q.lines().iter().map(|l| l.discount.minor()).collect();
        assert_eq!(got, shares, "{mode:?} {granularity:?}");
    }
}

#[test]
fn coupon_order_policy_changes_what_a_percentage_applies_to() {
    let rules = |coupons| {
        RuleSet::new(
            vec![
                Rule::new("auto-10", pct(1_000)),
                Rule::new("coupon-5000", off(5_000)).coupon("C"),
            ],
            QuotePolicy {
                coupons,
                ..QuotePolicy::default()
            },
        )
        .unwrap()
    };
    let c = cart(&[("l", 100_000, 1)]);
    let code = ["C".into()];
    let q = guest(&c, &code, &rules(CouponOrder::AutomaticFirst));
    assert_eq!(q.total(), krw(100_000 - 10_000 - 5_000));
    let q = guest(&c, &code, &rules(CouponOrder::CouponsFirst));
    assert_eq!(q.total(), krw(100_000 - 5_000 - 9_500));
}

#[test]
fn unknown_coupons_and_currency_mismatch_are_reported() {
    let q = guest(
        &cart(&[("l", 40_000, 1)]),
        &["NOPE".into(), "WELCOME".into(), "NOPE".into()],
        &welcome(),
    );
    assert_eq!(q.unknown_coupons(), &[CouponCode::from("NOPE")]);
    let usd = Cart::new(
        Currency::USD,
        vec![CartLine::new(
            "l",
            "x",
            Money::new(100, Currency::USD).unwrap(),
            1,
        )],
    )
    .unwrap();
    assert_eq!(
        quote(&usd, &Customer::guest(), at(DURING_SALE), &[], &welcome()),
        Err(QuoteError::CurrencyMismatch {
            cart: Currency::USD,
            rules: Currency::KRW
        })
    );
}

#[test]
fn rule_sets_load_from_toml_and_json_alike() {
    let toml_text = r#"
        [policy]
        coupons = "coupons_first"
        rounding = { mode = "half_up", granularity = "per_order" }

        [[rules]]
        id = "gold-10"
        description = "GOLD member 10 %"
        benefit = { type = "percentage", percent = 1000 }
        conditions = { grades = ["GOLD"] }
        stacking = "exclusive"

        [[rules]]
        id = "time-sale"
        benefit = { type = "amount_off", amount = { amount = 15000, currency = "KRW" } }
        scope = "per_line"
        stacking = { group = "event" }
        [rules.conditions]
        window = { from = "2026-11-23T09:00:00Z", until = "2026-11-23T12:00:00Z" }
        lines = { tags = ["flight"] }
    "#;
    let from_toml: RuleSet = toml::from_str(toml_text).unwrap();
    let json = serde_json::to_string(&from_toml).unwrap();
    let from_json: RuleSet = serde_json::from_str(&json).unwrap();
    assert_eq!(from_toml, from_json);
    assert_eq!(from_toml.policy().coupons, CouponOrder::CouponsFirst);
    let q = gold_seat(at(DURING_SALE), &from_toml);
    assert_eq!(q.total(), krw(105_000));

    let inverted = toml_text.replace("until = \"2026-11-23T12", "until = \"2026-11-23T08");
    let err = toml::from_str::<RuleSet>(&inverted).unwrap_err();
    assert!(err.to_string().contains("time window is empty"), "{err}");
}

#[test]
fn a_quote_round_trips_through_json_and_still_refunds() {
    let rules = gold_and_time_sale(Stacking::Stackable);
    let q = gold_seat(at(DURING_SALE), &rules);
    let stored = serde_json::to_string(&q).unwrap();
    let back: Quote = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, q);
    assert_eq!(
        back.refund_for(&[RefundLine::whole("seat-12A")]).unwrap(),
        krw(94_500)
    );
    assert_eq!(
        back.refund_for(&[RefundLine::whole("nope")]),
        Err(RefundError::UnknownLine("nope".into()))
    );
    assert!(matches!(
        back.refund_for(&[RefundLine::units("seat-12A", 2, 0)]),
        Err(RefundError::TooManyUnits { .. })
    ));
    assert!(matches!(
        back.refund_for(&[RefundLine::whole("seat-12A"), RefundLine::whole("seat-12A")]),
        Err(RefundError::DuplicateLine(_))
    ));
}
