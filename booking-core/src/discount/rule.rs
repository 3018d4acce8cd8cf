//! A discount rule as data: its conditions, what it gives, at which level, how it stacks.
//!
//! Rules are plain serde values, so they load from JSON or TOML as they are written by a
//! merchant's back office; [`Rule::validate`] (called by [`RuleSet::new`](super::RuleSet::new)
//! and by deserializing a [`RuleSet`](super::RuleSet)) refuses definitions that make no sense.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::conditions::{Conditions, LineFilter, TimeWindow};
use super::names::{CouponCode, MemberGrade, RuleId};
use super::rule_error::{RuleError, RuleProblem};
use crate::clock::Timestamp;
use crate::money::{BasisPoints, Money};

/// One discount rule.
///
/// ```
/// use booking_core::discount::{Benefit, Rule, Scope};
/// use booking_core::money::{BasisPoints, Currency, Money};
///
/// // "GOLD members get 10 % off the order"
/// let gold = Rule::new("gold-10", Benefit::Percentage { percent: BasisPoints::new(1_000)? })
///     .grades(["GOLD"]);
/// // "5,000 off with coupon WELCOME on orders of 30,000 or more"
/// let welcome = Rule::new("welcome", Benefit::AmountOff { amount: Money::new(5_000, Currency::KRW)? })
///     .coupon("WELCOME")
///     .min_subtotal(Money::new(30_000, Currency::KRW)?);
/// assert!(gold.validate().is_ok() && welcome.validate().is_ok());
/// assert_eq!(welcome.scope, Scope::PerOrder);
/// # Ok::<(), booking_core::money::MoneyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique, stable id.
    pub id: RuleId,
    /// Text shown to the buyer next to the discount (e.g. "GOLD member 10 %").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What must hold for the rule to apply.
    #[serde(default)]
    pub conditions: Conditions,
    /// What the rule gives.
    pub benefit: Benefit,
    /// Whether the benefit is computed per line or once on the order.
    #[serde(default)]
    pub scope: Scope,
    /// The most this rule may take off in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Money>,
    /// Higher applies earlier within its phase (see the module docs); ties go by id.
    #[serde(default)]
    pub priority: i32,
    /// How the rule combines with others.
    #[serde(default)]
    pub stacking: Stacking,
}

/// What a rule takes off.
///
/// Serialized with a `type` tag: `{"type": "percentage", "percent": 1000}`,
/// `{"type": "amount_off", "amount": {"amount": 5000, "currency": "KRW"}}`,
/// `{"type": "unit_price", "price": {...}}`, `{"type": "buy_n_pay_m", "buy": 3, "pay": 2}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Benefit {
    /// A percentage of the (already discounted) amount in scope.
    Percentage {
        /// The percentage, at most 100 %.
        percent: BasisPoints,
    },
    /// A fixed amount off: off each unit with [`Scope::PerLine`], off the order once with
    /// [`Scope::PerOrder`]. Never more than what is left to pay.
    AmountOff {
        /// The amount taken off.
        amount: Money,
    },
    /// Each unit in scope costs at most `price` (only [`Scope::PerLine`]).
    UnitPrice {
        /// The price each unit is brought down to.
        price: Money,
    },
    /// For every `buy` units in scope the buyer pays `pay`: the cheapest `buy - pay` of each
    /// group are free ("cheapest N free" is `buy = N + paid`). With [`Scope::PerLine`] units
    /// are grouped within each line, with [`Scope::PerOrder`] across all lines in scope.
    BuyNPayM {
        /// Size of a group, at least 2.
        buy: u32,
        /// Units paid for in each group, at least 1 and less than `buy`.
        pay: u32,
    },
}

/// The level at which a benefit is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Computed on each line in scope; applied before every order-level rule.
    PerLine,
    /// Computed once on the lines in scope together, then allocated to them in proportion to
    /// what they still cost.
    #[default]
    PerOrder,
}

/// How a rule combines with the other rules that apply to the same cart.
///
/// Serialized as `"stackable"`, `"exclusive"`, `{"group": "member"}` or
/// `{"combinable_with": ["rule-a", "rule-b"]}`. When rules conflict, the engine keeps the
/// combination that is best for the customer (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stacking {
    /// Combines with every rule except exclusive ones.
    #[default]
    Stackable,
    /// Applies alone: if it is chosen no other rule applies.
    Exclusive,
    /// At most one rule of the named group discounts any given unit: two rules of one group
    /// conflict when their lines in scope overlap.
    Group(String),
    /// Combines only with the listed rules (and they must allow it too).
    CombinableWith(BTreeSet<RuleId>),
}

impl Rule {
    /// A rule with no conditions, per-order scope, no cap, priority 0, stackable.
    pub fn new(id: impl Into<RuleId>, benefit: Benefit) -> Self {
        Rule {
            id: id.into(),
            description: String::new(),
            conditions: Conditions::default(),
            benefit,
            scope: Scope::PerOrder,
            cap: None,
            priority: 0,
            stacking: Stacking::Stackable,
        }
    }

    /// Sets the text shown to the buyer.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Requires the customer's grade to be one of `grades`.
    pub fn grades<G: Into<MemberGrade>>(mut self, grades: impl IntoIterator<Item = G>) -> Self {
        self.conditions.grades = Some(grades.into_iter().map(Into::into).collect());
        self
    }

    /// Requires `now` in `[from, until)`.
    pub fn window(mut self, from: Timestamp, until: Timestamp) -> Self {
        self.conditions.window = Some(TimeWindow::between(from, until));
        self
    }

    /// Requires the gross amount of the lines in scope to be at least `min`.
    pub fn min_subtotal(mut self, min: Money) -> Self {
        self.conditions.min_subtotal = Some(min);
        self
    }

    /// Restricts the rule to lines carrying one of `tags`.
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.conditions.lines = LineFilter::Tags(tags.into_iter().map(Into::into).collect());
        self
    }

    /// Restricts the rule to lines whose item id is one of `items`.
    pub fn items<T: Into<String>>(mut self, items: impl IntoIterator<Item = T>) -> Self {
        self.conditions.lines = LineFilter::Items(items.into_iter().map(Into::into).collect());
        self
    }

    /// Requires at least `min` units in scope.
    pub fn min_quantity(mut self, min: u32) -> Self {
        self.conditions.min_quantity = Some(min);
        self
    }

    /// Makes this a coupon rule: it applies only when `code` is presented.
    pub fn coupon(mut self, code: impl Into<CouponCode>) -> Self {
        self.conditions.coupon = Some(code.into());
        self
    }

    /// Sets the level at which the benefit is computed.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Caps the rule's total discount at `cap`.
    pub fn cap(mut self, cap: Money) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Sets the priority (higher applies earlier within its phase).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets how the rule stacks with others.
    pub fn stacking(mut self, stacking: Stacking) -> Self {
        self.stacking = stacking;
        self
    }

    /// Whether the rule needs a coupon code.
    pub fn is_coupon(&self) -> bool {
        self.conditions.coupon.is_some()
    }

    /// Checks the rule on its own (a [`RuleSet`](super::RuleSet) also checks rules against
    /// each other). Returns the first problem found.
    pub fn validate(&self) -> Result<(), RuleError> {
        let bad = |problem: RuleProblem| {
            Err(RuleError::Invalid {
                rule: self.id.clone(),
                problem,
            })
        };
        let c = &self.conditions;
        if self.id.as_str().trim().is_empty() {
            return bad(RuleProblem::EmptyId);
        }
        if c.window.is_some_and(|w| w.is_empty()) {
            return bad(RuleProblem::EmptyWindow);
        }
        if c.grades.as_ref().is_some_and(BTreeSet::is_empty) {
            return bad(RuleProblem::NoGrades);
        }
        let empty_filter = match &c.lines {
            LineFilter::All => false,
            LineFilter::Tags(set) | LineFilter::Items(set) => set.is_empty(),
        };
        if empty_filter {
            return bad(RuleProblem::EmptyLineFilter);
        }
        if c.min_quantity == Some(0) {
            return bad(RuleProblem::ZeroMinQuantity);
        }
        if c.coupon
            .as_ref()
            .is_some_and(|code| code.as_str().trim().is_empty())
        {
            return bad(RuleProblem::EmptyCouponCode);
        }
        if self.cap.is_some_and(Money::is_zero) {
            return bad(RuleProblem::ZeroCap);
        }
        match self.benefit {
            Benefit::Percentage { percent } if percent.get() == 0 => bad(RuleProblem::ZeroPercent),
            Benefit::AmountOff { amount } if amount.is_zero() => bad(RuleProblem::ZeroAmount),
            Benefit::UnitPrice { .. } if self.scope == Scope::PerOrder => {
                bad(RuleProblem::UnitPricePerOrder)
            }
            Benefit::BuyNPayM { buy, pay } if pay == 0 || pay >= buy => {
                bad(RuleProblem::BadBuyPay { buy, pay })
            }
            _ => Ok(()),
        }
    }

    /// Every amount of money in the rule, to check they share one currency.
    pub(crate) fn amounts(&self) -> impl Iterator<Item = Money> {
        let benefit = match self.benefit {
            Benefit::AmountOff { amount } => Some(amount),
            Benefit::UnitPrice { price } => Some(price),
            Benefit::Percentage { .. } | Benefit::BuyNPayM { .. } => None,
        };
        [benefit, self.cap, self.conditions.min_subtotal]
            .into_iter()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn krw(n: i64) -> Money {
        Money::new(n, Currency::KRW).unwrap()
    }

    fn problem(rule: &Rule) -> RuleProblem {
        match rule.validate() {
            Err(RuleError::Invalid { problem, .. }) => problem,
            other => panic!("expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn nonsense_rules_are_refused_with_the_reason() {
        let pct = |bps| Benefit::Percentage {
            percent: BasisPoints::new(bps).unwrap(),
        };
        let t = |s| Timestamp::from_second(s).unwrap();
        assert_eq!(problem(&Rule::new(" ", pct(10))), RuleProblem::EmptyId);
        assert_eq!(problem(&Rule::new("r", pct(0))), RuleProblem::ZeroPercent);
        assert_eq!(
            problem(&Rule::new("r", pct(10)).window(t(10), t(10))),
            RuleProblem::EmptyWindow
        );
        assert_eq!(
            problem(&Rule::new("r", pct(10)).window(t(11), t(10))),
            RuleProblem::EmptyWindow
        );
        let none: [&str; 0] = [];
        assert_eq!(
            problem(&Rule::new("r", pct(10)).grades(none)),
            RuleProblem::NoGrades
        );
        assert_eq!(
            problem(&Rule::new("r", pct(10)).tags(none)),
            RuleProblem::EmptyLineFilter
        );
        assert_eq!(
            problem(&Rule::new("r", pct(10)).min_quantity(0)),
            RuleProblem::ZeroMinQuantity
        );
        assert_eq!(
            problem(&Rule::new("r", pct(10)).coupon("")),
            RuleProblem::EmptyCouponCode
        );
        assert_eq!(
            problem(&Rule::new("r", pct(10)).cap(krw(0))),
            RuleProblem::ZeroCap
        );
        let off = Benefit::AmountOff { amount: krw(0) };
        assert_eq!(problem(&Rule::new("r", off)), RuleProblem::ZeroAmount);
        let unit = Benefit::UnitPrice { price: krw(100) };
        assert_eq!(
            problem(&Rule::new("r", unit)),
            RuleProblem::UnitPricePerOrder
        );
        assert!(
            Rule::new("r", unit)
                .scope(Scope::PerLine)
                .validate()
                .is_ok()
        );
        for (buy, pay) in [(3, 3), (2, 5), (1, 0), (0, 0), (4, 0)] {
            let b = Benefit::BuyNPayM { buy, pay };
            assert_eq!(
                problem(&Rule::new("r", b)),
                RuleProblem::BadBuyPay { buy, pay }
            );
        }
        assert!(
            Rule::new("r", Benefit::BuyNPayM { buy: 3, pay: 2 })
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn percent_over_100_and_negative_amounts_fail_to_load() {
        let too_much = r#"{"id":"r","benefit":{"type":"percentage","percent":10001}}"#;
        let err = serde_json::from_str::<Rule>(too_much).unwrap_err();
        assert!(err.to_string().contains("more than 100 %"), "{err}");
        let negative =
            r#"{"id":"r","benefit":{"type":"amount_off","amount":{"amount":-1,"currency":"KRW"}}}"#;
        assert!(serde_json::from_str::<Rule>(negative).is_err());
        let typo = r#"{"id":"r","benefit":{"type":"percentage","percent":10},"priorty":1}"#;
        assert!(
            serde_json::from_str::<Rule>(typo).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_rule_round_trips_through_json() {
        let rule = Rule::new(
            "sale",
            Benefit::AmountOff {
                amount: krw(15_000),
            },
        )
        .description("time sale")
        .tags(["flight"])
        .scope(Scope::PerLine)
        .cap(krw(30_000))
        .priority(5)
        .stacking(Stacking::Group("event".into()));
        let json = serde_json::to_string(&rule).unwrap();
        assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
    }
}
