//! Records to columns and back, the same on every database: instants as bigint nanoseconds,
//! counts and versions as bigint, states by name, listings and events as JSON text.
//!
//! Each backend reads its rows into the plain values these functions take, so the rules for
//! what a valid stored record is live here once.

use std::collections::{BTreeSet, HashMap};

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, StockId, TicketId};
use booking_core::machine::{
    DomainEvent, Kind, Stock, StockState, Ticket, TicketCommand, TicketState, TicketStateKind as K,
};
use booking_core::money::Money;
use booking_core::ports::store::{ItemRef, OrderRecord, StockListing, StoreError, TicketListing};
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

/// The event of a listed `item`, looked up in the events of the listed tickets and stocks
/// by id, or `NotFound` naming the item: what [`check_lines`] asks of a store.
///
/// [`check_lines`]: booking_core::ports::backend::store::check_lines
pub(crate) fn listed_event(
    item: &ItemRef,
    tickets: &HashMap<Uuid, EventId>,
    stocks: &HashMap<Uuid, EventId>,
) -> Result<EventId, StoreError> {
    match *item {
        ItemRef::Ticket { ticket } => tickets
            .get(ticket.as_uuid())
            .copied()
            .ok_or_else(|| StoreError::not_found("ticket", ticket)),
        ItemRef::Stock { stock, .. } => stocks
            .get(stock.as_uuid())
            .copied()
            .ok_or_else(|| StoreError::not_found("stock", stock)),
    }
}

/// The paid step's rule for one ticket of `order`'s hold `hold` at `now`: held by the order
/// (even past its deadline) it is sold; free again (released, or held by a lapsed hold) it
/// is taken back and sold; anything else is lost (`None`). Returns the sold ticket and the
/// events, in order.
pub(crate) fn sell_or_retake(
    ticket: &Ticket,
    order: OrderId,
    hold: HoldId,
    now: Timestamp,
) -> Option<(Ticket, Vec<DomainEvent>)> {
    let sell = TicketCommand::Sell { order };
    if let Ok(sold) = ticket.apply(sell, now) {
        return Some((sold.next, vec![sold.event]));
    }
    let retake = TicketCommand::Hold {
        order,
        hold,
        expires_at: now,
    };
    let held = ticket.apply(retake, now).ok()?;
    let sold = held.next.apply(sell, now).ok()?;
    Some((sold.next, vec![held.event, sold.event]))
}

/// The command that gives a ticket held by `hold` back when its order is cancelled
/// (`expire == false`) or swept (`expire == true`): `None` if `hold` no longer holds it (another
/// order took it after the hold lapsed).
pub(crate) fn giving_back(
    ticket: &Ticket,
    hold: HoldId,
    expire: bool,
    now: Timestamp,
) -> Option<TicketCommand> {
    match ticket.state() {
        TicketState::Held {
            hold: h,
            expires_at,
            ..
        } if h == hold => Some(if expire && expires_at <= now {
            TicketCommand::Expire
        } else {
            TicketCommand::Release { hold }
        }),
        _ => None,
    }
}

/// What `place_order` reports once every item was tried, as every store reports it: the first
/// refused stock line (short or closed) in line order, else every unavailable ticket (those
/// without an event in `held`), else the events of the hold in line order.
pub(crate) fn placed_events(
    record: &OrderRecord,
    mut held: HashMap<TicketId, DomainEvent>,
    mut stock_events: HashMap<StockId, Vec<DomainEvent>>,
    mut refused: HashMap<StockId, StoreError>,
) -> Result<Vec<DomainEvent>, StoreError> {
    let mut unavailable = Vec::new();
    let mut events = Vec::new();
    for line in &record.lines {
        match line.item {
            ItemRef::Ticket { ticket } => match held.remove(&ticket) {
                Some(event) => events.push(event),
                None => unavailable.push(ticket),
            },
            ItemRef::Stock { stock, .. } => {
                if let Some(e) = refused.remove(&stock) {
                    return Err(e);
                }
                events.extend(stock_events.remove(&stock).unwrap_or_default());
            }
        }
    }
    if unavailable.is_empty() {
        Ok(events)
    } else {
        Err(StoreError::Unavailable {
            tickets: unavailable,
        })
    }
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
    fn an_unlisted_item_is_not_found_and_a_listed_one_has_its_event() {
        let (ticket, stock, event) = (TicketId::new(), StockId::new(), EventId::new());
        let tickets = HashMap::from([(*ticket.as_uuid(), event)]);
        let stocks = HashMap::new();
        let item = ItemRef::Ticket { ticket };
        assert_eq!(listed_event(&item, &tickets, &stocks).unwrap(), event);
        let item = ItemRef::Stock { stock, quantity: 1 };
        assert!(matches!(
            listed_event(&item, &tickets, &stocks),
            Err(StoreError::NotFound { what: "stock", .. })
        ));
    }

    #[test]
    fn the_paid_step_sells_its_own_ticket_retakes_a_free_one_and_loses_a_taken_one() {
        let (order, hold, other) = (OrderId::new(), HoldId::new(), OrderId::new());
        let now = Timestamp::from_second(1_800_000_600).unwrap();
        let held = |order, hold| TicketState::Held {
            order,
            hold,
            expires_at: Timestamp::from_second(1_800_000_000).unwrap(),
        };
        let own = Ticket::from_parts(TicketId::new(), held(order, hold), 1);
        let (sold, events) = sell_or_retake(&own, order, hold, now).unwrap();
        assert_eq!(sold.state(), TicketState::Sold { order });
        assert_eq!(events.len(), 1);
        let lapsed = Ticket::from_parts(TicketId::new(), held(other, HoldId::new()), 1);
        assert_eq!(
            sell_or_retake(&lapsed, order, hold, now).unwrap().1.len(),
            2
        );
        let taken = Ticket::from_parts(TicketId::new(), TicketState::Sold { order: other }, 2);
        assert!(sell_or_retake(&taken, order, hold, now).is_none());
        assert_eq!(
            giving_back(&own, hold, true, now),
            Some(TicketCommand::Expire)
        );
        assert_eq!(
            giving_back(&own, hold, false, now),
            Some(TicketCommand::Release { hold })
        );
        assert_eq!(giving_back(&lapsed, hold, true, now), None);
    }

    #[test]
    fn a_held_ticket_without_its_deadline_is_corrupt() {
        let id = Uuid::now_v7();
        let order = Some(Uuid::now_v7());
        assert!(ticket_of(id, "Held", order, order, None, 1).is_err());
        assert!(ticket_of(id, "Gone", None, None, None, 1).is_err());
    }
}
