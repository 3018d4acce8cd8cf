//! The item rules every SQL store applies the same way: which event a listed item belongs
//! to, what the paid step does with a ticket, what gives a ticket back, and how a hold reports
//! once every item was tried.

use std::collections::HashMap;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, HoldId, OrderId, StockId, TicketId};
use booking_core::machine::{DomainEvent, Ticket, TicketCommand, TicketState};
use booking_core::ports::store::{ItemRef, OrderRecord, StoreError};
use uuid::Uuid;

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// The tickets among `items`, as ids.
pub(crate) fn ticket_ids<'a>(items: impl IntoIterator<Item = &'a ItemRef>) -> Vec<Uuid> {
    items
        .into_iter()
        .filter_map(|item| match item {
            ItemRef::Ticket { ticket } => Some(*ticket.as_uuid()),
            ItemRef::Stock { .. } => None,
        })
        .collect()
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

/// The tickets of `record` in line order, if it is a pending order of lines that are all
/// tickets, none twice: then only the database can find it invalid (an unknown ticket, one of
/// another event), the backends that have one place it on their hot path
/// (`Placing::place_at_once`), and it passes the hold gate (`gate.rs`).
pub(crate) fn distinct_tickets_only(record: &OrderRecord) -> Option<Vec<TicketId>> {
    use booking_core::machine::OrderStateKind;
    if record.lines.is_empty() || record.order.state().kind() != OrderStateKind::Pending {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    record
        .lines
        .iter()
        .map(|l| match l.item {
            ItemRef::Ticket { ticket } if seen.insert(ticket) => Some(ticket),
            ItemRef::Ticket { .. } | ItemRef::Stock { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
