//! When a rule applies: the conditions a cart, a customer and the current time must meet.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::names::{CouponCode, MemberGrade};
use crate::clock::Timestamp;
use crate::money::Money;

/// Everything a rule requires before it gives anything. All present conditions must hold;
/// an absent one (`None`, or [`LineFilter::All`]) always holds.
///
/// In JSON every field is optional:
///
/// ```
/// use booking_core::discount::Conditions;
///
/// let c: Conditions = serde_json::from_str(r#"{
///     "grades": ["GOLD", "VIP"],
///     "window": { "from": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z" },
///     "min_subtotal": { "amount": 30000, "currency": "KRW" },
///     "lines": { "tags": ["flight"] },
///     "min_quantity": 2,
///     "coupon": "WINTER"
/// }"#)?;
/// assert_eq!(c.min_quantity, Some(2));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The customer's grade must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grades: Option<BTreeSet<MemberGrade>>,
    /// The quote's `now` must fall in this window. For a coupon rule this is the coupon's
    /// validity, and falling outside it is reported as expired or not yet valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// The gross amount (before any discount) of the lines in scope must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_subtotal: Option<Money>,
    /// Which cart lines the rule looks at and discounts.
    #[serde(default, skip_serializing_if = "LineFilter::is_all")]
    pub lines: LineFilter,
    /// The lines in scope must hold at least this many units together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_quantity: Option<u32>,
    /// The buyer must present this coupon code; a rule with a code is a *coupon*, one without
    /// is an *automatic promotion*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<CouponCode>,
}

/// A half-open interval of time `[from, until)`; either end may be open.
///
/// Timestamps serialize as RFC 3339 strings (`"2026-11-23T09:00:00Z"`); in TOML write them as
/// quoted strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First instant inside the window; `None` means since always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// First instant after the window; `None` means forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl TimeWindow {
    /// The window `[from, until)`.
    pub const fn between(from: Timestamp, until: Timestamp) -> Self {
        TimeWindow {
            from: Some(from),
            until: Some(until),
        }
    }

    /// Whether `now` is inside: `from <= now < until`.
    ///
    /// ```
    /// use booking_core::clock::Timestamp;
    /// use booking_core::discount::TimeWindow;
    ///
    /// let t = |s: i64| Timestamp::from_second(s).unwrap();
    /// let w = TimeWindow::between(t(100), t(200));
    /// assert!(w.contains(t(100)) && w.contains(t(199)));
    /// assert!(!w.contains(t(200)) && !w.contains(t(99)));
    /// ```
    pub fn contains(&self, now: Timestamp) -> bool {
        self.from.is_none_or(|from| from <= now) && self.until.is_none_or(|until| now < until)
    }

    /// Whether no instant can be inside (`from >= until`).
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.until), (Some(from), Some(until)) if from >= until)
    }
}

/// Which cart lines a rule looks at.
///
/// Serialized as `"all"`, `{"tags": [...]}` or `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineFilter {
    /// Every line of the cart.
    #[default]
    All,
    /// Lines carrying at least one of these tags.
    Tags(BTreeSet<String>),
    /// Lines whose item id is one of these.
    Items(BTreeSet<String>),
}

impl LineFilter {
    /// Whether this filter keeps every line.
    pub fn is_all(&self) -> bool {
        matches!(self, LineFilter::All)
    }

    /// Whether a line with this item id and these tags is in scope.
    pub fn matches(&self, item: &str, tags: &BTreeSet<String>) -> bool {
        match self {
            LineFilter::All => true,
            LineFilter::Tags(wanted) => tags.iter().any(|t| wanted.contains(t)),
            LineFilter::Items(wanted) => wanted.contains(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn windows_are_half_open_and_may_be_open_ended() {
        let open = TimeWindow::default();
        assert!(open.contains(t(0)) && !open.is_empty());
        let since = TimeWindow {
            from: Some(t(10)),
            until: None,
        };
        assert!(!since.contains(t(9)) && since.contains(t(1_000_000)));
        assert!(TimeWindow::between(t(5), t(5)).is_empty());
        assert!(TimeWindow::between(t(6), t(5)).is_empty());
    }

    #[test]
    fn window_serializes_as_rfc3339() {
        let w = TimeWindow::between(t(0), t(86_400));
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(
            json,
            r#"{"from":"1970-01-01T00:00:00Z","until":"1970-01-02T00:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<TimeWindow>(&json).unwrap(), w);
    }

    #[test]
    fn filters_match_tags_or_items() {
        let tags: BTreeSet<String> = ["flight".to_owned(), "economy".to_owned()].into();
        assert!(LineFilter::All.matches("x", &tags));
        let by_tag = LineFilter::Tags(["economy".to_owned()].into());
        assert!(by_tag.matches("x", &tags));
        assert!(!by_tag.matches("x", &BTreeSet::new()));
        let by_item = LineFilter::Items(["KE123".to_owned()].into());
        assert!(by_item.matches("KE123", &BTreeSet::new()));
        assert!(!by_item.matches("KE124", &tags));
        let json = serde_json::to_string(&by_tag).unwrap();
        assert_eq!(json, r#"{"tags":["economy"]}"#);
        assert_eq!(serde_json::to_string(&LineFilter::All).unwrap(), r#""all""#);
    }
}
