//! The [`BookingStore`](crate::ports::store::BookingStore) suite, part three: what runs
//! beside the booking flow — the expiry sweep, alone and on many nodes at once, and the
//! outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use super::Backend;
use super::fixtures::{seats, stock};
use super::store::{held_and_sold, holder, later, stock_available, ticket, ticket_state, units};
use super::store_orders::{
    ONE_MINUTE, PRICE, TEN_MINUTES, confirming, confirming_order, paid, payment_step, place,
    set_payment, start,
};
use crate::clock::Clock;
use crate::ids::{EventId, OrderId};
use crate::machine::{
    DomainEvent, OrderCommand, OrderStateKind, PaymentCommand, PaymentState, TicketState,
};
use crate::ports::store::StoreError;

/// The sweep expires due orders (and their payments still in progress past their window),
/// puts their items back on sale and leaves orders not yet due alone.
pub async fn store_expire_due_releases_due_orders(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 3, PRICE).await;
    let ga = stock(&b, event, 5, PRICE).await;
    let due = place(&b, event, &[ticket(ids[0]), units(ga, 2)], now, until).await;
    let (awaiting, payment) = start(
        &b,
        &place(&b, event, &[ticket(ids[1]), units(ga, 1)], now, until).await,
        now,
        until,
    )
    .await;
    let not_due = place(&b, event, &[ticket(ids[2])], now, later(until, ONE_MINUTE)).await;

    let early = b.store.expire_due(now, 100).await.unwrap();
    assert!(early.expired.is_empty());
    let sweep = b.store.expire_due(until, 100).await.unwrap();
    let expired: HashSet<OrderId> = sweep.expired.iter().map(|(o, _, _)| *o).collect();
    assert_eq!(
        expired,
        HashSet::from([due.order.id(), awaiting.order.id()])
    );
    assert!(
        sweep
            .expired
            .iter()
            .any(|(o, u, c)| *o == due.order.id() && *u == due.user && c.is_empty())
    );
    assert_eq!(sweep.payments_expired, 1);
    assert_eq!((sweep.tickets_released, sweep.stock_units_released), (2, 3));
    assert_eq!(sweep.skipped_in_payment, 0);
    for id in [due.order.id(), awaiting.order.id()] {
        assert_eq!(
            b.store.order(id).await.unwrap().order.state().kind(),
            OrderStateKind::Expired
        );
    }
    assert_eq!(
        b.store
            .payment(payment.payment.id())
            .await
            .unwrap()
            .payment
            .state(),
        PaymentState::Expired
    );
    for id in &ids[..2] {
        assert_eq!(ticket_state(&b, *id).await, TicketState::Available);
    }
    assert_eq!(holder(&b, ids[2]).await, Some(not_due.order.id()));
    assert_eq!(held_and_sold(&b, ga).await, (0, 0));
    assert!(
        b.store
            .expire_due(until, 100)
            .await
            .unwrap()
            .expired
            .is_empty()
    );
}

/// A sweep of an order whose lapsed items were taken by another order expires the order
/// and leaves those items with their new holder.
pub async fn store_expire_due_leaves_items_taken_over_alone(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, PRICE).await[0];
    let ga = stock(&b, event, 2, PRICE).await;
    let lapsed = place(&b, event, &[ticket(seat), units(ga, 2)], now, until).await;
    let taker = place(
        &b,
        event,
        &[ticket(seat), units(ga, 2)],
        until,
        later(until, TEN_MINUTES),
    )
    .await;
    let sweep = b.store.expire_due(until, 100).await.unwrap();
    assert_eq!(sweep.expired.len(), 1);
    assert_eq!(sweep.expired[0].0, lapsed.order.id());
    assert_eq!((sweep.tickets_released, sweep.stock_units_released), (0, 0));
    assert_eq!(holder(&b, seat).await, Some(taker.order.id()));
    assert_eq!(held_and_sold(&b, ga).await, (2, 0));
    assert_eq!(stock_available(&b, event, ga, until).await, 0);
}

/// The sweep never expires an order whose payment is confirming, unknown or done, nor one
/// whose payment is still inside its confirm window; their items stay held.
pub async fn store_expire_due_skips_payments_in_flight(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 4, PRICE).await;
    let (confirming_record, _) = confirming_order(&b, event, &[ticket(ids[0])], now, until).await;
    let (unknown_record, p) = confirming_order(&b, event, &[ticket(ids[1])], now, until).await;
    set_payment(&b, &p, PaymentCommand::MarkUnknown, now).await;
    let (done_record, p) = confirming_order(&b, event, &[ticket(ids[2])], now, until).await;
    set_payment(&b, &p, PaymentCommand::Approve, now).await;
    let (window_record, _) = start(
        &b,
        &place(&b, event, &[ticket(ids[3])], now, until).await,
        now,
        later(until, ONE_MINUTE),
    )
    .await;

    let sweep = b.store.expire_due(until, 100).await.unwrap();
    assert!(sweep.expired.is_empty(), "{sweep:?}");
    assert_eq!(sweep.skipped_in_payment, 4);
    assert_eq!(sweep.payments_expired, 0);
    for (record, seat) in [
        (&confirming_record, ids[0]),
        (&unknown_record, ids[1]),
        (&done_record, ids[2]),
        (&window_record, ids[3]),
    ] {
        assert_eq!(b.store.order(record.order.id()).await.unwrap(), *record);
        assert_eq!(holder(&b, seat).await, Some(record.order.id()));
    }
}

/// The sweep takes at most `batch` orders per call, oldest deadline first.
pub async fn store_expire_due_respects_batch_oldest_first(b: Backend) {
    let now = b.clock.now();
    let event = EventId::new();
    let ga = stock(&b, event, 100, PRICE).await;
    let mut orders = Vec::new();
    // Placed newest deadline first, so insertion order is not deadline order.
    for i in (1..=7_u64).rev() {
        let until = later(now, Duration::from_secs(i * 60));
        orders.push((
            until,
            place(&b, event, &[units(ga, 1)], now, until)
                .await
                .order
                .id(),
        ));
    }
    orders.sort();
    let at = later(now, TEN_MINUTES);
    let mut swept = Vec::new();
    for expected in [3, 3, 1, 0] {
        let sweep = b.store.expire_due(at, 3).await.unwrap();
        assert_eq!(sweep.expired.len(), expected);
        swept.extend(sweep.expired.into_iter().map(|(o, _, _)| o));
    }
    assert_eq!(swept, orders.iter().map(|(_, o)| *o).collect::<Vec<_>>());
}

/// Skipped orders do not use up the batch: when the oldest due orders all wait on their
/// payment (a gateway outage leaves many unknown), the sweep still expires the due orders
/// behind them.
pub async fn store_expire_due_progresses_past_skipped_orders(b: Backend) {
    let now = b.clock.now();
    let event = EventId::new();
    let ga = stock(&b, event, 100, PRICE).await;
    for i in 1..=5_u64 {
        let until = later(now, Duration::from_secs(i));
        let (_, p) = confirming_order(&b, event, &[units(ga, 1)], now, until).await;
        set_payment(&b, &p, PaymentCommand::MarkUnknown, now).await;
    }
    let mut behind = HashSet::new();
    for i in 6..=7_u64 {
        let until = later(now, Duration::from_secs(i));
        behind.insert(
            place(&b, event, &[units(ga, 1)], now, until)
                .await
                .order
                .id(),
        );
    }
    let sweep = b
        .store
        .expire_due(later(now, TEN_MINUTES), 3)
        .await
        .unwrap();
    let expired: HashSet<OrderId> = sweep.expired.iter().map(|(o, _, _)| *o).collect();
    assert_eq!(expired, behind);
}

/// Sweeps running at once on many tasks expire every due order exactly once and release its
/// items once. Repeated.
pub async fn store_concurrent_sweeps_expire_each_order_once(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    for _ in 0..5 {
        let event = EventId::new();
        let ids = seats(&b, event, 100, PRICE).await;
        let ga = stock(&b, event, 100, PRICE).await;
        let mut placed = HashSet::new();
        for id in &ids {
            placed.insert(
                place(&b, event, &[ticket(*id), units(ga, 1)], now, until)
                    .await
                    .order
                    .id(),
            );
        }
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let (mut tickets, mut units) = (0, 0);
                    loop {
                        let sweep = store.expire_due(until, 7).await.unwrap();
                        if sweep.expired.is_empty() {
                            return (mine, tickets, units);
                        }
                        tickets += sweep.tickets_released;
                        units += sweep.stock_units_released;
                        mine.extend(sweep.expired.into_iter().map(|(o, _, _)| o));
                    }
                })
            })
            .collect();
        let mut expired = Vec::new();
        let (mut tickets, mut units) = (0, 0);
        for t in tasks {
            let (mine, t_released, u_released) = t.await.unwrap();
            expired.extend(mine);
            tickets += t_released;
            units += u_released;
        }
        assert_eq!(expired.len(), 100, "each order expired once");
        assert_eq!(expired.into_iter().collect::<HashSet<_>>(), placed);
        assert_eq!((tickets, units), (100, 100), "each item released once");
        let a = b.store.availability(event, until).await.unwrap();
        assert_eq!(
            (a.tickets_available, a.stock_available),
            (100, vec![(ga, 100)])
        );
        assert_eq!(held_and_sold(&b, ga).await, (0, 0));
    }
    let expiries = b
        .store
        .outbox(0, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.event, DomainEvent::OrderExpired { .. }))
        .count();
    assert_eq!(expiries, 500, "one OrderExpired event per order");
}

/// Orders of tickets alone, with no payment (the commonest abandoned hold), swept by many
/// tasks at once: each order expires once, its seats come back once, and seats another
/// order took after the hold lapsed stay with that order. Repeated.
pub async fn store_concurrent_sweeps_of_ticket_only_orders(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let mut expiries_expected = 0;
    for _ in 0..3 {
        let event = EventId::new();
        let ids = seats(&b, event, 90, PRICE).await;
        // 30 orders of one seat and 30 of two.
        let mut placed = HashSet::new();
        let mut lines_of = Vec::new();
        for i in 0..60 {
            let mine: Vec<_> = if i < 30 {
                vec![ids[i]]
            } else {
                vec![ids[30 + 2 * (i - 30)], ids[31 + 2 * (i - 30)]]
            };
            let lines: Vec<_> = mine.iter().map(|id| ticket(*id)).collect();
            placed.insert(place(&b, event, &lines, now, until).await.order.id());
            lines_of.push(mine);
        }
        // Every tenth order's first seat is taken by a new order once the hold lapsed.
        let mut takers = Vec::new();
        for lines in lines_of.iter().step_by(10) {
            let seat = lines[0];
            let taker = place(&b, event, &[ticket(seat)], until, later(until, TEN_MINUTES)).await;
            takers.push((seat, taker.order.id()));
        }
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let (mut mine, mut released) = (Vec::new(), 0);
                    loop {
                        let sweep = store.expire_due(until, 5).await.unwrap();
                        if sweep.expired.is_empty() {
                            return (mine, released);
                        }
                        assert_eq!(sweep.payments_expired, 0);
                        released += sweep.tickets_released;
                        mine.extend(sweep.expired.into_iter().map(|(o, _, _)| o));
                    }
                })
            })
            .collect();
        let (mut expired, mut released) = (Vec::new(), 0);
        for t in tasks {
            let (mine, r) = t.await.unwrap();
            expired.extend(mine);
            released += r;
        }
        assert_eq!(expired.len(), 60, "each order expired once");
        assert_eq!(expired.into_iter().collect::<HashSet<_>>(), placed);
        assert_eq!(
            released,
            90 - 6,
            "each seat released once, taken seats kept"
        );
        for (seat, taker) in takers {
            assert_eq!(holder(&b, seat).await, Some(taker));
        }
        let a = b.store.availability(event, until).await.unwrap();
        assert_eq!(a.tickets_available, 90 - 6);
        for id in placed {
            assert_eq!(
                b.store.order(id).await.unwrap().order.state().kind(),
                OrderStateKind::Expired
            );
        }
        expiries_expected += 60;
    }
    let expiries = b
        .store
        .outbox(0, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.event, DomainEvent::OrderExpired { .. }))
        .count();
    assert_eq!(
        expiries, expiries_expected,
        "one OrderExpired event per order"
    );
}

/// The sweep stores what the machine computes. Each expired order of tickets reads back as
/// it was placed with the order expired; its tickets still held come back on sale, one taken
/// by another order after the hold lapsed stays with it; the outbox gets each order's
/// `OrderExpired` followed by its freed tickets' `TicketHoldExpired` in line order, and the
/// orders are reported and logged in deadline order.
pub async fn store_expire_due_writes_the_machines_steps(b: Backend) {
    let now = b.clock.now();
    let event = EventId::new();
    let ids = seats(&b, event, 4, PRICE).await;
    let first = later(now, TEN_MINUTES);
    let second = later(first, ONE_MINUTE);
    // Placed latest deadline first, so insertion order is not deadline order.
    let two = place(&b, event, &[ticket(ids[1]), ticket(ids[2])], now, second).await;
    let one = place(&b, event, &[ticket(ids[3]), ticket(ids[0])], now, first).await;
    let taker = place(
        &b,
        event,
        &[ticket(ids[3])],
        first,
        later(second, TEN_MINUTES),
    )
    .await;
    let start_seq = last_seq(&b).await;

    let sweep = b.store.expire_due(second, 100).await.unwrap();
    assert_eq!(
        sweep.expired,
        vec![
            (one.order.id(), one.user, one.coupons.clone()),
            (two.order.id(), two.user, two.coupons.clone()),
        ]
    );
    assert_eq!(sweep.tickets_released, 3);
    let mut events = Vec::new();
    for (placed, freed) in [(&one, &ids[..1]), (&two, &ids[1..3])] {
        let expired = placed.order.apply(OrderCommand::Expire, second).unwrap();
        let mut stored = placed.clone();
        stored.order = expired.next;
        assert_eq!(b.store.order(placed.order.id()).await.unwrap(), stored);
        events.push(expired.event);
        events.extend(freed.iter().map(|&ticket| DomainEvent::TicketHoldExpired {
            ticket,
            hold: placed.hold,
        }));
    }
    let logged: Vec<DomainEvent> = b
        .store
        .outbox(start_seq, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(logged, events);
    for id in &ids[..3] {
        assert_eq!(ticket_state(&b, *id).await, TicketState::Available);
    }
    assert_eq!(holder(&b, ids[3]).await, Some(taker.order.id()));
}

/// Confirmations race the sweep at the deadline for many orders at once: each order ends
/// either paid with its seat sold, or expired with its seat free — never both, never
/// neither. Repeated.
pub async fn store_confirm_racing_the_sweep_never_both(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let last_second = until.checked_sub(Duration::from_secs(1)).unwrap();
    for _ in 0..5 {
        let event = EventId::new();
        let mut started = Vec::new();
        for seat in seats(&b, event, 100, PRICE).await {
            let placed = place(&b, event, &[ticket(seat)], now, until).await;
            started.push((seat, start(&b, &placed, now, until).await));
        }
        let confirmers: Vec<_> = started
            .iter()
            .cloned()
            .map(|(_, (record, payment))| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let amount = payment.payment.amount();
                    let (begin, event) = payment_step(
                        &payment,
                        PaymentCommand::BeginConfirm { amount },
                        last_second,
                    );
                    match store.update_payment(&begin, &[event], last_second).await {
                        // Confirming: the sweep must leave it alone, so the paid step succeeds.
                        Ok(()) => store
                            .mark_paid(&paid(&record, &begin.next, until), until)
                            .await
                            .unwrap(),
                        Err(StoreError::VersionConflict { .. }) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                })
            })
            .collect();
        let sweepers: Vec<_> = (0..2)
            .map(|_| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    loop {
                        let sweep = store.expire_due(until, 10).await.unwrap();
                        if sweep.expired.is_empty() && sweep.skipped_in_payment == 0 {
                            return;
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in confirmers.into_iter().chain(sweepers) {
            t.await.unwrap();
        }
        for (seat, (record, payment)) in &started {
            let order = b.store.order(record.order.id()).await.unwrap().order;
            let payment = b.store.payment(payment.payment.id()).await.unwrap().payment;
            let ticket = ticket_state(&b, *seat).await;
            match order.state().kind() {
                OrderStateKind::Confirmed => {
                    assert_eq!(payment.state(), PaymentState::Done);
                    assert_eq!(ticket, TicketState::Sold { order: order.id() });
                }
                OrderStateKind::Expired => {
                    assert_eq!(payment.state(), PaymentState::Expired);
                    assert_eq!(ticket, TicketState::Available);
                }
                other => panic!("order left {other:?}"),
            }
        }
    }
}

/// The sequence number of the last outbox entry so far (0 if none).
async fn last_seq(b: &Backend) -> u64 {
    b.store
        .outbox(0, u32::MAX)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq)
}

/// Every change appends its events to the outbox in order, with growing sequence numbers;
/// acknowledging trims what was delivered.
pub async fn store_outbox_records_events_in_order(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 2, PRICE).await;
    let start_seq = last_seq(&b).await;
    let placed = place(&b, event, &[ticket(ids[0]), ticket(ids[1])], now, until).await;
    let order = placed.order.id();
    let (record, payment) = start(&b, &placed, now, until).await;
    let payment = confirming(&b, &payment, now).await;
    let step = paid(&record, &payment, now);
    b.store.mark_paid(&step, now).await.unwrap();

    let entries = b.store.outbox(start_seq, u32::MAX).await.unwrap();
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        entries
            .iter()
            .all(|e| e.seq > start_seq && e.recorded_at == now)
    );
    let events: Vec<&DomainEvent> = entries.iter().map(|e| &e.event).collect();
    let held = |e: &DomainEvent, id| matches!(e, DomainEvent::TicketHeld { ticket, order: o, .. } if *ticket == id && *o == order);
    assert!(
        held(events[0], ids[0]) && held(events[1], ids[1]),
        "{events:?}"
    );
    assert!(matches!(
        events[2],
        DomainEvent::OrderAwaitingPayment { .. }
    ));
    assert!(matches!(events[3], DomainEvent::PaymentStarted { .. }));
    assert!(matches!(events[4], DomainEvent::PaymentConfirming { .. }));
    for e in &step.events {
        assert!(events.contains(&e), "paid-step event {e:?} recorded");
    }
    let sold = events
        .iter()
        .filter(|e| matches!(e, DomainEvent::TicketSold { order: o, .. } if *o == order))
        .count();
    assert_eq!(sold, 2);

    // Paging and acknowledging.
    let first_two = b.store.outbox(start_seq, 2).await.unwrap();
    assert_eq!(first_two, entries[..2]);
    let upto = entries[1].seq;
    let before = b.store.outbox(0, u32::MAX).await.unwrap().len();
    let removed = b.store.acknowledge_outbox(upto).await.unwrap();
    assert_eq!(
        usize::try_from(removed).unwrap(),
        before - (entries.len() - 2)
    );
    let rest = b.store.outbox(0, u32::MAX).await.unwrap();
    assert_eq!(rest, entries[2..]);
    assert_eq!(b.store.acknowledge_outbox(upto).await.unwrap(), 0);
}
