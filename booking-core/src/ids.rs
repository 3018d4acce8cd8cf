//! Typed identifiers: one newtype per kind of thing, each a UUID v7.
//!
//! UUID v7 starts with a millisecond timestamp, so new ids sort by creation time and keep
//! database indexes append-friendly. Each kind of id is its own type, so an [`OrderId`] can never
//! be passed where a [`PaymentId`] is expected:
//!
//! ```compile_fail
//! use booking_core::ids::{OrderId, PaymentId};
//! fn cancel(_payment: PaymentId) {}
//! cancel(OrderId::new());
//! ```
//!
//! Ids print and parse as the hyphenated UUID text and serialize as that string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The text given to an id's `FromStr` was not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {input:?}: expected a UUID")]
pub struct ParseIdError {
    /// Which kind of id was being parsed, e.g. `"order"`.
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            #[allow(clippy::new_without_default)] // a Default that mints a random id would surprise
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (for ids that come from a database or another system).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// What kind of id this is, e.g. `"order"`.
            pub const KIND: &'static str = $kind;
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| ParseIdError {
                    kind: $kind,
                    input: s.to_owned(),
                })
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

define_id!(
    /// A sellable event: a concert, a flight, a sale.
    EventId, "event"
);
define_id!(
    /// One sellable unit: a seat, or one unit of a ticket class.
    TicketId, "ticket"
);
define_id!(
    /// A counted inventory: general-admission capacity, product stock, a coupon budget.
    StockId, "stock"
);
define_id!(
    /// One buyer's order.
    OrderId, "order"
);
define_id!(
    /// One attempt to collect an order's amount.
    PaymentId, "payment"
);
define_id!(
    /// A buyer or other user.
    UserId, "user"
);
define_id!(
    /// One hold placed on tickets or stock.
    HoldId, "hold"
);
define_id!(
    /// A coupon definition with an issuance budget.
    CouponId, "coupon"
);
define_id!(
    /// A domain event written to the outbox.
    DomainEventId, "domain event"
);
define_id!(
    /// A place in a waiting room. Hard to guess (74 random bits) and bound to one user.
    AdmissionToken, "admission token"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_serde() {
        let id = OrderId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<OrderId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<OrderId>(&json).unwrap(), id);
    }

    #[test]
    fn new_ids_are_v7_and_time_ordered() {
        let a = TicketId::new();
        let b = TicketId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "v7 ids minted later sort later");
    }

    #[test]
    fn bad_text_is_a_typed_error() {
        let err = "not-a-uuid".parse::<PaymentId>().unwrap_err();
        assert_eq!(err.kind, "payment");
        assert_eq!(err.input, "not-a-uuid");
        assert!(err.to_string().contains("payment"));
    }
}
