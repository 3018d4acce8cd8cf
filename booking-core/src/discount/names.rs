//! The short names the discount engine matches on: rule ids, member grades, coupon codes and
//! cart line ids.
//!
//! Each is a string newtype so that a coupon code can never be passed where a member grade is
//! expected. They serialize as plain strings and compare exactly (case-sensitive): normalise
//! user input (trim, upper-case) before building them if your codes are case-insensitive.
//! The text is shared (`Arc<str>`), so the many copies a quote holds cost no allocation.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps `text` as it is.
            pub fn new(text: impl Into<Arc<str>>) -> Self {
                Self(text.into())
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.into())
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text.into())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_name!(
    /// A rule's stable identifier, chosen by whoever writes the rules (e.g. `"gold-10"`).
    ///
    /// Ids are unique within a [`RuleSet`](super::RuleSet) and break ties in the order of
    /// application, so a quote never depends on the order rules are listed in.
    RuleId
);
string_name!(
    /// A member grade such as `"GOLD"`, as the customer's account knows it.
    MemberGrade
);
string_name!(
    /// A coupon code the buyer presents at checkout, e.g. `"WELCOME5000"`.
    CouponCode
);
string_name!(
    /// A cart line's stable identifier (a ticket id, a seat label, an order-line number).
    ///
    /// A [`Quote`](super::Quote) keys its allocations by line id, and
    /// [`Quote::refund_for`](super::Quote::refund_for) takes line ids, so the id must stay the
    /// same between quoting and refunding.
    LineId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_strings_in_serde() {
        let code = CouponCode::from("SAVE5");
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""SAVE5""#);
        let back: CouponCode = serde_json::from_str(r#""SAVE5""#).unwrap();
        assert_eq!(back, code);
        assert_eq!(code.to_string(), "SAVE5");
        assert_ne!(CouponCode::from("save5"), code, "codes compare exactly");
    }
}
