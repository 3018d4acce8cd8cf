//! The [`BookingStore`](crate::ports::store::BookingStore) suite, part one: holding inventory.
//!
//! All-or-nothing holds, lazy expiry, stock capacity, availability, invalid requests and the
//! races for seats and stock. Orders and payments are in [`store_orders`](super::store_orders),
//! expiry and the outbox in [`store_upkeep`](super::store_upkeep).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use super::Backend;
use super::fixtures::{pending_order, seats, stock};
use crate::clock::{Clock, Timestamp};
use crate::discount::LineId;
use crate::ids::{EventId, OrderId, StockId, TicketId, UserId};
use crate::machine::TicketState;
use crate::ports::store::{ItemRef, OrderLine, OrderRecord, StoreError};

const TEN_MINUTES: Duration = Duration::from_secs(600);
const ONE_SECOND: Duration = Duration::from_secs(1);

pub(super) fn later(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap()
}

pub(super) fn earlier(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_sub(by).unwrap()
}

pub(super) fn ticket(id: TicketId) -> ItemRef {
    ItemRef::Ticket { ticket: id }
}

pub(super) fn units(stock: StockId, quantity: u32) -> ItemRef {
    ItemRef::Stock { stock, quantity }
}

/// A pending order of a new buyer for `items`, placed at `now`, expiring at `until`.
fn order(event: EventId, items: &[ItemRef], now: Timestamp, until: Timestamp) -> OrderRecord {
    pending_order(event, UserId::new(), items, 10_000, now, until)
}

/// The ticket's stored state.
pub(super) async fn ticket_state(b: &Backend, id: TicketId) -> TicketState {
    b.store.ticket(id).await.unwrap().ticket.state()
}

/// The order the ticket is held or sold for, if any.
pub(super) async fn holder(b: &Backend, id: TicketId) -> Option<OrderId> {
    match ticket_state(b, id).await {
        TicketState::Held { order, .. } | TicketState::Sold { order } => Some(order),
        _ => None,
    }
}

/// Units of `id` available at `now`, by the store's availability of `event`.
pub(super) async fn stock_available(
    b: &Backend,
    event: EventId,
    id: StockId,
    now: Timestamp,
) -> u32 {
    let a = b.store.availability(event, now).await.unwrap();
    a.stock_available
        .iter()
        .find(|(s, _)| *s == id)
        .map(|(_, n)| *n)
        .unwrap()
}

/// `record` with one more line for `item`, beside the quote (a malformed request).
fn with_extra_line(mut record: OrderRecord, item: ItemRef) -> OrderRecord {
    record.lines.push(OrderLine {
        line: LineId::new("extra"),
        item,
        refunded_units: 0,
    });
    record
}

/// A stock's stored `(held, sold)` counts (held includes lapsed holds not yet reclaimed).
pub(super) async fn held_and_sold(b: &Backend, id: StockId) -> (u32, u32) {
    let stored = b.store.stock(id).await.unwrap().stock;
    (stored.held(), stored.sold())
}

/// How many outbox entries the store holds.
pub(super) async fn outbox_len(b: &Backend) -> usize {
    b.store.outbox(0, u32::MAX).await.unwrap().len()
}

/// Holding several seats and stock is all or nothing: when one seat is taken, no seat and no
/// unit is held and the error lists exactly the unavailable seats; when the stock is short,
/// no seat is held and the error names the stock.
pub async fn store_hold_is_all_or_nothing(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 3, 10_000).await;
    let ga = stock(&b, event, 5, 10_000).await;
    b.store
        .place_order(&order(event, &[ticket(ids[1])], now, until), now)
        .await
        .unwrap();
    let events_before = outbox_len(&b).await;

    let mut items: Vec<ItemRef> = ids.iter().map(|&id| ticket(id)).collect();
    items.push(units(ga, 2));
    let second = order(event, &items, now, until);
    match b.store.place_order(&second, now).await {
        Err(StoreError::Unavailable { tickets }) => assert_eq!(tickets, vec![ids[1]]),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let third = order(
        event,
        &[ticket(ids[0]), ticket(ids[2]), units(ga, 6)],
        now,
        until,
    );
    match b.store.place_order(&third, now).await {
        Err(StoreError::InsufficientStock {
            stock,
            requested,
            available,
        }) => assert_eq!((stock, requested, available), (ga, 6, 5)),
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
    for id in [ids[0], ids[2]] {
        assert_eq!(holder(&b, id).await, None, "nothing held on failure");
    }
    assert_eq!(stock_available(&b, event, ga, now).await, 5);
    for failed in [&second, &third] {
        assert!(matches!(
            b.store.order(failed.order.id()).await,
            Err(StoreError::NotFound { .. })
        ));
    }
    assert_eq!(
        outbox_len(&b).await,
        events_before,
        "no events from failures"
    );
}

/// A lapsed ticket hold (`expires_at <= now`) is free to a new order without any sweep; one
/// second before, it is not.
pub async fn store_lapsed_ticket_hold_is_free_without_sweep(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, 10_000).await[0];
    let first = order(event, &[ticket(seat)], now, until);
    b.store.place_order(&first, now).await.unwrap();

    let almost = earlier(until, ONE_SECOND);
    let early = order(event, &[ticket(seat)], almost, later(almost, TEN_MINUTES));
    assert!(matches!(
        b.store.place_order(&early, almost).await,
        Err(StoreError::Unavailable { .. })
    ));
    let second = order(event, &[ticket(seat)], until, later(until, TEN_MINUTES));
    b.store.place_order(&second, until).await.unwrap();
    assert_eq!(holder(&b, seat).await, Some(second.order.id()));
}

/// Units of a lapsed stock hold are free to a new order without any sweep; one second
/// before, they are not.
pub async fn store_lapsed_stock_hold_is_free_without_sweep(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 5, 10_000).await;
    b.store
        .place_order(&order(event, &[units(ga, 5)], now, until), now)
        .await
        .unwrap();

    let almost = earlier(until, ONE_SECOND);
    let early = order(event, &[units(ga, 1)], almost, later(almost, TEN_MINUTES));
    assert!(matches!(
        b.store.place_order(&early, almost).await,
        Err(StoreError::InsufficientStock { available: 0, .. })
    ));
    let second = order(event, &[units(ga, 5)], until, later(until, TEN_MINUTES));
    b.store.place_order(&second, until).await.unwrap();
    let stored = b.store.stock(ga).await.unwrap().stock;
    assert_eq!(
        stored.held() + stored.sold(),
        5,
        "the lapsed units were reused"
    );
    assert_eq!(stock_available(&b, event, ga, until).await, 0);
}

/// A hold of `n` succeeds only while `held + sold + n <= capacity`; a short stock is a typed
/// error naming what was asked and what was left.
pub async fn store_stock_capacity_is_exact(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 10, 10_000).await;
    for n in [4, 6] {
        b.store
            .place_order(&order(event, &[units(ga, n)], now, until), now)
            .await
            .unwrap();
    }
    match b
        .store
        .place_order(&order(event, &[units(ga, 1)], now, until), now)
        .await
    {
        Err(StoreError::InsufficientStock {
            stock,
            requested,
            available,
        }) => assert_eq!((stock, requested, available), (ga, 1, 0)),
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
    let stored = b.store.stock(ga).await.unwrap().stock;
    assert_eq!(
        (stored.capacity(), stored.held(), stored.sold()),
        (10, 10, 0)
    );
}

/// Availability counts lapsed holds as free, without any sweep.
pub async fn store_availability_counts_lapsed_holds_as_free(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 3, 10_000).await;
    let ga = stock(&b, event, 10, 10_000).await;
    b.store
        .place_order(
            &order(event, &[ticket(ids[0]), units(ga, 4)], now, until),
            now,
        )
        .await
        .unwrap();
    let held = b.store.availability(event, now).await.unwrap();
    assert_eq!((held.tickets_available, held.tickets_total), (2, 3));
    assert_eq!(held.stock_available, vec![(ga, 6)]);
    let lapsed = b.store.availability(event, until).await.unwrap();
    assert_eq!((lapsed.tickets_available, lapsed.tickets_total), (3, 3));
    assert_eq!(lapsed.stock_available, vec![(ga, 10)]);
    let unknown = b.store.availability(EventId::new(), now).await.unwrap();
    assert_eq!((unknown.tickets_available, unknown.tickets_total), (0, 0));
    assert!(unknown.stock_available.is_empty());
}

/// Malformed orders and unknown ids are typed errors that hold nothing, insert nothing and
/// write no events.
pub async fn store_invalid_requests_change_nothing(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let (event, other_event) = (EventId::new(), EventId::new());
    let ids = seats(&b, event, 2, 10_000).await;
    let foreign = seats(&b, other_event, 1, 10_000).await[0];
    let ga = stock(&b, event, 5, 10_000).await;
    let placed = order(event, &[ticket(ids[1])], now, until);
    b.store.place_order(&placed, now).await.unwrap();
    let events_before = outbox_len(&b).await;

    let mut empty = order(event, &[ticket(ids[0])], now, until);
    empty.lines.clear();
    let invalid = [
        ("an empty order", empty),
        (
            "a ticket of another event",
            order(event, &[ticket(ids[0]), ticket(foreign)], now, until),
        ),
        (
            "a ticket twice",
            with_extra_line(order(event, &[ticket(ids[0])], now, until), ticket(ids[0])),
        ),
        (
            "a stock twice",
            with_extra_line(order(event, &[units(ga, 1)], now, until), units(ga, 1)),
        ),
        (
            "zero units",
            with_extra_line(order(event, &[ticket(ids[0])], now, until), units(ga, 0)),
        ),
    ];
    for (what, record) in &invalid {
        match b.store.place_order(record, now).await {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }
    let unknown = [
        (
            "an unknown ticket",
            order(
                event,
                &[ticket(ids[0]), ticket(TicketId::new())],
                now,
                until,
            ),
        ),
        (
            "an unknown stock",
            order(
                event,
                &[ticket(ids[0]), units(StockId::new(), 1)],
                now,
                until,
            ),
        ),
    ];
    for (what, record) in &unknown {
        match b.store.place_order(record, now).await {
            Err(StoreError::NotFound { .. }) => {}
            other => panic!("{what}: expected NotFound, got {other:?}"),
        }
    }
    let mut again = order(event, &[ticket(ids[0])], now, until);
    again.order = placed.order.clone();
    assert!(matches!(
        b.store.place_order(&again, now).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    for (_, record) in invalid.iter().chain(&unknown) {
        assert!(matches!(
            b.store.order(record.order.id()).await,
            Err(StoreError::NotFound { .. })
        ));
    }
    assert_eq!(holder(&b, ids[0]).await, None, "nothing held");
    assert_eq!(holder(&b, ids[1]).await, Some(placed.order.id()));
    assert_eq!(stock_available(&b, event, ga, now).await, 5);
    assert_eq!(
        outbox_len(&b).await,
        events_before,
        "no events from failures"
    );

    // Listing an id twice adds nothing.
    let listed = b.store.ticket(ids[0]).await.unwrap();
    let fresh = crate::machine::Ticket::new(TicketId::new());
    let batch = [
        crate::ports::store::TicketListing {
            ticket: fresh,
            ..listed.clone()
        },
        listed,
    ];
    assert!(matches!(
        b.store.add_tickets(&batch).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        b.store.ticket(fresh.id()).await,
        Err(StoreError::NotFound { .. })
    ));
    let ga_listing = b.store.stock(ga).await.unwrap();
    assert!(matches!(
        b.store.add_stock(&ga_listing).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        b.store.stock(StockId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.store.order(OrderId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// 64 tasks race for one seat: exactly one wins; every other is told exactly that seat is
/// unavailable, stores no order and writes no event. Repeated.
pub async fn store_sixty_four_tasks_one_seat(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    for _ in 0..20 {
        let event = EventId::new();
        let seat = seats(&b, event, 1, 10_000).await[0];
        let events_before = outbox_len(&b).await;
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let store = b.store.clone();
                let record = order(event, &[ticket(seat)], now, until);
                tokio::spawn(async move {
                    let placed = store.place_order(&record, now).await;
                    (record.order.id(), placed)
                })
            })
            .collect();
        let (mut winners, mut losers) = (HashSet::new(), Vec::new());
        for t in tasks {
            match t.await.unwrap() {
                (order, Ok(())) => assert!(winners.insert(order)),
                (order, Err(StoreError::Unavailable { tickets })) => {
                    assert_eq!(tickets, vec![seat]);
                    losers.push(order);
                }
                (_, Err(e)) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one winner");
        assert_eq!(holder(&b, seat).await, winners.into_iter().next());
        for order in losers {
            let stored = b.store.order(order).await;
            assert!(
                matches!(stored, Err(StoreError::NotFound { .. })),
                "a loser stores nothing, got {stored:?}"
            );
        }
        assert_eq!(
            outbox_len(&b).await,
            events_before + 1,
            "the winner's hold only"
        );
    }
}

/// 1,000 tasks race for 100 seats, ten for each seat, some also wanting its neighbour:
/// exactly 100 seats end up held, none twice, each by an order that won it. Repeated.
pub async fn store_thousand_tasks_hundred_seats(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    for _ in 0..5 {
        let event = EventId::new();
        let ids = seats(&b, event, 100, 10_000).await;
        let tasks: Vec<_> = (0..1_000_usize)
            .map(|i| {
                let store = b.store.clone();
                let mut wanted = vec![ids[i % 100]];
                if i % 3 == 0 {
                    wanted.push(ids[(i + 1) % 100]);
                }
                let items: Vec<ItemRef> = wanted.iter().map(|&id| ticket(id)).collect();
                let record = order(event, &items, now, until);
                tokio::spawn(async move {
                    let placed = store.place_order(&record, now).await;
                    (record.order.id(), wanted, placed)
                })
            })
            .collect();
        let mut won: Vec<(OrderId, Vec<TicketId>)> = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (order, wanted, Ok(())) => won.push((order, wanted)),
                (_, wanted, Err(StoreError::Unavailable { tickets })) => {
                    assert!(!tickets.is_empty());
                    assert!(tickets.iter().all(|t| wanted.contains(t)));
                }
                (_, _, Err(e)) => panic!("unexpected {e}"),
            }
        }
        let mut taken = HashSet::new();
        for (order, wanted) in &won {
            for seat in wanted {
                assert!(taken.insert(*seat), "seat {seat} held twice");
                assert_eq!(holder(&b, *seat).await, Some(*order));
            }
        }
        // Every seat was wanted by ten tasks, so every seat has a holder.
        assert_eq!(taken.len(), 100, "exactly 100 seats held");
        let left = b.store.availability(event, now).await.unwrap();
        assert_eq!(left.tickets_available, 0);
    }
}

/// A stock of 100 units, all held by lapsed holds, and 1,000 concurrent buyers of one unit:
/// exactly 100 get one, the rest are told the stock is short. Repeated.
pub async fn store_thousand_buyers_hundred_units(b: Backend) {
    let start = b.clock.now();
    let now = later(start, TEN_MINUTES);
    for _ in 0..5 {
        let event = EventId::new();
        let ga = stock(&b, event, 100, 10_000).await;
        // Abandoned carts: every unit is held by a hold that lapses at `now`.
        for _ in 0..10 {
            b.store
                .place_order(&order(event, &[units(ga, 10)], start, now), start)
                .await
                .unwrap();
        }
        let tasks: Vec<_> = (0..1_000)
            .map(|_| {
                let store = b.store.clone();
                let record = order(event, &[units(ga, 1)], now, later(now, TEN_MINUTES));
                tokio::spawn(async move { store.place_order(&record, now).await })
            })
            .collect();
        let mut bought = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => bought += 1,
                Err(StoreError::InsufficientStock { stock, .. }) => assert_eq!(stock, ga),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(bought, 100, "exactly 100 units");
        assert_eq!(stock_available(&b, event, ga, now).await, 0);
        let stored = b.store.stock(ga).await.unwrap().stock;
        assert!(stored.held() + stored.sold() <= stored.capacity());
    }
}
