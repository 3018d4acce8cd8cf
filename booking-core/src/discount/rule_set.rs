//! A validated set of rules together with the policy that applies them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::names::RuleId;
use super::policy::{CouponOrder, QuotePolicy};
use super::rule::{Rule, Scope, Stacking};
use super::rule_error::RuleError;
use crate::money::Currency;

/// Rules that passed validation, in their order of application.
///
/// Build one with [`RuleSet::new`] or deserialize it (validation runs either way):
///
/// ```
/// use booking_core::discount::RuleSet;
///
/// let set: RuleSet = serde_json::from_str(r#"{
///     "policy": { "coupons": "automatic_first", "rounding": { "mode": "half_up" } },
///     "rules": [
///         { "id": "gold-10", "conditions": { "grades": ["GOLD"] },
///           "benefit": { "type": "percentage", "percent": 1000 } }
///     ]
/// }"#)?;
/// assert_eq!(set.rules().len(), 1);
///
/// let dup = r#"{ "rules": [
///     { "id": "a", "benefit": { "type": "percentage", "percent": 1 } },
///     { "id": "a", "benefit": { "type": "percentage", "percent": 2 } } ] }"#;
/// assert!(serde_json::from_str::<RuleSet>(dup).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRuleSet", into = "RawRuleSet")]
pub struct RuleSet {
    /// Sorted by order of application (see [`RuleSet::application_key`]).
    rules: Vec<Rule>,
    policy: QuotePolicy,
    currency: Option<Currency>,
}

/// The serialized shape of a [`RuleSet`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleSet {
    #[serde(default)]
    policy: QuotePolicy,
    rules: Vec<Rule>,
}

impl TryFrom<RawRuleSet> for RuleSet {
    type Error = RuleError;

    fn try_from(raw: RawRuleSet) -> Result<Self, Self::Error> {
        RuleSet::new(raw.rules, raw.policy)
    }
}

impl From<RuleSet> for RawRuleSet {
    fn from(set: RuleSet) -> Self {
        RawRuleSet {
            policy: set.policy,
            rules: set.rules,
        }
    }
}

impl RuleSet {
    /// Validates every rule and the set as a whole: unique ids, `combinable_with` lists that
    /// name existing rules, a single currency across all amounts.
    pub fn new(mut rules: Vec<Rule>, policy: QuotePolicy) -> Result<Self, RuleError> {
        let mut ids = BTreeSet::new();
        let mut currency: Option<Currency> = None;
        for rule in &rules {
            rule.validate()?;
            if !ids.insert(&rule.id) {
                return Err(RuleError::DuplicateId(rule.id.clone()));
            }
            for amount in rule.amounts() {
                match currency {
                    None => currency = Some(amount.currency()),
                    Some(expected) if expected != amount.currency() => {
                        return Err(RuleError::CurrencyMismatch {
                            rule: rule.id.clone(),
                            expected,
                            found: amount.currency(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        for rule in &rules {
            if let Stacking::CombinableWith(others) = &rule.stacking
                && let Some(unknown) = others.iter().find(|id| !ids.contains(id))
            {
                return Err(RuleError::UnknownRule {
                    rule: rule.id.clone(),
                    unknown: unknown.clone(),
                });
            }
        }
        rules.sort_by_cached_key(|r| application_key(r, policy.coupons));
        Ok(RuleSet {
            rules,
            policy,
            currency,
        })
    }

    /// The rules, in order of application: line-level before order-level; within each, the
    /// [`CouponOrder`] of the policy; then higher priority first; then by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The policy the rules are applied with.
    pub fn policy(&self) -> QuotePolicy {
        self.policy
    }

    /// The currency of the amounts in the rules, or `None` if they mention none (only
    /// percentages and buy-N-pay-M), in which case they serve any currency.
    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The rule with this id.
    pub fn get(&self, id: &RuleId) -> Option<&Rule> {
        self.rules.iter().find(|r| &r.id == id)
    }
}

/// The sort key that defines the order of application; unique per rule because ids are.
fn application_key(rule: &Rule, coupons: CouponOrder) -> (u8, u8, std::cmp::Reverse<i32>, RuleId) {
    let phase = match rule.scope {
        Scope::PerLine => 0,
        Scope::PerOrder => 1,
    };
    let kind = match (coupons, rule.is_coupon()) {
        (CouponOrder::ByPriority, _)
        | (CouponOrder::AutomaticFirst, false)
        | (CouponOrder::CouponsFirst, true) => 0,
        (CouponOrder::AutomaticFirst, true) | (CouponOrder::CouponsFirst, false) => 1,
    };
    (
        phase,
        kind,
        std::cmp::Reverse(rule.priority),
        rule.id.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discount::Benefit;
    use crate::money::{BasisPoints, Money};

    fn pct(id: &str) -> Rule {
        Rule::new(
            id,
            Benefit::Percentage {
                percent: BasisPoints::new(100).unwrap(),
            },
        )
    }

    fn ids(set: &RuleSet) -> Vec<&str> {
        set.rules().iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn set_level_checks() {
        assert_eq!(
            RuleSet::new(vec![pct("a"), pct("a")], QuotePolicy::default()),
            Err(RuleError::DuplicateId("a".into()))
        );
        let lonely = pct("a").stacking(Stacking::CombinableWith(["b".into()].into()));
        assert_eq!(
            RuleSet::new(vec![lonely], QuotePolicy::default()),
            Err(RuleError::UnknownRule {
                rule: "a".into(),
                unknown: "b".into()
            })
        );
        let krw = Rule::new(
            "k",
            Benefit::AmountOff {
                amount: Money::new(1, Currency::KRW).unwrap(),
            },
        );
        let usd = pct("u").cap(Money::new(1, Currency::USD).unwrap());
        assert!(matches!(
            RuleSet::new(vec![krw.clone(), usd], QuotePolicy::default()),
            Err(RuleError::CurrencyMismatch { .. })
        ));
        let set = RuleSet::new(vec![krw, pct("p")], QuotePolicy::default()).unwrap();
        assert_eq!(set.currency(), Some(Currency::KRW));
        assert!(set.get(&"p".into()).is_some());
    }

    #[test]
    fn order_of_application_is_documented_and_listing_independent() {
        let rules = vec![
            pct("order-coupon").coupon("C").priority(9),
            pct("order-auto"),
            pct("line-low").scope(Scope::PerLine).priority(-1),
            pct("line-high").scope(Scope::PerLine).priority(3),
            pct("line-tie-b").scope(Scope::PerLine),
            pct("line-tie-a").scope(Scope::PerLine),
        ];
        let set = RuleSet::new(rules.clone(), QuotePolicy::default()).unwrap();
        let expected = [
            "line-high",
            "line-tie-a",
            "line-tie-b",
            "line-low",
            "order-auto",
            "order-coupon",
        ];
        assert_eq!(ids(&set), expected);
        let mut reversed = rules.clone();
        reversed.reverse();
        assert_eq!(
            ids(&RuleSet::new(reversed, QuotePolicy::default()).unwrap()),
            expected
        );
        let coupons_first = QuotePolicy {
            coupons: CouponOrder::CouponsFirst,
            ..QuotePolicy::default()
        };
        let set = RuleSet::new(rules, coupons_first).unwrap();
        assert_eq!(ids(&set)[4..], ["order-coupon", "order-auto"]);
    }
}
