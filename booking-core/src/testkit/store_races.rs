//! The [`BookingStore`](crate::ports::store::BookingStore) suite, part five: races of
//! `place_order` on one order id and on shared seats, with what every loser is told.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::Backend;
use super::concurrency::{in_parallel, race};
use super::fixtures::{pending_order, seats};
use super::store::{holder, later, outbox_len, ticket};
use crate::clock::{Clock, Timestamp};
use crate::ids::{EventId, TicketId, UserId};
use crate::ports::store::{ItemRef, OrderRecord, StoreError};

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// A pending order of a new buyer for `seats` of `event`, held for ten minutes from now.
fn order_for(b: &Backend, event: EventId, seats: &[TicketId]) -> OrderRecord {
    let now = b.clock.now();
    let items: Vec<ItemRef> = seats.iter().map(|&id| ticket(id)).collect();
    pending_order(
        event,
        UserId::new(),
        &items,
        10_000,
        now,
        later(now, TEN_MINUTES),
    )
}

/// Places `a` and `c` on the backend's store at the same moment (see [`race`]).
async fn place_both(
    b: &Backend,
    a: &OrderRecord,
    c: &OrderRecord,
    now: Timestamp,
) -> (Result<(), StoreError>, Result<(), StoreError>) {
    let (s1, s2) = (b.store.clone(), b.store.clone());
    let (a, c) = (a.clone(), c.clone());
    race(async move { s1.place_order(&a, now).await }, async move {
        s2.place_order(&c, now).await
    })
    .await
}

/// Two orders with one id, for different seats, placed at the same moment: exactly one is
/// placed; the other fails with `AlreadyExists` and holds nothing. The stored order, the
/// seats and the outbox show only the winner. Repeated.
pub async fn store_one_order_id_placed_twice_at_once(b: Backend) {
    let now = b.clock.now();
    for _ in 0..20 {
        let event = EventId::new();
        let ids = seats(&b, event, 2, 10_000).await;
        let first = order_for(&b, event, &[ids[0]]);
        let mut twin = order_for(&b, event, &[ids[1]]);
        twin.order = first.order.clone();
        twin.user = first.user;
        let events_before = outbox_len(&b).await;
        let (ra, rb) = place_both(&b, &first, &twin, now).await;
        let (winner, loser, lost) = match (ra, rb) {
            (Ok(()), Err(e)) => (&first, &twin, e),
            (Err(e), Ok(())) => (&twin, &first, e),
            other => panic!("expected exactly one placed, got {other:?}"),
        };
        assert!(
            matches!(lost, StoreError::AlreadyExists { what: "order", .. }),
            "the second of one id is told it exists, got {lost:?}"
        );
        let stored = b.store.order(first.order.id()).await.unwrap();
        assert_eq!(stored.lines, winner.lines, "the winner's order is stored");
        let won_seat = seat_of(winner);
        assert_eq!(holder(&b, won_seat).await, Some(first.order.id()));
        assert_eq!(
            holder(&b, seat_of(loser)).await,
            None,
            "the loser holds nothing"
        );
        assert_eq!(outbox_len(&b).await, events_before + 1, "one hold's event");
    }
}

/// The single seat of a one-ticket order.
fn seat_of(record: &OrderRecord) -> TicketId {
    match record.lines[0].item {
        ItemRef::Ticket { ticket } => ticket,
        ItemRef::Stock { .. } => panic!("a ticket order"),
    }
}

/// One order placed twice at the same moment (a retried request): it is placed once; the
/// repeat fails, told either that the order exists or that its seat is taken, and writes
/// nothing. Repeated.
pub async fn store_one_order_placed_twice_at_once(b: Backend) {
    let now = b.clock.now();
    for _ in 0..20 {
        let event = EventId::new();
        let seat = seats(&b, event, 1, 10_000).await[0];
        let record = order_for(&b, event, &[seat]);
        let events_before = outbox_len(&b).await;
        let (ra, rb) = place_both(&b, &record, &record, now).await;
        let lost = match (ra, rb) {
            (Ok(()), Err(e)) | (Err(e), Ok(())) => e,
            other => panic!("expected exactly one placed, got {other:?}"),
        };
        match lost {
            StoreError::AlreadyExists { what: "order", .. } => {}
            StoreError::Unavailable { tickets } => assert_eq!(tickets, vec![seat]),
            other => panic!("expected AlreadyExists or Unavailable, got {other:?}"),
        }
        assert_eq!(holder(&b, seat).await, Some(record.order.id()));
        let stored = b.store.order(record.order.id()).await.unwrap();
        assert_eq!(stored.version(), record.version(), "stored once, unchanged");
        assert_eq!(outbox_len(&b).await, events_before + 1, "one hold's event");
    }
}

/// Orders of several seats racing for one hot seat, each with seats of its own beside it:
/// exactly one wins; every loser is told exactly the hot seat (never one of its own free
/// seats) and holds nothing. Repeated.
pub async fn store_losers_are_told_exactly_the_taken_seats(b: Backend) {
    const RACERS: usize = 16;
    for _ in 0..10 {
        let event = EventId::new();
        let ids = seats(&b, event, 1 + 2 * RACERS, 10_000).await;
        let hot = ids[0];
        let events_before = outbox_len(&b).await;
        let wants: Vec<Vec<TicketId>> = (0..RACERS)
            .map(|i| {
                let own = [ids[1 + 2 * i], ids[2 + 2 * i]];
                // The hot seat first, in the middle or last in line order.
                match i % 3 {
                    0 => vec![hot, own[0], own[1]],
                    1 => vec![own[0], hot, own[1]],
                    _ => vec![own[0], own[1], hot],
                }
            })
            .collect();
        let records: Vec<OrderRecord> = wants.iter().map(|w| order_for(&b, event, w)).collect();
        let now = b.clock.now();
        let results = in_parallel(RACERS, |i| {
            let (store, record) = (b.store.clone(), records[i].clone());
            async move { store.place_order(&record, now).await }
        })
        .await;
        let mut winners = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(()) => winners.push(i),
                Err(StoreError::Unavailable { tickets }) => assert_eq!(tickets, vec![hot]),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one winner of the hot seat");
        let won = &records[winners[0]];
        for (i, want) in wants.iter().enumerate() {
            for &seat in want.iter().filter(|&&s| s != hot) {
                let expected = (i == winners[0]).then(|| won.order.id());
                assert_eq!(holder(&b, seat).await, expected, "racer {i}, seat {seat}");
            }
        }
        assert_eq!(holder(&b, hot).await, Some(won.order.id()));
        assert_eq!(
            outbox_len(&b).await,
            events_before + 3,
            "the winner's three holds"
        );
    }
}

/// An order racing a rival for one free seat, where the rival cannot be placed (its order id
/// is already stored): the rival fails with `AlreadyExists` and the order gets the seat —
/// whatever the rival locked or announced while it was at work, a loser is never told a seat
/// is taken by a hold that did not happen. Repeated.
pub async fn store_a_loser_takes_the_seat_its_rival_failed_to_hold(b: Backend) {
    let now = b.clock.now();
    for _ in 0..20 {
        let event = EventId::new();
        let ids = seats(&b, event, 2, 10_000).await;
        let placed = order_for(&b, event, &[ids[0]]);
        b.store.place_order(&placed, now).await.unwrap();
        let mut rival = order_for(&b, event, &[ids[1]]);
        rival.order = placed.order.clone();
        rival.user = placed.user;
        let buyer = order_for(&b, event, &[ids[1]]);
        let events_before = outbox_len(&b).await;
        let (rr, ro) = place_both(&b, &rival, &buyer, now).await;
        assert!(
            matches!(rr, Err(StoreError::AlreadyExists { what: "order", .. })),
            "the rival's id is stored, got {rr:?}"
        );
        assert!(ro.is_ok(), "the seat was never taken, got {ro:?}");
        assert_eq!(holder(&b, ids[1]).await, Some(buyer.order.id()));
        assert_eq!(
            outbox_len(&b).await,
            events_before + 1,
            "the buyer's hold only"
        );
    }
}

/// A stored order whose hold has lapsed, placed again (a late retry) while a new order races
/// it for the same seat: the retry is told `AlreadyExists` — a stored order id is reported
/// before anything else, even when the seat is being taken at that moment — and the new
/// order gets the seat. Repeated.
pub async fn store_a_repeat_of_a_lapsed_order_is_told_it_exists(b: Backend) {
    let now = b.clock.now();
    let after = later(now, TEN_MINUTES + Duration::from_secs(60));
    for _ in 0..20 {
        let event = EventId::new();
        let seat = seats(&b, event, 1, 10_000).await[0];
        let first = order_for(&b, event, &[seat]);
        b.store.place_order(&first, now).await.unwrap();
        let buyer = pending_order(
            event,
            UserId::new(),
            &[ticket(seat)],
            10_000,
            after,
            later(after, TEN_MINUTES),
        );
        let (rr, ro) = place_both(&b, &first, &buyer, after).await;
        assert!(
            matches!(rr, Err(StoreError::AlreadyExists { what: "order", .. })),
            "the retry's id is stored, got {rr:?}"
        );
        assert!(
            ro.is_ok(),
            "the lapsed seat is free to the buyer, got {ro:?}"
        );
        assert_eq!(holder(&b, seat).await, Some(buyer.order.id()));
    }
}
