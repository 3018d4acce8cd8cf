//! Tests of `selection`.

use crate::clock::Timestamp;
use crate::discount::{
    Benefit, Cart, CartLine, Customer, NotAppliedReason, QuotePolicy, RefundLine, Rule, RuleId,
    RuleSet, Selection, Stacking, quote,
};
use crate::money::{Currency, Money};

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

/// `n` exclusive rules taking 1,000, 2,000, ... off, plus one stackable 100 off.
fn exclusives(n: i64) -> RuleSet {
    let mut rules: Vec<Rule> = (1..=n)
        .map(|i| {
            Rule::new(
                format!("x{i:02}"),
                Benefit::AmountOff {
                    amount: krw(i * 1_000),
                },
            )
            .stacking(Stacking::Exclusive)
        })
        .collect();
    rules.push(Rule::new("small", Benefit::AmountOff { amount: krw(100) }));
    rule_set(rules)
}

fn priced(rules: &RuleSet) -> crate::discount::Quote {
    let cart = Cart::new(
        Currency::KRW,
        vec![CartLine::new("l", "x", krw(100_000), 1)],
    )
    .unwrap();
    quote(&cart, &Customer::guest(), Timestamp::UNIX_EPOCH, &[], rules).unwrap()
}

#[test]
fn exact_search_up_to_the_limit_then_greedy() {
    // 12 exclusives + 1 stackable = 13 conflicting rules: over the limit.
    let q = priced(&exclusives(12));
    assert_eq!(q.selection(), Selection::Greedy { conflicting: 13 });
    assert_eq!(q.discount(), krw(12_000));
    // 11 exclusives + 1 stackable = 12: exact, 12 single-rule combinations priced.
    let q = priced(&exclusives(11));
    assert_eq!(q.selection(), Selection::Exact { combinations: 12 });
    assert_eq!(q.discount(), krw(11_000));
    assert_lost_to(&q, "small", "x11");
}

#[test]
fn exact_search_prefers_two_small_rules_over_one_larger() {
    let group = || Stacking::Group("g".into());
    let rules = rule_set(vec![
        Rule::new("big", Benefit::AmountOff { amount: krw(5_000) }).stacking(Stacking::Exclusive),
        Rule::new("a", Benefit::AmountOff { amount: krw(3_000) }).stacking(group()),
        Rule::new("b", Benefit::AmountOff { amount: krw(2_500) }),
    ]);
    let q = priced(&rules);
    assert_eq!(q.discount(), krw(5_500));
    assert_eq!(q.applied().len(), 2);
}

fn rule_set(rules: Vec<Rule>) -> RuleSet {
    RuleSet::new(rules, QuotePolicy::default()).unwrap()
}

fn assert_lost_to(q: &crate::discount::Quote, loser: &str, winner: &str) {
    assert_eq!(
        q.why_not(&loser.into()),
        Some(&NotAppliedReason::LostTo {
            winner: winner.into()
        })
    );
}

fn amount_off(id: &str, amount: i64, priority: i32) -> Rule {
    Rule::new(
        id,
        Benefit::AmountOff {
            amount: krw(amount),
        },
    )
    .priority(priority)
}

fn combinable_with(id: &str) -> Stacking {
    Stacking::CombinableWith([RuleId::from(id)].into())
}

/// The ids of the applied rules, in the order of application.
fn applied(q: &crate::discount::Quote) -> Vec<&str> {
    q.applied().iter().map(|a| a.rule.as_str()).collect()
}

/// Rules named against their order of application (higher priority applies first), so a
/// tie-break by id or by listing would pick differently.
#[test]
fn a_pair_with_an_earlier_rule_beats_a_single_later_rule_worth_the_same() {
    let early = || amount_off("z-early", 3_000, 2).tags(["seat"]);
    let middle = || amount_off("m-middle", 5_000, 1).stacking(Stacking::Exclusive);
    let late = || amount_off("a-late", 2_000, 0);
    let cart = Cart::new(
        Currency::KRW,
        vec![
            CartLine::new("seat", "seat", krw(50_000), 1).tagged(["seat"]),
            CartLine::new("meal", "meal", krw(40_000), 1),
        ],
    )
    .unwrap();
    for listing in [
        vec![early(), middle(), late()],
        vec![late(), middle(), early()],
        vec![middle(), late(), early()],
    ] {
        let rules = rule_set(listing);
        let q = quote(
            &cart,
            &Customer::guest(),
            Timestamp::UNIX_EPOCH,
            &[],
            &rules,
        )
        .unwrap();
        // {z-early, a-late} and {m-middle} both take 5,000 off.
        assert_eq!(q.selection(), Selection::Exact { combinations: 2 });
        assert_eq!(q.discount(), krw(5_000));
        assert_eq!(applied(&q), ["z-early", "a-late"]);
        assert_lost_to(&q, "m-middle", "z-early");
        // The tie decides what each line refunds: 3,000 on the seat, then 2,000 split
        // 47,000 : 40,000 = 1,080 + 920. The single rule would have split 5,000 as
        // 2,778 + 2,222, refunding 47,222 for the seat.
        let refund = |line: &str| q.refund_for(&[RefundLine::whole(line)]).unwrap();
        assert_eq!(refund("seat"), krw(45_920));
        assert_eq!(refund("meal"), krw(39_080));
    }
}

#[test]
fn of_two_pairs_worth_the_same_the_one_with_the_first_rule_wins() {
    // first + fourth and second + third are the only compatible pairs; both take 5,000.
    let rules = rule_set(vec![
        amount_off("first", 1_000, 4).stacking(combinable_with("fourth")),
        amount_off("second", 2_000, 3).stacking(combinable_with("third")),
        amount_off("third", 3_000, 2).stacking(combinable_with("second")),
        amount_off("fourth", 4_000, 1).stacking(combinable_with("first")),
    ]);
    let q = priced(&rules);
    assert_eq!(q.selection(), Selection::Exact { combinations: 2 });
    assert_eq!(q.discount(), krw(5_000));
    assert_eq!(applied(&q), ["first", "fourth"]);
}

#[test]
fn of_two_single_rules_worth_the_same_the_earlier_wins() {
    let rules = rule_set(vec![
        amount_off("alpha", 4_000, 0).stacking(Stacking::Exclusive),
        amount_off("omega", 4_000, 1).stacking(Stacking::Exclusive),
    ]);
    let q = priced(&rules);
    assert_eq!(applied(&q), ["omega"]);
    assert_lost_to(&q, "alpha", "omega");
}

#[test]
fn a_larger_discount_still_beats_an_earlier_rule() {
    let rules = rule_set(vec![
        amount_off("early", 3_000, 2),
        amount_off("middle", 5_001, 1).stacking(Stacking::Exclusive),
        amount_off("late", 2_000, 0),
    ]);
    assert_eq!(applied(&priced(&rules)), ["middle"]);
}

#[test]
fn the_greedy_pass_ranks_rules_worth_the_same_in_the_order_of_application() {
    // 13 exclusive rules worth 1,000 each: over the limit. The one applied first wins,
    // whichever id it has.
    for (reversed, winner) in [(false, "x00"), (true, "x12")] {
        let rules: Vec<Rule> = (0..13)
            .map(|i: i32| {
                let priority = if reversed { i } else { -i };
                amount_off(&format!("x{i:02}"), 1_000, priority).stacking(Stacking::Exclusive)
            })
            .collect();
        let q = priced(&rule_set(rules));
        assert_eq!(q.selection(), Selection::Greedy { conflicting: 13 });
        assert_eq!(applied(&q), [winner]);
    }
}
