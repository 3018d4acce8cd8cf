//! Rows to records and back: instants, counts, state names, listings and the outbox.

use std::collections::BTreeSet;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, StockId, TicketId};
use booking_core::machine::{
    DomainEvent, Kind, Stock, StockState, Ticket, TicketState, TicketStateKind as K,
};
use booking_core::money::Money;
use booking_core::ports::store::{OutboxEntry, StockListing, StoreError, TicketListing};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{Db, DbError};

/// What a listing keeps beside its machine, stored as jsonb.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Listing {
    item: String,
    tags: BTreeSet<String>,
    price: Money,
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

/// `at` as nanoseconds since the Unix epoch, the store's instant column type.
pub(crate) fn nanos(at: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(at.as_nanosecond()).map_err(|_| {
        StoreError::Invalid(format!(
            "instant {at} is outside what the store keeps (years 1678 to 2262)"
        ))
    })
}

/// A stored instant.
pub(crate) fn instant(ns: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(ns)).map_err(|e| DbError::corrupt("instant", e).into())
}

/// A version or count as the bigint column stores it.
pub(crate) fn to_db(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} exceeds the store's range")))
}

/// A stored non-negative bigint as `T`.
pub(crate) fn from_db<T: TryFrom<i64>>(n: i64, what: &'static str) -> Result<T, StoreError> {
    T::try_from(n).map_err(|_| DbError::corrupt(what, format!("{n} out of range")).into())
}

/// The state kind stored under `name`.
pub(crate) fn kind_named<K: Kind>(name: &str, what: &'static str) -> Result<K, StoreError> {
    K::ALL
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| DbError::corrupt(what, format!("unknown state {name:?}")).into())
}

/// A ticket's state as its columns: state name, order, hold, deadline.
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

/// The ticket stored in `row`, whose ticket columns carry the names `cols` gives
/// (`[id, state, order_id, hold_id, expires_ns, version]`).
pub(crate) fn ticket_in(row: &PgRow, cols: [&str; 6]) -> Result<Ticket, StoreError> {
    let [id, state, order, hold, expires, version] = cols;
    let id = TicketId::from_uuid(row.try_get(id).db()?);
    let name: &str = row.try_get(state).db()?;
    let order: Option<Uuid> = row.try_get(order).db()?;
    let hold: Option<Uuid> = row.try_get(hold).db()?;
    let expires: Option<i64> = row.try_get(expires).db()?;
    let version = from_db(row.try_get(version).db()?, "ticket version")?;
    let missing = || {
        StoreError::from(DbError::corrupt(
            "ticket",
            format!("{id}: {name} lacks a column"),
        ))
    };
    let state = match kind_named::<K>(name, "ticket")? {
        K::Available => TicketState::Available,
        K::Blocked => TicketState::Blocked,
        K::Held => TicketState::Held {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
            hold: HoldId::from_uuid(hold.ok_or_else(missing)?),
            expires_at: instant(expires.ok_or_else(missing)?)?,
        },
        K::Sold => TicketState::Sold {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
        },
        K::Refunded => TicketState::Refunded {
            order: OrderId::from_uuid(order.ok_or_else(missing)?),
        },
    };
    Ok(Ticket::from_parts(id, state, version))
}

/// The column names of a `tickets` row.
pub(crate) const TICKET: [&str; 6] = [
    "id",
    "state",
    "order_id",
    "hold_id",
    "expires_ns",
    "version",
];

/// A `tickets` row (with `event_id` and `listing`) as a listing.
pub(crate) fn ticket_listing(row: &PgRow) -> Result<TicketListing, StoreError> {
    let Json(listing): Json<Listing> = row.try_get("listing").db()?;
    Ok(TicketListing {
        ticket: ticket_in(row, TICKET)?,
        event: EventId::from_uuid(row.try_get("event_id").db()?),
        item: listing.item,
        tags: listing.tags,
        price: listing.price,
    })
}

/// The stock whose counts `row` carries (`id, state, capacity, held, sold, version`).
pub(crate) fn stock_in(row: &PgRow) -> Result<Stock, StoreError> {
    let id = StockId::from_uuid(row.try_get("id").db()?);
    let state: StockState = kind_named(row.try_get("state").db()?, "stock")?;
    let count =
        |col: &str| -> Result<u32, StoreError> { from_db(row.try_get(col).db()?, "stock count") };
    Stock::from_parts(
        id,
        state,
        count("capacity")?,
        count("held")?,
        count("sold")?,
        from_db(row.try_get("version").db()?, "stock version")?,
    )
    .map_err(|e| DbError::corrupt("stock", format!("{id}: {e}")).into())
}

/// A `stocks` row (with `event_id` and `listing`) as a listing.
pub(crate) fn stock_listing(row: &PgRow) -> Result<StockListing, StoreError> {
    let Json(listing): Json<Listing> = row.try_get("listing").db()?;
    Ok(StockListing {
        stock: stock_in(row)?,
        event: EventId::from_uuid(row.try_get("event_id").db()?),
        item: listing.item,
        tags: listing.tags,
        price: listing.price,
    })
}

/// Appends `events` to the outbox, in order, as part of the caller's transaction.
pub(crate) async fn append_outbox(
    conn: &mut PgConnection,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let json: Vec<String> = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Invalid(format!("event not serializable: {e}")))?;
    // WITH ORDINALITY keeps the events' order in the identity values they get.
    sqlx::query(
        "INSERT INTO outbox (event, recorded_ns)
         SELECT e::jsonb, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
    )
    .bind(json)
    .bind(nanos(now)?)
    .execute(conn)
    .await
    .db()?;
    Ok(())
}

/// An `outbox` row as an entry.
pub(crate) fn outbox_entry(row: &PgRow) -> Result<OutboxEntry, StoreError> {
    let Json(event): Json<DomainEvent> = row.try_get("event").db()?;
    Ok(OutboxEntry {
        seq: from_db(row.try_get("seq").db()?, "outbox seq")?,
        event,
        recorded_at: instant(row.try_get("recorded_ns").db()?)?,
    })
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
    fn a_held_ticket_stores_its_order_hold_and_deadline() {
        let (order, hold) = (OrderId::new(), HoldId::new());
        let expires_at = Timestamp::from_second(1_800_000_600).unwrap();
        let state = TicketState::Held {
            order,
            hold,
            expires_at,
        };
        let c = TicketColumns::of(&Ticket::from_parts(TicketId::new(), state, 3)).unwrap();
        assert_eq!(c.state, "Held");
        assert_eq!(c.order, Some(*order.as_uuid()));
        assert_eq!(c.hold, Some(*hold.as_uuid()));
        assert_eq!(c.expires_ns, Some(nanos(expires_at).unwrap()));
        assert_eq!(c.version, 3);
    }
}
