//! Why a rule or a rule set was refused at load.

use super::names::RuleId;
use crate::money::Currency;

/// Why a set of rules was refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// One rule is malformed; fix its definition.
    #[error("rule {rule}: {problem}")]
    Invalid {
        /// The rule at fault.
        rule: RuleId,
        /// What is wrong with it.
        problem: RuleProblem,
    },
    /// Two rules share an id; ids must be unique.
    #[error("two rules have the id {0}")]
    DuplicateId(RuleId),
    /// A `combinable_with` list names a rule that is not in the set.
    #[error("rule {rule} is combinable with {unknown}, which is not in the rule set")]
    UnknownRule {
        /// The rule holding the list.
        rule: RuleId,
        /// The id it names.
        unknown: RuleId,
    },
    /// The rules mention amounts in more than one currency; one set serves one currency.
    #[error("rule {rule} uses {found} but the rule set is in {expected}")]
    CurrencyMismatch {
        /// The rule at fault.
        rule: RuleId,
        /// The currency of the first amount in the set.
        expected: Currency,
        /// The currency this rule uses.
        found: Currency,
    },
}

/// What is wrong with a single rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleProblem {
    /// The id is empty or blank.
    #[error("the id is empty")]
    EmptyId,
    /// The time window's `from` is not before its `until`.
    #[error("the time window is empty (from is not before until)")]
    EmptyWindow,
    /// The grade condition lists no grade, so nobody could ever qualify.
    #[error("the grade condition lists no grade")]
    NoGrades,
    /// A tag or item filter lists nothing, so no line could ever match.
    #[error("the line filter lists no tag or item")]
    EmptyLineFilter,
    /// A minimum quantity of zero; leave it out instead.
    #[error("the minimum quantity is zero")]
    ZeroMinQuantity,
    /// The coupon code is empty or blank.
    #[error("the coupon code is empty")]
    EmptyCouponCode,
    /// A cap of zero would make the rule give nothing.
    #[error("the cap is zero")]
    ZeroCap,
    /// A percentage of zero gives nothing.
    #[error("the percentage is zero")]
    ZeroPercent,
    /// An amount off of zero gives nothing.
    #[error("the amount off is zero")]
    ZeroAmount,
    /// A unit price only makes sense per line.
    #[error("a unit price benefit must have scope per_line")]
    UnitPricePerOrder,
    /// `buy` / `pay` do not describe a real deal (needs `1 <= pay < buy`).
    #[error("buy {buy} pay {pay} is not a deal (needs 1 <= pay < buy)")]
    BadBuyPay {
        /// Group size given.
        buy: u32,
        /// Units paid given.
        pay: u32,
    },
}
