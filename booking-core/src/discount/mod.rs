//! The discount engine: rules as data, a deterministic [`quote`], and quotes that explain
//! themselves and refund exactly.
//!
//! Pure and synchronous: nothing here does I/O or reads the clock; `now` is an argument.
//!
//! # Model
//!
//! A [`Rule`] has [`Conditions`] (member grades, a time window `[from, until)`, a minimum
//! subtotal, a [`LineFilter`] by tags or item ids, a minimum quantity, a coupon code), a
//! [`Benefit`] (percentage, amount off, unit price, buy-N-pay-M), a [`Scope`] (per line or per
//! order), an optional cap, a priority and a [`Stacking`] mode. A [`RuleSet`] validates the
//! rules ([`RuleError`]) and fixes their order of application together with a
//! [`QuotePolicy`]. Rules are serde values, so a rule set loads from JSON or TOML.
//!
//! # Order of application
//!
//! 1. Per-line rules, then per-order rules.
//! 2. Within each phase, automatic promotions then coupons ([`CouponOrder::AutomaticFirst`],
//!    the default), coupons first, or priority only — as the policy says.
//! 3. Then higher `priority` first, then rule id: listing order never matters.
//!
//! Each rule works on what the lines still cost after the rules before it; conditions
//! (minimum subtotal and so on) are checked on the undiscounted cart.
//!
//! # Stacking
//!
//! See [`EXACT_SEARCH_LIMIT`] for how conflicting rules (exclusive, same stack group on the
//! same units, `combinable_with` lists) are resolved: the combination best for the customer
//! wins, searched exactly up to that many conflicting rules and greedily beyond.
//!
//! # Example
//!
//! ```
//! use booking_core::clock::Timestamp;
//! use booking_core::discount::{quote, Benefit, Cart, CartLine, Customer, Rule, RuleSet, Stacking};
//! use booking_core::money::{BasisPoints, Currency, Money};
//!
//! let krw = |n| Money::new(n, Currency::KRW);
//! let rules = RuleSet::new(vec![
//!     Rule::new("gold-10", Benefit::Percentage { percent: BasisPoints::new(1_000)? }).grades(["GOLD"]),
//!     Rule::new("time-sale", Benefit::AmountOff { amount: krw(15_000)? }),
//! ], Default::default())?;
//! let cart = Cart::new(Currency::KRW, vec![CartLine::new("seat-1", "ICN-CJU", krw(120_000)?, 1)])?;
//! let q = quote(&cart, &Customer::member("GOLD"), Timestamp::UNIX_EPOCH, &[], &rules)?;
//! // Both apply; in id order the 10 % comes first: 120,000 - 12,000 - 15,000.
//! assert_eq!(q.total(), krw(93_000)?);
//! assert_eq!(q.applied().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cart;
mod conditions;
mod eligibility;
mod engine;
mod names;
mod policy;
mod pricing;
mod quote;
mod refund;
mod rule;
mod rule_error;
mod rule_set;
mod selection;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod seed_cases;

pub use cart::{Cart, CartError, CartLine, Customer};
pub use conditions::{Conditions, LineFilter, TimeWindow};
pub use engine::{QuoteError, quote};
pub use names::{CouponCode, LineId, MemberGrade, RuleId};
pub use policy::{CouponOrder, Granularity, QuotePolicy, RoundingPolicy};
pub use quote::{
    AppliedRule, LineShare, Matched, NotApplied, NotAppliedReason, Quote, QuotedLine, Selection,
};
pub use refund::{RefundError, RefundLine};
pub use rule::{Benefit, Rule, Scope, Stacking};
pub use rule_error::{RuleError, RuleProblem};
pub use rule_set::RuleSet;
pub use selection::EXACT_SEARCH_LIMIT;
