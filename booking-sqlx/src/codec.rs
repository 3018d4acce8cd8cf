//! Records to columns and back, the same on every database: instants as bigint nanoseconds,
//! counts and versions as bigint, states by name, listings and events as JSON text, orders
//! and payments in booking-core's versioned stored form
//! ([`stored`](booking_core::ports::backend::stored)).
//!
//! Each backend reads its rows into the plain values these functions take, so the rules for
//! what a valid stored record is live here once.

use std::collections::BTreeSet;

use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, OrderId, StockId, TicketId};
use booking_core::machine::{
    DomainEvent, Kind, Stock, StockState, Ticket, TicketState, TicketStateKind as K,
};
use booking_core::money::Money;
use booking_core::ports::backend::stored::{
    StoredJson, decode_order, decode_payment, encode_order, encode_payment,
};
use booking_core::ports::store::{
    OrderRecord, PaymentRecord, StockListing, StoreError, TicketListing,
};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::DbError;

/// What a listing keeps beside its machine, stored as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Listing {
    pub(crate) item: String,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) price: Money,
}

impl Listing {
    /// A ticket listing's item, tags and price.
    pub(crate) fn of_ticket(l: &TicketListing) -> Json<Listing> {
        Json(Listing {
            item: l.item.clone(),
            tags: l.tags.clone(),
            price: l.price,
        })
    }

    /// A stock listing's item, tags and price.
    pub(crate) fn of_stock(l: &StockListing) -> Json<Listing> {
        Json(Listing {
            item: l.item.clone(),
            tags: l.tags.clone(),
            price: l.price,
        })
    }
}

/// `at` as nanoseconds since the Unix epoch, the stores' instant column type.
pub(crate) fn nanos(at: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(at.as_nanosecond()).map_err(|_| {
        StoreError::Invalid(format!(
            "instant {at} is outside what the store keeps (years 1678 to 2262)"
        ))
    })
}

/// A stored instant.
pub(crate) fn instant(ns: i64) -> Result<Timestamp, DbError> {
    Timestamp::from_nanosecond(i128::from(ns)).map_err(|e| DbError::corrupt("instant", e))
}

/// A cursor or limit as a bigint bind, saturating.
pub(crate) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A version or count as the bigint column stores it.
pub(crate) fn to_db(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} exceeds the store's range")))
}

/// A stored non-negative bigint as `T`.
pub(crate) fn from_db<T: TryFrom<i64>>(n: i64, what: &'static str) -> Result<T, DbError> {
    T::try_from(n).map_err(|_| DbError::corrupt(what, format!("{n} out of range")))
}

/// The state kind stored under `name`.
pub(crate) fn kind_named<K: Kind>(name: &str, what: &'static str) -> Result<K, DbError> {
    K::ALL
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| DbError::corrupt(what, format!("unknown state {name:?}")))
}

/// A ticket's state as its columns: state name, order, hold, deadline, version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TicketColumns {
    pub(crate) state: &'static str,
    pub(crate) order: Option<Uuid>,
    pub(crate) hold: Option<Uuid>,
    pub(crate) expires_ns: Option<i64>,
    pub(crate) version: i64,
}

impl TicketColumns {
    /// The columns that store `ticket`.
    pub(crate) fn of(ticket: &Ticket) -> Result<Self, StoreError> {
        let state = ticket.state();
        let (order, hold, expires_ns) = match state {
            TicketState::Available | TicketState::Blocked => (None, None, None),
            TicketState::Held {
                order,
                hold,
                expires_at,
            } => (
                Some(*order.as_uuid()),
                Some(*hold.as_uuid()),
                Some(nanos(expires_at)?),
            ),
            TicketState::Sold { order } | TicketState::Refunded { order } => {
                (Some(*order.as_uuid()), None, None)
            }
        };
        Ok(TicketColumns {
            state: state.kind().name(),
            order,
            hold,
            expires_ns,
            version: to_db(ticket.version())?,
        })
    }
}

/// The ticket `id` stored as `(state, order_id, hold_id, expires_ns, version)` columns.
pub(crate) fn ticket_of(
    id: Uuid,
    state: &str,
    order: Option<Uuid>,
    hold: Option<Uuid>,
    expires_ns: Option<i64>,
    version: i64,
) -> Result<Ticket, DbError> {
    let id = TicketId::from_uuid(id);
    let missing = || DbError::corrupt("ticket", format!("{id}: {state} lacks a column"));
    let state = match kind_named::<K>(state, "ticket")? {
        K::Available => TicketState::Available,
        K::Blocked => TicketState::Blocked,
        K::Held => TicketState::Held {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
            hold: HoldId::from_uuid(hold.ok_or_else(missing)?),
            expires_at: instant(expires_ns.ok_or_else(missing)?)?,
        },
        K::Sold => TicketState::Sold {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
        },
        K::Refunded => TicketState::Refunded {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
        },
    };
    Ok(Ticket::from_parts(
        id,
        state,
        from_db(version, "ticket version")?,
    ))
}

/// The stock `id` stored as `(state, capacity, held, sold, version)` columns.
pub(crate) fn stock_of(
    id: Uuid,
    state: &str,
    [capacity, held, sold]: [i64; 3],
    version: i64,
) -> Result<Stock, DbError> {
    let id = StockId::from_uuid(id);
    let state: StockState = kind_named(state, "stock")?;
    let count = |n: i64| from_db::<u32>(n, "stock count");
    Stock::from_parts(
        id,
        state,
        count(capacity)?,
        count(held)?,
        count(sold)?,
        from_db(version, "stock version")?,
    )
    .map_err(|e| DbError::corrupt("stock", format!("{id}: {e}")))
}

/// `events` as JSON texts, in order, for the outbox.
pub(crate) fn events_json(events: &[DomainEvent]) -> Result<Vec<String>, StoreError> {
    events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Invalid(format!("event not serializable: {e}")))
}

/// An order as its `record` column stores it (JSON text; PostgreSQL casts it to `json`).
pub(crate) fn order_json(record: &OrderRecord) -> Result<String, StoreError> {
    encode_order(record).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A payment as its `record` column stores it.
pub(crate) fn payment_json(record: &PaymentRecord) -> Result<String, StoreError> {
    encode_payment(record).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The order a `record` column stores, in any stored version.
pub(crate) fn order_of(stored: impl StoredJson) -> Result<OrderRecord, DbError> {
    decode_order(stored).map_err(|e| DbError::corrupt("order", e))
}

/// The payment a `record` column stores, in any stored version.
pub(crate) fn payment_of(stored: impl StoredJson) -> Result<PaymentRecord, DbError> {
    decode_payment(stored).map_err(|e| DbError::corrupt("payment", e))
}

#[cfg(test)]
mod tests {
    use booking_core::machine::{PaymentState, TicketStateKind};

    use super::*;

    #[test]
    fn instants_round_trip_to_the_nanosecond() {
        let at = Timestamp::from_nanosecond(1_800_000_000_123_456_789).unwrap();
        assert_eq!(instant(nanos(at).unwrap()).unwrap(), at);
    }

    #[test]
    fn instants_beyond_bigint_nanoseconds_are_invalid() {
        assert!(matches!(nanos(Timestamp::MAX), Err(StoreError::Invalid(_))));
        assert!(matches!(to_db(u64::MAX), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn state_names_round_trip_and_unknown_names_are_refused() {
        for &state in PaymentState::ALL {
            assert_eq!(
                kind_named::<PaymentState>(state.name(), "payment").unwrap(),
                state
            );
        }
        assert!(kind_named::<TicketStateKind>("Lost", "ticket").is_err());
    }

    #[test]
    fn a_held_ticket_round_trips_through_its_columns() {
        let (order, hold) = (OrderId::new(), HoldId::new());
        let expires_at = Timestamp::from_second(1_800_000_600).unwrap();
        let state = TicketState::Held {
            order,
            hold,
            expires_at,
        };
        let ticket = Ticket::from_parts(TicketId::new(), state, 3);
        let c = TicketColumns::of(&ticket).unwrap();
        assert_eq!(c.state, "Held");
        assert_eq!(c.order, Some(*order.as_uuid()));
        assert_eq!(c.hold, Some(*hold.as_uuid()));
        assert_eq!(c.expires_ns, Some(nanos(expires_at).unwrap()));
        let back = ticket_of(
            *ticket.id().as_uuid(),
            c.state,
            c.order,
            c.hold,
            c.expires_ns,
            c.version,
        )
        .unwrap();
        assert_eq!(back, ticket);
    }

    #[test]
    fn a_held_ticket_without_its_deadline_is_corrupt() {
        let id = Uuid::now_v7();
        let order = Some(Uuid::now_v7());
        assert!(ticket_of(id, "Held", order, order, None, 1).is_err());
        assert!(ticket_of(id, "Gone", None, None, None, 1).is_err());
    }
}
