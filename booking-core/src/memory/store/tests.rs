//! The shards under real parallelism: holds on several events at once, with readers of the
//! outbox, buyers' order lists and the sweep crossing events while they run.
#![cfg(all(not(loom), feature = "testkit"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::MemoryBookingStore;
use crate::clock::Timestamp;
use crate::discount::LineId;
use crate::ids::{EventId, OrderId, TicketId, UserId};
use crate::machine::{DomainEvent, Ticket, TicketState};
use crate::ports::store::{BookingStore, ItemRef, OrderPage, StoreError, TicketListing};
use crate::testkit::concurrency::in_parallel;
use crate::testkit::fixtures::{krw, pending_order};

const ROUNDS: usize = 20;

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_second(1_800_000_000)
        .unwrap()
        .checked_add(Duration::from_secs(seconds))
        .unwrap()
}

/// `per_event` seats of each of `events` new events, listed in one call; per event, its seats.
async fn list(
    store: &MemoryBookingStore,
    events: usize,
    per_event: usize,
) -> Vec<(EventId, Vec<TicketId>)> {
    let plan: Vec<(EventId, Vec<TicketId>)> = (0..events)
        .map(|_| {
            (
                EventId::new(),
                (0..per_event).map(|_| TicketId::new()).collect(),
            )
        })
        .collect();
    let listings: Vec<TicketListing> = plan
        .iter()
        .flat_map(|(event, seats)| {
            seats.iter().map(|&seat| TicketListing {
                ticket: Ticket::new(seat),
                event: *event,
                item: "seat".to_owned(),
                tags: BTreeSet::new(),
                price: krw(10_000),
            })
        })
        .collect();
    store.add_tickets(&listings).await.unwrap();
    plan
}

/// Reads the outbox from the start until `done` is set and it has caught up, checking every
/// read continues exactly where the last one ended; returns every entry's event.
async fn follow_outbox(store: Arc<MemoryBookingStore>, done: Arc<AtomicBool>) -> Vec<DomainEvent> {
    let mut seen = Vec::new();
    let mut last = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let entries = store.outbox(last, 64).await.unwrap();
        for entry in &entries {
            assert_eq!(entry.seq, last + 1, "the outbox shows no gap");
            last = entry.seq;
            seen.push(entry.event.clone());
        }
        if finished && entries.is_empty() {
            return seen;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_on_many_events_in_parallel_stay_exact() {
    for _ in 0..ROUNDS {
        let store = Arc::new(MemoryBookingStore::new());
        let plan = list(&store, 4, 30).await;
        let buyer = UserId::new();
        let done = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(follow_outbox(Arc::clone(&store), Arc::clone(&done)));
        // Two tasks per event race for every seat of it, each placing one order per seat.
        let plan = Arc::new(plan);
        let won: Vec<Vec<(OrderId, TicketId)>> = in_parallel(8, |task| {
            let (store, plan) = (Arc::clone(&store), Arc::clone(&plan));
            async move {
                let (event, seats) = &plan[task / 2];
                let mut won = Vec::new();
                for &seat in seats {
                    let record = pending_order(
                        *event,
                        buyer,
                        &[ItemRef::Ticket { ticket: seat }],
                        10_000,
                        at(0),
                        at(600),
                    );
                    match store.place_order(&record, at(0)).await {
                        Ok(()) => won.push((record.order.id(), seat)),
                        Err(StoreError::Unavailable { tickets }) => assert_eq!(tickets, [seat]),
                        Err(e) => panic!("{e:?}"),
                    }
                }
                won
            }
        })
        .await;
        done.store(true, Ordering::SeqCst);
        let events = reader.await.unwrap();

        let won: Vec<(OrderId, TicketId)> = won.into_iter().flatten().collect();
        let seats: HashSet<TicketId> = plan.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        assert_eq!(won.len(), seats.len(), "every seat is won exactly once");
        for &(order, seat) in &won {
            let held = store.ticket(seat).await.unwrap().ticket.state();
            assert!(matches!(held, TicketState::Held { order: o, .. } if o == order));
        }
        // One event per hold, each seat once, all of them read by the follower in order.
        assert_eq!(events.len(), won.len());
        let held: HashSet<TicketId> = events
            .iter()
            .map(|e| match e {
                DomainEvent::TicketHeld { ticket, .. } => *ticket,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(held, seats);

        // The buyer's orders span the four events: paging walks them all, newest first.
        let mut listed = Vec::new();
        let mut page = OrderPage::first(7);
        loop {
            let got = store.orders_of_user(buyer, &page).await.unwrap();
            let Some(last) = got.last() else { break };
            page = OrderPage::first(7).before(last.order.id());
            listed.extend(got.iter().map(|o| o.order.id()));
        }
        let mut expected: Vec<OrderId> = won.iter().map(|(o, _)| *o).collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(listed, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_expires_across_events_earliest_first_while_holds_go_on() {
    for _ in 0..ROUNDS {
        let store = Arc::new(MemoryBookingStore::new());
        let plan = list(&store, 4, 10).await;
        // Deadlines interleave across the first three events; the fourth is for new holds.
        let mut due: Vec<(Timestamp, OrderId)> = Vec::new();
        for (e, (event, seats)) in plan.iter().take(3).enumerate() {
            for (j, &seat) in seats.iter().enumerate() {
                let deadline = at(1 + (j * 3 + e) as u64);
                let items = [ItemRef::Ticket { ticket: seat }];
                let record = pending_order(*event, UserId::new(), &items, 10_000, at(0), deadline);
                store.place_order(&record, at(0)).await.unwrap();
                due.push((deadline, record.order.id()));
            }
        }
        due.sort_unstable();
        let first = store.expire_due(at(100), 7).await.unwrap();
        let first: Vec<OrderId> = first.expired.iter().map(|e| e.0).collect();
        let earliest: Vec<OrderId> = due.iter().take(7).map(|d| d.1).collect();
        assert_eq!(
            first, earliest,
            "the earliest deadlines go first, whatever their event"
        );

        // Two sweepers take the rest while a third task holds the fourth event's seats.
        let (fresh_event, fresh) = plan[3].clone();
        let store2 = Arc::clone(&store);
        let holder = tokio::spawn(async move {
            for seat in fresh {
                let items = [ItemRef::Ticket { ticket: seat }];
                let record =
                    pending_order(fresh_event, UserId::new(), &items, 10_000, at(100), at(900));
                store2.place_order(&record, at(100)).await.unwrap();
            }
        });
        let swept: Vec<Vec<OrderId>> = in_parallel(2, |_| {
            let store = Arc::clone(&store);
            async move {
                let mut mine = Vec::new();
                loop {
                    let sweep = store.expire_due(at(100), 3).await.unwrap();
                    if sweep.expired.is_empty() {
                        return mine;
                    }
                    mine.extend(sweep.expired.iter().map(|e| e.0));
                }
            }
        })
        .await;
        holder.await.unwrap();
        let mut rest: Vec<OrderId> = swept.into_iter().flatten().collect();
        rest.sort_unstable();
        let mut expected: Vec<OrderId> = due.iter().skip(7).map(|d| d.1).collect();
        expected.sort_unstable();
        assert_eq!(rest, expected, "every due order expires exactly once");
        for (event, _) in plan.iter().take(3) {
            let a = store.availability(*event, at(100)).await.unwrap();
            assert_eq!(
                a.tickets_available, 10,
                "every expired seat is back on sale"
            );
        }
        let a = store.availability(plan[3].0, at(100)).await.unwrap();
        assert_eq!(a.tickets_available, 0, "the new holds are untouched");
    }
}

#[tokio::test]
async fn an_id_taken_in_another_event_is_refused_and_changes_nothing() {
    let store = MemoryBookingStore::new();
    let plan = list(&store, 2, 2).await;
    let (a, b) = (&plan[0], &plan[1]);
    let record = pending_order(
        a.0,
        UserId::new(),
        &[ItemRef::Ticket { ticket: a.1[0] }],
        1,
        at(0),
        at(60),
    );
    store.place_order(&record, at(0)).await.unwrap();
    // The same order id again, for a seat of the other event.
    let mut again = pending_order(
        b.0,
        UserId::new(),
        &[ItemRef::Ticket { ticket: b.1[0] }],
        1,
        at(0),
        at(60),
    );
    again.order = record.order.clone();
    let refused = store.place_order(&again, at(0)).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::AlreadyExists { what: "order", .. })
        ),
        "{refused:?}"
    );
    assert!(matches!(
        store.ticket(b.1[0]).await.unwrap().ticket.state(),
        TicketState::Available
    ));
    assert_eq!(store.outbox(0, 100).await.unwrap().len(), 1);
    // A line naming a seat of the other event is refused as such.
    let mut mixed = pending_order(
        a.0,
        UserId::new(),
        &[ItemRef::Ticket { ticket: a.1[1] }],
        1,
        at(0),
        at(60),
    );
    mixed.lines[0].item = ItemRef::Ticket { ticket: b.1[1] };
    mixed.lines[0].line = LineId::new(format!("ticket:{}", b.1[1]));
    let refused = store.place_order(&mixed, at(0)).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
}
