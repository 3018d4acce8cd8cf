//! The [`BookingStore`](crate::ports::store::BookingStore) suite, part two: orders and
//! payments by compare-and-set, and the paid, refund, cancel and extend steps. The tests drive
//! the store the way the service does: each change is a state machine transition, written
//! with the version the caller read. Expiry and the outbox are in
//! [`store_upkeep`](super::store_upkeep).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::Backend;
use super::fixtures::{pending_order, seats, stock};
use super::store::{
    held_and_sold, holder, later, outbox_len, stock_available, ticket, ticket_state, units,
};
use super::store_refund::{Refunding, refunding};
use crate::clock::{Clock, Timestamp};
use crate::ids::{EventId, PaymentId, UserId};
use crate::machine::{
    DomainEvent, OrderCommand, OrderStateKind, Payment, PaymentCommand, PaymentState, TicketState,
};
use crate::ports::gateway::{GatewayOrderId, PaymentKey};
use crate::ports::store::{
    Cas, ItemRef, MarkPaid, OrderRecord, PaymentRecord, SettleRefund, StoreError,
};

pub(super) const TEN_MINUTES: Duration = Duration::from_secs(600);
pub(super) const ONE_MINUTE: Duration = Duration::from_secs(60);
pub(super) const PRICE: i64 = 10_000;

/// Places a pending order of a new buyer for `items` at `now`, expiring at `until`.
pub(super) async fn place(
    b: &Backend,
    event: EventId,
    items: &[ItemRef],
    now: Timestamp,
    until: Timestamp,
) -> OrderRecord {
    place_for(b, UserId::new(), event, items, now, until).await
}

/// Places a pending order of `user` for `items` at `now`, expiring at `until`.
pub(super) async fn place_for(
    b: &Backend,
    user: UserId,
    event: EventId,
    items: &[ItemRef],
    now: Timestamp,
    until: Timestamp,
) -> OrderRecord {
    let record = pending_order(event, user, items, PRICE, now, until);
    b.store.place_order(&record, now).await.unwrap();
    record
}

/// The order after `command`, as a compare-and-set on the version read, and its event.
pub(super) fn order_step(
    record: &OrderRecord,
    command: OrderCommand,
    now: Timestamp,
) -> (Cas<OrderRecord>, DomainEvent) {
    let t = record.order.apply(command, now).unwrap();
    let next = OrderRecord {
        order: t.next,
        ..record.clone()
    };
    (
        Cas {
            expected: record.version(),
            next,
        },
        t.event,
    )
}

/// The payment after `command`, as a compare-and-set on the version read, and its event.
pub(super) fn payment_step(
    payment: &PaymentRecord,
    command: PaymentCommand,
    now: Timestamp,
) -> (Cas<PaymentRecord>, DomainEvent) {
    let t = payment.payment.apply(command, now).unwrap();
    let next = PaymentRecord {
        payment: t.next,
        updated_at: now,
        ..payment.clone()
    };
    (
        Cas {
            expected: payment.version(),
            next,
        },
        t.event,
    )
}

/// Starts paying for `record` at `now`; the payment may be confirmed until `confirm_by`.
pub(super) async fn start(
    b: &Backend,
    record: &OrderRecord,
    now: Timestamp,
    confirm_by: Timestamp,
) -> (OrderRecord, PaymentRecord) {
    let id = PaymentId::new();
    let (mut change, order_event) =
        order_step(record, OrderCommand::StartPayment { payment: id }, now);
    change.next.payment = Some(id);
    let started = Payment::new(id, record.order.id(), record.order.total(), confirm_by)
        .apply(PaymentCommand::Start, now)
        .unwrap();
    let payment = PaymentRecord {
        payment: started.next,
        gateway: "fake".to_owned(),
        order_ref: GatewayOrderId::for_payment(id),
        payment_key: None,
        customer: record.user,
        updated_at: now,
        failure: None,
    };
    b.store
        .start_payment(&change, &payment, &[order_event, started.event], now)
        .await
        .unwrap();
    (change.next, payment)
}

/// Applies `command` to the stored payment and returns it.
pub(super) async fn set_payment(
    b: &Backend,
    payment: &PaymentRecord,
    command: PaymentCommand,
    now: Timestamp,
) -> PaymentRecord {
    let (mut change, event) = payment_step(payment, command, now);
    if let PaymentCommand::BeginConfirm { .. } = command {
        change.next.payment_key = Some(PaymentKey::new("pk_test_1").unwrap());
    }
    b.store
        .update_payment(&change, &[event], now)
        .await
        .unwrap();
    change.next
}

/// Moves the stored payment to confirming.
pub(super) async fn confirming(
    b: &Backend,
    payment: &PaymentRecord,
    now: Timestamp,
) -> PaymentRecord {
    let amount = payment.payment.amount();
    set_payment(b, payment, PaymentCommand::BeginConfirm { amount }, now).await
}

/// The paid step for an order awaiting its confirming payment: approved, paid, confirmed.
pub(super) fn paid(record: &OrderRecord, payment: &PaymentRecord, now: Timestamp) -> MarkPaid {
    paid_step(record, payment, now, true)
}

/// The paid step for an order awaiting its confirming payment: approved and paid, and with
/// `confirm` confirmed as well.
pub(super) fn paid_step(
    record: &OrderRecord,
    payment: &PaymentRecord,
    now: Timestamp,
    confirm: bool,
) -> MarkPaid {
    let (payment_change, approved) = payment_step(payment, PaymentCommand::Approve, now);
    let marked = record
        .order
        .apply(
            OrderCommand::MarkPaid {
                payment: payment.payment.id(),
                amount: payment.payment.amount(),
            },
            now,
        )
        .unwrap();
    let mut events = vec![approved, marked.event];
    let mut order = marked.next;
    if confirm {
        let confirmed = order.apply(OrderCommand::Confirm, now).unwrap();
        events.push(confirmed.event);
        order = confirmed.next;
    }
    MarkPaid {
        order: Cas {
            expected: record.version(),
            next: OrderRecord {
                order,
                ..record.clone()
            },
        },
        payment: payment_change,
        events,
    }
}

/// Places, starts and confirms an order for `items`, ready for [`paid`].
pub(super) async fn confirming_order(
    b: &Backend,
    event: EventId,
    items: &[ItemRef],
    now: Timestamp,
    until: Timestamp,
) -> (OrderRecord, PaymentRecord) {
    confirming_order_for(b, UserId::new(), event, items, now, until).await
}

/// Places an order of `user` for `items`, starts and confirms its payment, ready for
/// [`paid`].
pub(super) async fn confirming_order_for(
    b: &Backend,
    user: UserId,
    event: EventId,
    items: &[ItemRef],
    now: Timestamp,
    until: Timestamp,
) -> (OrderRecord, PaymentRecord) {
    let placed = place_for(b, user, event, items, now, until).await;
    let (record, payment) = start(b, &placed, now, until).await;
    let payment = confirming(b, &payment, now).await;
    (record, payment)
}

/// `update_order`, `start_payment` and `update_payment` with a stale version fail with
/// `VersionConflict` and change nothing.
pub async fn store_order_cas_refuses_stale_versions(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, PRICE).await[0];
    let placed = place(&b, event, &[ticket(seat)], now, until).await;

    let (first, e1) = order_step(
        &placed,
        OrderCommand::Extend {
            expires_at: later(until, ONE_MINUTE),
        },
        now,
    );
    b.store.update_order(&first, &[e1], now).await.unwrap();
    let events = outbox_len(&b).await;
    let (stale, e2) = order_step(&placed, OrderCommand::Cancel, now);
    match b.store.update_order(&stale, &[e2], now).await {
        Err(StoreError::VersionConflict { what, expected, .. }) => {
            assert_eq!((what, expected), ("order", placed.version()));
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(b.store.order(placed.order.id()).await.unwrap(), first.next);

    // Starting a payment from the stale version inserts no payment.
    let id = PaymentId::new();
    let (mut stale_start, e3) =
        order_step(&placed, OrderCommand::StartPayment { payment: id }, now);
    stale_start.next.payment = Some(id);
    let payment = PaymentRecord {
        payment: Payment::new(id, placed.order.id(), placed.order.total(), until),
        gateway: "fake".to_owned(),
        order_ref: GatewayOrderId::for_payment(id),
        payment_key: None,
        customer: placed.user,
        updated_at: now,
        failure: None,
    };
    assert!(matches!(
        b.store
            .start_payment(&stale_start, &payment, &[e3], now)
            .await,
        Err(StoreError::VersionConflict { what: "order", .. })
    ));
    assert!(matches!(
        b.store.payment(id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.store.payment_by_order_ref(&payment.order_ref).await,
        Err(StoreError::NotFound { .. })
    ));

    let (record, payment) = start(&b, &first.next, now, until).await;
    // A payment id (or gateway order id) is used once.
    let (again, e6) = order_step(&record, OrderCommand::Cancel, now);
    assert!(matches!(
        b.store.start_payment(&again, &payment, &[e6], now).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(b.store.order(record.order.id()).await.unwrap(), record);
    let confirmed = confirming(&b, &payment, now).await;
    let events_after = outbox_len(&b).await;
    let (stale_payment, e4) = payment_step(&payment, PaymentCommand::Abort, now);
    match b.store.update_payment(&stale_payment, &[e4], now).await {
        Err(StoreError::VersionConflict { what, expected, .. }) => {
            assert_eq!((what, expected), ("payment", payment.version()));
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(
        b.store.payment(payment.payment.id()).await.unwrap(),
        confirmed
    );
    assert_eq!(b.store.order(record.order.id()).await.unwrap(), record);
    assert_eq!(
        outbox_len(&b).await,
        events_after,
        "no events from failures"
    );
    assert!(events_after > events);

    // Unknown records are typed errors too.
    let (ghost, e5) = order_step(
        &pending_order(event, UserId::new(), &[ticket(seat)], PRICE, now, until),
        OrderCommand::Cancel,
        now,
    );
    assert!(matches!(
        b.store.update_order(&ghost, &[e5], now).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.store.payment(PaymentId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Many tasks move one payment from the same version (confirm racing abort and expiry, as
/// a double click racing the sweeper would): exactly one wins. Repeated.
pub async fn store_concurrent_payment_updates_have_one_winner(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 1_000, PRICE).await;
    for _ in 0..20 {
        let placed = place(&b, event, &[units(ga, 1)], now, until).await;
        let (_, payment) = start(&b, &placed, now, until).await;
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let store = b.store.clone();
                let command = if i % 2 == 0 {
                    PaymentCommand::BeginConfirm {
                        amount: payment.payment.amount(),
                    }
                } else {
                    PaymentCommand::Abort
                };
                let (change, event) = payment_step(&payment, command, now);
                tokio::spawn(async move {
                    store
                        .update_payment(&change, &[event], now)
                        .await
                        .map(|()| change.next)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(next) => winners.push(next),
                Err(StoreError::VersionConflict { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one writer wins");
        assert_eq!(
            b.store.payment(payment.payment.id()).await.unwrap(),
            winners[0]
        );
    }
}

/// Payments are found by the id the gateway sees and by state, oldest first, up to a limit.
pub async fn store_payments_are_found_by_ref_and_state(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 10, PRICE).await;
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let (_, payment) = confirming_order(&b, event, &[units(ga, 1)], now, until).await;
        unknown.push(set_payment(&b, &payment, PaymentCommand::MarkUnknown, now).await);
    }
    let (_, in_progress) = start(
        &b,
        &place(&b, event, &[units(ga, 1)], now, until).await,
        now,
        until,
    )
    .await;
    assert_eq!(
        b.store
            .payment_by_order_ref(&in_progress.order_ref)
            .await
            .unwrap(),
        in_progress
    );
    assert_eq!(
        b.store
            .payments_in(&[PaymentState::Unknown], 10)
            .await
            .unwrap(),
        unknown
    );
    assert_eq!(
        b.store
            .payments_in(&[PaymentState::Unknown], 2)
            .await
            .unwrap(),
        unknown[..2]
    );
    let both = b
        .store
        .payments_in(&[PaymentState::InProgress, PaymentState::Unknown], 10)
        .await
        .unwrap();
    assert_eq!(both.len(), 4);
    assert!(
        b.store
            .payments_in(&[PaymentState::Done], 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The paid step sells every item of the order — seats and stock units — and moves order
/// and payment together.
pub async fn store_mark_paid_sells_every_item(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 3, PRICE).await;
    let ga = stock(&b, event, 10, PRICE).await;
    let items = [ticket(ids[0]), ticket(ids[1]), units(ga, 3)];
    let (record, payment) = confirming_order(&b, event, &items, now, until).await;
    let step = paid(&record, &payment, now);
    b.store.mark_paid(&step, now).await.unwrap();

    let order = record.order.id();
    for id in &ids[..2] {
        assert_eq!(ticket_state(&b, *id).await, TicketState::Sold { order });
    }
    assert_eq!(ticket_state(&b, ids[2]).await, TicketState::Available);
    assert_eq!(held_and_sold(&b, ga).await, (0, 3));
    assert_eq!(b.store.order(order).await.unwrap(), step.order.next);
    let done = b.store.payment(payment.payment.id()).await.unwrap();
    assert_eq!(done.payment.state(), PaymentState::Done);
    // Sold items stay sold after the hold's deadline.
    let a = b
        .store
        .availability(event, later(until, ONE_MINUTE))
        .await
        .unwrap();
    assert_eq!(a.tickets_available, 1);
    assert_eq!(a.stock_available, vec![(ga, 7)]);
}

/// A confirmation that ends after the hold's deadline still sells the items nobody took.
pub async fn store_mark_paid_sells_own_lapsed_items(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, PRICE).await[0];
    let ga = stock(&b, event, 2, PRICE).await;
    let (record, payment) =
        confirming_order(&b, event, &[ticket(seat), units(ga, 2)], now, until).await;
    let late = later(until, ONE_MINUTE);
    b.store
        .mark_paid(&paid(&record, &payment, late), late)
        .await
        .unwrap();
    assert_eq!(
        ticket_state(&b, seat).await,
        TicketState::Sold {
            order: record.order.id()
        }
    );
    assert_eq!(b.store.stock(ga).await.unwrap().stock.sold(), 2);
}

/// A seat another order took after the hold lapsed, and then gave back (released, or held
/// by a hold that lapsed in turn), is free again: the paid step takes it back and sells it.
pub async fn store_mark_paid_retakes_a_seat_free_again(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 2, PRICE).await;
    let items = [ticket(ids[0]), ticket(ids[1])];
    let (record, payment) = confirming_order(&b, event, &items, now, until).await;
    let second_until = later(until, TEN_MINUTES);
    let released = place(&b, event, &[ticket(ids[0])], until, second_until).await;
    let (cancel, e) = order_step(&released, OrderCommand::Cancel, until);
    b.store.cancel_unpaid(&cancel, &[e], until).await.unwrap();
    place(&b, event, &[ticket(ids[1])], until, second_until).await;

    b.store
        .mark_paid(&paid(&record, &payment, second_until), second_until)
        .await
        .unwrap();
    let order = record.order.id();
    for id in ids {
        assert_eq!(ticket_state(&b, id).await, TicketState::Sold { order });
    }
}

/// When another order took a seat or the stock after the hold lapsed, the paid step fails
/// with `ItemsLost` naming them, and changes nothing.
pub async fn store_mark_paid_fails_with_items_lost_changing_nothing(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(&b, event, 2, PRICE).await;
    let ga = stock(&b, event, 2, PRICE).await;
    let items = [ticket(ids[0]), ticket(ids[1]), units(ga, 2)];
    let (record, payment) = confirming_order(&b, event, &items, now, until).await;
    // The hold lapses; another buyer takes the second seat and the whole stock.
    let thief = place(
        &b,
        event,
        &[ticket(ids[1]), units(ga, 2)],
        until,
        later(until, TEN_MINUTES),
    )
    .await;
    let events = outbox_len(&b).await;
    let stock_before = b.store.stock(ga).await.unwrap().stock;

    match b
        .store
        .mark_paid(&paid(&record, &payment, until), until)
        .await
    {
        Err(StoreError::ItemsLost { tickets, stock }) => {
            assert_eq!(tickets, vec![ids[1]]);
            assert_eq!(stock, vec![ga]);
        }
        other => panic!("expected ItemsLost, got {other:?}"),
    }
    assert_eq!(b.store.order(record.order.id()).await.unwrap(), record);
    assert_eq!(
        b.store.payment(payment.payment.id()).await.unwrap(),
        payment
    );
    assert_eq!(
        holder(&b, ids[0]).await,
        Some(record.order.id()),
        "the seat nobody took is still held, not sold"
    );
    assert_eq!(holder(&b, ids[1]).await, Some(thief.order.id()));
    assert_eq!(b.store.stock(ga).await.unwrap().stock, stock_before);
    assert_eq!(outbox_len(&b).await, events, "no events from the failure");
}

/// A stock hold reclaimed after it lapsed is taken again by the paid step while units remain.
pub async fn store_mark_paid_retakes_reclaimed_stock(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 3, PRICE).await;
    let (record, payment) = confirming_order(&b, event, &[units(ga, 2)], now, until).await;
    // Another buyer's hold reclaims the lapsed units and takes one.
    place(&b, event, &[units(ga, 1)], until, later(until, TEN_MINUTES)).await;
    b.store
        .mark_paid(&paid(&record, &payment, until), until)
        .await
        .unwrap();
    assert_eq!(held_and_sold(&b, ga).await, (1, 2));
    assert_eq!(stock_available(&b, event, ga, until).await, 0);
}

/// Settling a refund puts the refunded items back on sale and moves order and payment
/// together; a stale version changes nothing.
pub async fn store_settle_refund_puts_items_back_on_sale(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let Refunding {
        event,
        ids,
        ga,
        record,
        payment,
        refund,
        ..
    } = refunding(&b).await;
    let stale = SettleRefund {
        payment: Cas {
            expected: payment.version() + 1,
            ..refund.payment.clone()
        },
        ..refund.clone()
    };
    assert!(matches!(
        b.store.settle_refund(&stale, now).await,
        Err(StoreError::VersionConflict {
            what: "payment",
            ..
        })
    ));
    assert_eq!(
        ticket_state(&b, ids[0]).await,
        TicketState::Sold {
            order: record.order.id()
        }
    );
    b.store.settle_refund(&refund, now).await.unwrap();

    assert_eq!(ticket_state(&b, ids[0]).await, TicketState::Available);
    assert!(matches!(
        ticket_state(&b, ids[1]).await,
        TicketState::Sold { .. }
    ));
    assert_eq!(held_and_sold(&b, ga).await, (0, 1));
    let stored_order = b.store.order(record.order.id()).await.unwrap();
    assert_eq!(
        stored_order.order.state().kind(),
        OrderStateKind::PartiallyRefunded
    );
    assert_eq!(
        b.store
            .payment(payment.payment.id())
            .await
            .unwrap()
            .payment
            .state(),
        PaymentState::PartiallyCanceled
    );
    // The refunded seat sells again.
    place(&b, event, &[ticket(ids[0]), units(ga, 4)], now, until).await;
}

/// Cancelling an unpaid order releases its items at once; a stale version releases nothing.
pub async fn store_cancel_unpaid_releases(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, PRICE).await[0];
    let ga = stock(&b, event, 3, PRICE).await;
    let placed = place(&b, event, &[ticket(seat), units(ga, 3)], now, until).await;
    let (extended, e0) = order_step(
        &placed,
        OrderCommand::Extend {
            expires_at: later(until, ONE_MINUTE),
        },
        now,
    );
    b.store.extend_hold(&extended, &[e0], now).await.unwrap();

    let (stale, e1) = order_step(&placed, OrderCommand::Cancel, now);
    assert!(matches!(
        b.store.cancel_unpaid(&stale, &[e1], now).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(holder(&b, seat).await, Some(placed.order.id()));

    let (cancel, e2) = order_step(&extended.next, OrderCommand::Cancel, now);
    b.store.cancel_unpaid(&cancel, &[e2], now).await.unwrap();
    assert_eq!(ticket_state(&b, seat).await, TicketState::Available);
    let a = b.store.availability(event, now).await.unwrap();
    assert_eq!((a.tickets_available, a.stock_available), (1, vec![(ga, 3)]));
    assert_eq!(
        b.store
            .order(placed.order.id())
            .await
            .unwrap()
            .order
            .state()
            .kind(),
        OrderStateKind::Cancelled
    );
    // Released items go to the next buyer at once.
    place(&b, event, &[ticket(seat), units(ga, 3)], now, until).await;
}

/// Extending a hold moves the deadline of the order and of every item: at the old deadline
/// nobody else can take them, at the new one they are free.
pub async fn store_extend_hold_moves_deadlines(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let new_until = later(until, TEN_MINUTES);
    let event = EventId::new();
    let seat = seats(&b, event, 1, PRICE).await[0];
    let ga = stock(&b, event, 2, PRICE).await;
    let placed = place(&b, event, &[ticket(seat), units(ga, 2)], now, until).await;
    let (change, e) = order_step(
        &placed,
        OrderCommand::Extend {
            expires_at: new_until,
        },
        now,
    );
    b.store.extend_hold(&change, &[e], now).await.unwrap();
    assert_eq!(b.store.order(placed.order.id()).await.unwrap(), change.next);

    for items in [[ticket(seat)], [units(ga, 1)]] {
        let rival = pending_order(event, UserId::new(), &items, PRICE, until, new_until);
        assert!(
            b.store.place_order(&rival, until).await.is_err(),
            "extended items are not free at the old deadline"
        );
    }
    let a = b.store.availability(event, until).await.unwrap();
    assert_eq!((a.tickets_available, a.stock_available), (0, vec![(ga, 0)]));
    place(
        &b,
        event,
        &[ticket(seat), units(ga, 2)],
        new_until,
        later(new_until, TEN_MINUTES),
    )
    .await;
}

/// Extending a hold that has lapsed fails with `ItemsLost` naming every lapsed item, and
/// changes nothing; so does a stale version.
pub async fn store_extend_hold_refuses_a_lapsed_hold(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    for shape in ["seat", "stock", "stock and seat"] {
        let seat = seats(&b, event, 1, PRICE).await[0];
        let ga = stock(&b, event, 2, PRICE).await;
        let (items, lost_tickets, lost_stock) = match shape {
            "seat" => (vec![ticket(seat)], vec![seat], vec![]),
            "stock" => (vec![units(ga, 2)], vec![], vec![ga]),
            _ => (vec![units(ga, 2), ticket(seat)], vec![seat], vec![ga]),
        };
        let placed = place(&b, event, &items, now, until).await;
        // Built while the hold was live, written after it lapsed.
        let (change, e) = order_step(
            &placed,
            OrderCommand::Extend {
                expires_at: later(until, TEN_MINUTES),
            },
            now,
        );
        let events = outbox_len(&b).await;
        match b
            .store
            .extend_hold(&change, std::slice::from_ref(&e), until)
            .await
        {
            Err(StoreError::ItemsLost { tickets, stock }) => {
                assert_eq!((tickets, stock), (lost_tickets, lost_stock), "{shape}");
            }
            other => panic!("{shape}: expected ItemsLost, got {other:?}"),
        }
        assert_eq!(b.store.order(placed.order.id()).await.unwrap(), placed);
        assert_eq!(outbox_len(&b).await, events);
        let stale = Cas {
            expected: placed.version() + 1,
            ..change
        };
        assert!(matches!(
            b.store.extend_hold(&stale, &[e], now).await,
            Err(StoreError::VersionConflict { .. })
        ));
        // The lapsed items are free.
        place(&b, event, &items, until, later(until, TEN_MINUTES)).await;
    }
}
