//! The result of pricing a cart: amounts, and an explanation of every rule, applied or not.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::conditions::TimeWindow;
use super::names::{CouponCode, LineId, MemberGrade, RuleId};
use super::rule::{Benefit, Scope};
use crate::clock::Timestamp;
use crate::money::{Currency, Money};

/// A priced cart that explains itself.
///
/// `total = subtotal - discount`; `discount` is the sum of the applied rules' amounts, and
/// each rule's amount is split over the lines it touched so that the parts add up to it
/// exactly. Store the quote with the order (it is serde-serializable and its shape is
/// stable) and call [`Quote::refund_for`] when lines are refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub(super) currency: Currency,
    pub(super) subtotal: Money,
    pub(super) discount: Money,
    pub(super) total: Money,
    pub(super) lines: Vec<QuotedLine>,
    pub(super) applied: Vec<AppliedRule>,
    pub(super) not_applied: Vec<NotApplied>,
    pub(super) unknown_coupons: Vec<CouponCode>,
    pub(super) selection: Selection,
}

impl Quote {
    /// The currency of every amount in the quote.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Sum of the lines before any discount.
    pub fn subtotal(&self) -> Money {
        self.subtotal
    }

    /// Sum of all applied discounts.
    pub fn discount(&self) -> Money {
        self.discount
    }

    /// What the buyer pays: `subtotal - discount`, never negative.
    pub fn total(&self) -> Money {
        self.total
    }

    /// Every cart line, in cart order, with its share of each discount.
    pub fn lines(&self) -> &[QuotedLine] {
        &self.lines
    }

    /// The rules that took something off, in order of application.
    pub fn applied(&self) -> &[AppliedRule] {
        &self.applied
    }

    /// Every other rule of the set, with the reason it gave nothing, in order of application.
    pub fn not_applied(&self) -> &[NotApplied] {
        &self.not_applied
    }

    /// Presented coupon codes that no rule asks for (a typo, or a coupon of another shop).
    pub fn unknown_coupons(&self) -> &[CouponCode] {
        &self.unknown_coupons
    }

    /// How the applied combination was chosen among conflicting rules.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// The quoted line with this id.
    pub fn line(&self, id: &LineId) -> Option<&QuotedLine> {
        self.lines.iter().find(|l| &l.line == id)
    }

    /// This line's share of each applied rule, in order of application (rules that took
    /// nothing off the line are left out). The shares add up to the line's `discount`.
    pub fn shares_of<'q>(
        &'q self,
        line: &'q LineId,
    ) -> impl Iterator<Item = (&'q RuleId, Money)> + 'q {
        self.applied.iter().flat_map(move |a| {
            a.lines
                .iter()
                .filter(move |s| &s.line == line)
                .map(move |s| (&a.rule, s.amount))
        })
    }

    /// Why the rule with this id gave nothing, if it did.
    pub fn why_not(&self, rule: &RuleId) -> Option<&NotAppliedReason> {
        self.not_applied
            .iter()
            .find(|n| &n.rule == rule)
            .map(|n| &n.reason)
    }
}

/// One cart line as priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuotedLine {
    /// The line's id.
    pub line: LineId,
    /// Price of one unit before discounts.
    pub unit_price: Money,
    /// Number of units.
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub gross: Money,
    /// Sum of this line's shares of the applied rules (see [`Quote::shares_of`]).
    pub discount: Money,
    /// `gross - discount`: what this line costs the buyer, never negative.
    pub net: Money,
}

/// A rule that took something off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedRule {
    /// The rule.
    pub rule: RuleId,
    /// The rule's description, for display.
    pub description: String,
    /// What the rule gives.
    pub benefit: Benefit,
    /// Whether it was computed per line or per order.
    pub scope: Scope,
    /// The conditions it met: why it applied. Empty for an unconditional rule.
    pub because: Vec<Matched>,
    /// What it would have taken off without its cap.
    pub uncapped: Money,
    /// What it took off (at most its cap).
    pub amount: Money,
    /// Its amount split over the lines it took something off; the parts add up to `amount`
    /// exactly.
    pub lines: Vec<LineShare>,
}

/// One line's part of an applied rule's amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LineShare {
    /// The line.
    pub line: LineId,
    /// Its part.
    pub amount: Money,
}

/// A condition an applied rule met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Matched {
    /// The customer's grade is one the rule asks for.
    Grade {
        /// The customer's grade.
        grade: MemberGrade,
    },
    /// `now` is inside the rule's window.
    Window {
        /// The window.
        window: TimeWindow,
    },
    /// The lines in scope reach the minimum.
    MinSubtotal {
        /// The minimum.
        required: Money,
        /// Gross amount of the lines in scope.
        actual: Money,
    },
    /// The lines in scope hold enough units.
    MinQuantity {
        /// The minimum.
        required: u32,
        /// Units in scope.
        actual: u32,
    },
    /// The buyer presented the coupon.
    Coupon {
        /// The code.
        code: CouponCode,
    },
}

/// A rule that gave nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotApplied {
    /// The rule.
    pub rule: RuleId,
    /// Why it gave nothing.
    pub reason: NotAppliedReason,
}

/// Why a rule gave nothing. Conditions are checked in the order of these variants, and the
/// first that fails is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotAppliedReason {
    /// The rule is a coupon and the buyer did not present its code.
    CouponNotPresented {
        /// The code needed.
        code: CouponCode,
    },
    /// The coupon was presented after its validity ended.
    CouponExpired {
        /// End of validity.
        expired_at: Timestamp,
    },
    /// The coupon was presented before its validity starts.
    CouponNotYetValid {
        /// Start of validity.
        valid_from: Timestamp,
    },
    /// An automatic promotion outside its time window.
    OutsideWindow {
        /// The window.
        window: TimeWindow,
    },
    /// The customer's grade is not one the rule asks for.
    GradeMismatch {
        /// The grades the rule asks for.
        required: BTreeSet<MemberGrade>,
        /// The customer's grade (`None` for a guest).
        actual: Option<MemberGrade>,
    },
    /// No cart line is in the rule's scope.
    NoEligibleLine,
    /// The lines in scope hold too few units.
    BelowMinQuantity {
        /// The minimum.
        required: u32,
        /// Units in scope.
        actual: u32,
    },
    /// The lines in scope do not reach the minimum amount.
    BelowMinimum {
        /// The minimum.
        required: Money,
        /// Gross amount of the lines in scope.
        actual: Money,
    },
    /// The rule conflicts with a rule that was kept because the combination with it is better
    /// for the customer (exclusive rules, a shared stack group, a `combinable_with` list).
    LostTo {
        /// The first kept rule, in the order of application, that it conflicts with.
        winner: RuleId,
    },
    /// The rule applied but came to nothing: its lines were already free, or the amount
    /// rounded down to zero.
    ZeroDiscount,
}

/// How the engine chose among conflicting rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Selection {
    /// No applicable rules conflicted.
    NoConflict,
    /// Every maximal compatible combination of the conflicting rules was priced and the best
    /// kept (at most [`EXACT_SEARCH_LIMIT`](super::EXACT_SEARCH_LIMIT) conflicting rules). Of two
    /// combinations worth the same, the one holding the first rule, in the order of
    /// application, that the other lacks wins.
    Exact {
        /// Number of combinations priced.
        combinations: u32,
    },
    /// Too many conflicting rules for an exact search: rules were taken greedily, the one
    /// worth most on its own first, rules worth the same in the order of application.
    Greedy {
        /// Number of conflicting rules.
        conflicting: u32,
    },
}
