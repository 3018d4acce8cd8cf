//! The [`BookingStore`](crate::ports::store::BookingStore) suite, part four: orders listed a
//! page at a time, by buyer (`orders_of_user`) and by event (`orders_of_event`), newest
//! first, as an HTTP server's "my orders" and an organiser's order list read them; and an
//! event's tickets (`tickets_of_event`), as a seat map reads them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use super::Backend;
use super::fixtures::{krw, seats, stock};
use super::store::{later, ticket, units};
use super::store_orders::{
    ONE_MINUTE, PRICE, TEN_MINUTES, confirming_order_for, order_step, paid_step, payment_step,
    place_for, start,
};
use crate::clock::{Clock, Timestamp};
use crate::ids::{EventId, OrderId, UserId};
use crate::machine::{OrderCommand, OrderStateKind, PaymentCommand};
use crate::ports::store::{
    ItemRef, OrderPage, OrderRecord, PaymentRecord, SettleRefund, StoreError, TicketPage,
};

/// Whose orders a list reads.
#[derive(Debug, Clone, Copy)]
enum Owner {
    User(UserId),
    Event(EventId),
}

/// One page of `owner`'s orders.
async fn list(b: &Backend, owner: Owner, page: &OrderPage) -> Result<Vec<OrderRecord>, StoreError> {
    match owner {
        Owner::User(user) => b.store.orders_of_user(user, page).await,
        Owner::Event(event) => b.store.orders_of_event(event, page).await,
    }
}

/// The ids of a list, in its order.
fn ids(records: &[OrderRecord]) -> Vec<OrderId> {
    records.iter().map(|r| r.order.id()).collect()
}

/// The ids of `placed` (in the order they were placed), newest first.
fn newest_first(placed: &[OrderId]) -> Vec<OrderId> {
    placed.iter().rev().copied().collect()
}

/// Every page of `owner`'s orders from the first, following [`OrderPage::next`]; checks that
/// no page is longer than `limit`.
async fn walk(b: &Backend, owner: Owner, limit: u32) -> Vec<Vec<OrderRecord>> {
    let mut pages = Vec::new();
    let mut page = Some(OrderPage::first(limit));
    while let Some(current) = page {
        let got = list(b, owner, &current).await.unwrap();
        assert!(
            got.len() <= usize::try_from(limit).unwrap(),
            "a page holds at most its limit"
        );
        page = current.next(&got);
        pages.push(got);
        assert!(pages.len() <= 10_000, "the walk ends");
    }
    pages
}

/// All of `owner`'s orders, in one page of the largest size.
async fn everything(b: &Backend, owner: Owner) -> Vec<OrderRecord> {
    let all = list(b, owner, &OrderPage::first(OrderPage::MAX_LIMIT))
        .await
        .unwrap();
    assert!(
        all.len() < usize::try_from(OrderPage::MAX_LIMIT).unwrap(),
        "fewer orders than one page holds"
    );
    all
}

/// Checks that every record of a list is the stored order, whole.
async fn assert_as_stored(b: &Backend, records: &[OrderRecord]) {
    for record in records {
        assert_eq!(
            &b.store.order(record.order.id()).await.unwrap(),
            record,
            "a listed order is the stored record"
        );
    }
}

/// A user's orders come newest first, each as stored, and only theirs: not another buyer's
/// placed in between, of the same events. A user without orders gets an empty list.
pub async fn store_listing_user_orders_newest_first_and_only_theirs(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let (concert, festival) = (EventId::new(), EventId::new());
    let concert_ga = stock(&b, concert, 100, PRICE).await;
    let festival_ga = stock(&b, festival, 100, PRICE).await;
    let concert_seats = seats(&b, concert, 3, PRICE).await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let (mut alices, mut bobs) = (Vec::new(), Vec::new());
    for i in 0..6_u32 {
        let (event, items) = if i % 2 == 0 {
            (concert, vec![units(concert_ga, 1 + i)])
        } else {
            (festival, vec![units(festival_ga, i)])
        };
        alices.push(
            place_for(&b, alice, event, &items, now, until)
                .await
                .order
                .id(),
        );
        let items = match concert_seats.get(usize::try_from(i).unwrap()) {
            Some(&seat) => vec![ticket(seat)],
            None => vec![units(festival_ga, 1)],
        };
        let event = if i < 3 { concert } else { festival };
        bobs.push(
            place_for(&b, bob, event, &items, now, until)
                .await
                .order
                .id(),
        );
    }

    let listed = b
        .store
        .orders_of_user(alice, &OrderPage::first(100))
        .await
        .unwrap();
    assert_eq!(ids(&listed), newest_first(&alices), "alice's, newest first");
    assert!(listed.iter().all(|r| r.user == alice));
    assert_as_stored(&b, &listed).await;
    let events: HashSet<EventId> = listed.iter().map(|r| r.event).collect();
    assert_eq!(events, HashSet::from([concert, festival]), "of every event");

    let listed = b
        .store
        .orders_of_user(bob, &OrderPage::first(100))
        .await
        .unwrap();
    assert_eq!(ids(&listed), newest_first(&bobs), "bob's, newest first");
    assert!(listed.iter().all(|r| r.user == bob));
    assert_as_stored(&b, &listed).await;

    // The limit takes the newest.
    let two = b
        .store
        .orders_of_user(alice, &OrderPage::first(2))
        .await
        .unwrap();
    assert_eq!(ids(&two), vec![alices[5], alices[4]]);
    // Any order id is a position, even another buyer's: bob's third order came after
    // alice's third and before her fourth.
    let older = b
        .store
        .orders_of_user(alice, &OrderPage::first(100).before(bobs[2]))
        .await
        .unwrap();
    assert_eq!(ids(&older), vec![alices[2], alices[1], alices[0]]);

    for stranger in [UserId::new(), UserId::from_uuid(*concert.as_uuid())] {
        let none = b
            .store
            .orders_of_user(stranger, &OrderPage::first(100))
            .await
            .unwrap();
        assert!(none.is_empty(), "no orders of a user who placed none");
    }
}

/// An event's orders come newest first, of every buyer, and only that event's; an event
/// without orders gives an empty list.
pub async fn store_listing_event_orders_only_that_event(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let (concert, festival) = (EventId::new(), EventId::new());
    let concert_ga = stock(&b, concert, 100, PRICE).await;
    let festival_ga = stock(&b, festival, 100, PRICE).await;
    let buyers = [UserId::new(), UserId::new(), UserId::new()];
    let mut placed: BTreeMap<bool, Vec<OrderId>> = BTreeMap::new();
    for i in 0..12_usize {
        let at_concert = i % 4 != 1;
        let (event, ga) = if at_concert {
            (concert, concert_ga)
        } else {
            (festival, festival_ga)
        };
        let record = place_for(&b, buyers[i % 3], event, &[units(ga, 1)], now, until).await;
        placed
            .entry(at_concert)
            .or_default()
            .push(record.order.id());
    }

    for (event, at_concert) in [(concert, true), (festival, false)] {
        let listed = b
            .store
            .orders_of_event(event, &OrderPage::first(100))
            .await
            .unwrap();
        assert_eq!(ids(&listed), newest_first(&placed[&at_concert]));
        assert!(listed.iter().all(|r| r.event == event), "only the event's");
        assert_as_stored(&b, &listed).await;
        let walked: Vec<OrderRecord> = walk(&b, Owner::Event(event), 3)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(walked, listed, "pages of 3 read the same list");
    }
    let concert_buyers: HashSet<UserId> = b
        .store
        .orders_of_event(concert, &OrderPage::first(100))
        .await
        .unwrap()
        .iter()
        .map(|r| r.user)
        .collect();
    assert_eq!(concert_buyers, HashSet::from(buyers), "of every buyer");

    for unknown in [EventId::new(), EventId::from_uuid(*buyers[0].as_uuid())] {
        let none = b
            .store
            .orders_of_event(unknown, &OrderPage::first(100))
            .await
            .unwrap();
        assert!(none.is_empty(), "no orders of an event without any");
    }
}

/// Walking the pages of a user's and of an event's orders reads every order exactly once,
/// newest first, with no gap, for page sizes that do and do not divide the count (a full
/// last page is followed by an empty one). While other tasks place orders in parallel with
/// the walk, every order there was when it began is still read exactly once, in order: new
/// orders never shift the pages still to come.
pub async fn store_listing_pages_walk_every_order_once(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 10_000, PRICE).await;
    let (buyer, other) = (UserId::new(), UserId::new());
    let mut mine = Vec::new();
    let mut all = Vec::new();
    for i in 0..27 {
        let user = if i % 4 == 3 { other } else { buyer };
        let id = place_for(&b, user, event, &[units(ga, 1)], now, until)
            .await
            .order
            .id();
        if user == buyer {
            mine.push(id);
        }
        all.push(id);
    }
    assert_eq!(mine.len(), 21);

    for (owner, expected, limit, sizes) in [
        (Owner::User(buyer), &mine, 5, vec![5, 5, 5, 5, 1]),
        (Owner::User(buyer), &mine, 7, vec![7, 7, 7, 0]),
        (
            Owner::User(buyer),
            &mine,
            1,
            [vec![1; 21], vec![0]].concat(),
        ),
        (Owner::User(buyer), &mine, 21, vec![21, 0]),
        (Owner::User(buyer), &mine, 1_000, vec![21]),
        (Owner::Event(event), &all, 4, vec![4, 4, 4, 4, 4, 4, 3]),
        (Owner::Event(event), &all, 9, vec![9, 9, 9, 0]),
    ] {
        let pages = walk(&b, owner, limit).await;
        let got: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(got, sizes, "page sizes of {owner:?} by {limit}");
        let walked: Vec<OrderId> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(walked, newest_first(expected), "{owner:?} by {limit}");
    }

    // Two tasks keep placing orders for the same buyer and event until the walks end.
    let mut placed_meanwhile = 0;
    for round in 0..5 {
        let before_mine = ids(&everything(&b, Owner::User(buyer)).await);
        let before_all = ids(&everything(&b, Owner::Event(event)).await);
        let walking = Arc::new(AtomicBool::new(true));
        let placers: Vec<_> = (0..2)
            .map(|_| {
                let (backend, walking) = (b.clone(), Arc::clone(&walking));
                tokio::spawn(async move {
                    let mut placed = Vec::new();
                    while walking.load(Ordering::SeqCst) && placed.len() < 40 {
                        let record =
                            place_for(&backend, buyer, event, &[units(ga, 1)], now, until).await;
                        placed.push(record.order.id());
                    }
                    placed
                })
            })
            .collect();
        let walker = |owner: Owner, limit: u32| {
            let backend = b.clone();
            tokio::spawn(async move { walk(&backend, owner, limit).await })
        };
        let by_user = walker(Owner::User(buyer), 3 + round);
        let by_event = walker(Owner::Event(event), 4 + round);
        let (by_user, by_event) = (by_user.await.unwrap(), by_event.await.unwrap());
        walking.store(false, Ordering::SeqCst);
        let mut new = HashSet::new();
        for placer in placers {
            new.extend(placer.await.unwrap());
        }
        placed_meanwhile += new.len();
        for (pages, before) in [(by_user, &before_mine), (by_event, &before_all)] {
            let walked: Vec<OrderId> = pages.iter().flat_map(|p| ids(p)).collect();
            assert!(
                walked.windows(2).all(|w| w[0] > w[1]),
                "newest first, none twice"
            );
            let old: HashSet<OrderId> = before.iter().copied().collect();
            let old_read: Vec<OrderId> = walked
                .iter()
                .copied()
                .filter(|id| old.contains(id))
                .collect();
            assert_eq!(
                &old_read, before,
                "every order there at the start, once, no gap"
            );
            assert!(
                walked.iter().all(|id| old.contains(id) || new.contains(id)),
                "nothing but the owner's orders"
            );
        }
    }
    let total = everything(&b, Owner::User(buyer)).await;
    assert_eq!(
        total.len(),
        21 + placed_meanwhile,
        "every placed order listed"
    );
}

/// Orders in every state are listed, each in its current state: pending, awaiting payment,
/// paid, confirmed, cancelling (a refund in flight), cancelled, partially refunded,
/// refunded, expired.
pub async fn store_listing_shows_orders_in_every_state(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 100, PRICE).await;
    let buyer = UserId::new();
    let one = [units(ga, 1)];
    let two = [units(ga, 2)];
    let mut placed = Vec::new();

    let pending = place_for(&b, buyer, event, &one, now, until).await;
    placed.push(pending.order.id());

    let awaiting = place_for(&b, buyer, event, &one, now, until).await;
    start(&b, &awaiting, now, until).await;
    placed.push(awaiting.order.id());

    let (record, payment) = confirming_order_for(&b, buyer, event, &one, now, until).await;
    b.store
        .mark_paid(&paid_step(&record, &payment, now, false), now)
        .await
        .unwrap();
    placed.push(record.order.id());

    let (confirmed, _) = pay(&b, buyer, event, &one, now, until).await;
    placed.push(confirmed.order.id());

    let (record, _) = pay(&b, buyer, event, &one, now, until).await;
    let (cancelling, e) = order_step(&record, OrderCommand::Refund { amount: krw(PRICE) }, now);
    b.store.update_order(&cancelling, &[e], now).await.unwrap();
    placed.push(record.order.id());

    let record = place_for(&b, buyer, event, &one, now, until).await;
    let (cancel, e) = order_step(&record, OrderCommand::Cancel, now);
    b.store.cancel_unpaid(&cancel, &[e], now).await.unwrap();
    placed.push(record.order.id());

    let (record, payment) = pay(&b, buyer, event, &two, now, until).await;
    refund(&b, &record, &payment, units(ga, 1), now).await;
    placed.push(record.order.id());

    let (record, payment) = pay(&b, buyer, event, &one, now, until).await;
    refund(&b, &record, &payment, units(ga, 1), now).await;
    placed.push(record.order.id());

    let soon = later(now, ONE_MINUTE);
    let record = place_for(&b, buyer, event, &one, now, soon).await;
    let swept = b
        .store
        .expire_due(later(soon, ONE_MINUTE), 10)
        .await
        .unwrap();
    let expired: Vec<OrderId> = swept.expired.iter().map(|(id, ..)| *id).collect();
    assert_eq!(expired, vec![record.order.id()]);
    placed.push(record.order.id());

    for owner in [Owner::User(buyer), Owner::Event(event)] {
        let listed = list(&b, owner, &OrderPage::first(100)).await.unwrap();
        assert_eq!(ids(&listed), newest_first(&placed), "{owner:?}");
        assert_as_stored(&b, &listed).await;
        let kinds: Vec<OrderStateKind> = listed.iter().map(|r| r.order.state().kind()).collect();
        assert_eq!(
            kinds,
            vec![
                OrderStateKind::Expired,
                OrderStateKind::Refunded,
                OrderStateKind::PartiallyRefunded,
                OrderStateKind::Cancelled,
                OrderStateKind::Cancelling,
                OrderStateKind::Confirmed,
                OrderStateKind::Paid,
                OrderStateKind::AwaitingPayment,
                OrderStateKind::Pending,
            ],
            "{owner:?}"
        );
    }
}

/// A limit of 0 or above [`OrderPage::MAX_LIMIT`] is refused as invalid, with or without a
/// cursor; the bounds themselves are accepted. Cursors at the ends of the id range work:
/// before the lowest possible id nothing is listed, before the highest everything.
pub async fn store_listing_refuses_invalid_limits(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ga = stock(&b, event, 100, PRICE).await;
    let buyer = UserId::new();
    let mut placed = Vec::new();
    for _ in 0..3 {
        let record = place_for(&b, buyer, event, &[units(ga, 1)], now, until).await;
        placed.push(record.order.id());
    }

    for owner in [Owner::User(buyer), Owner::Event(event)] {
        for limit in [0, OrderPage::MAX_LIMIT + 1, u32::MAX] {
            for page in [
                OrderPage::first(limit),
                OrderPage::first(limit).before(placed[2]),
            ] {
                match list(&b, owner, &page).await {
                    Err(StoreError::Invalid(_)) => {}
                    other => panic!("{owner:?} with {page:?}: expected Invalid, got {other:?}"),
                }
            }
        }
        let most = list(&b, owner, &OrderPage::first(OrderPage::MAX_LIMIT))
            .await
            .unwrap();
        assert_eq!(ids(&most), newest_first(&placed));
        let newest = list(&b, owner, &OrderPage::first(1)).await.unwrap();
        assert_eq!(ids(&newest), vec![placed[2]]);

        let lowest = OrderId::from_uuid(Uuid::nil());
        let none = list(&b, owner, &OrderPage::first(10).before(lowest))
            .await
            .unwrap();
        assert!(none.is_empty(), "nothing is below the lowest id");
        let highest = OrderId::from_uuid(Uuid::max());
        let every = list(&b, owner, &OrderPage::first(10).before(highest))
            .await
            .unwrap();
        assert_eq!(ids(&every), newest_first(&placed));
        let oldest = list(&b, owner, &OrderPage::first(10).before(placed[0]))
            .await
            .unwrap();
        assert!(oldest.is_empty(), "nothing before the oldest order");
    }
}

/// Places `items` for `user` and pays: the order is confirmed.
async fn pay(
    b: &Backend,
    user: UserId,
    event: EventId,
    items: &[ItemRef],
    now: Timestamp,
    until: Timestamp,
) -> (OrderRecord, PaymentRecord) {
    let (record, payment) = confirming_order_for(b, user, event, items, now, until).await;
    let step = paid_step(&record, &payment, now, true);
    b.store.mark_paid(&step, now).await.unwrap();
    (step.order.next, step.payment.next)
}

/// Refunds `restock` (one unit of the order's stock, worth [`PRICE`]) of a paid order.
async fn refund(
    b: &Backend,
    record: &OrderRecord,
    payment: &PaymentRecord,
    restock: ItemRef,
    now: Timestamp,
) {
    let amount = krw(PRICE);
    let (cancelling, e1) = order_step(record, OrderCommand::Refund { amount }, now);
    b.store.update_order(&cancelling, &[e1], now).await.unwrap();
    let (settled, e2) = order_step(&cancelling.next, OrderCommand::SettleCancel, now);
    let (canceled, e3) = payment_step(payment, PaymentCommand::Cancel { amount }, now);
    let step = SettleRefund {
        order: settled,
        payment: canceled,
        restock: vec![restock],
        events: vec![e2, e3],
    };
    b.store.settle_refund(&step, now).await.unwrap();
}

/// An event's seat map read a page at a time (`tickets_of_event`): every ticket of the event
/// once, lowest id first, none of another event, each as `ticket` shows it (a held seat
/// held, a lapsed hold still held as stored); a ticket listed mid-walk past the cursor is
/// read too; an event without tickets lists none; limits outside 1 to the maximum are
/// refused, and so is a page of a listing that never was one.
pub async fn store_listing_event_tickets_by_id(b: Backend) {
    let (event, other) = (EventId::new(), EventId::new());
    let mut mine = seats(&b, event, 23, PRICE).await;
    seats(&b, other, 5, PRICE).await;
    let now = b.clock.now();
    let held = mine[7];
    place_for(
        &b,
        UserId::new(),
        event,
        &[ticket(held)],
        now,
        later(now, TEN_MINUTES),
    )
    .await;
    mine.sort_unstable();

    let mut read = Vec::new();
    let mut page = Some(TicketPage::first(10));
    let mut pages = 0;
    while let Some(current) = page {
        let got = b.store.tickets_of_event(event, &current).await.unwrap();
        assert!(got.len() <= 10, "a page holds at most its limit");
        page = current.next(&got);
        read.extend(got);
        pages += 1;
    }
    assert_eq!(pages, 3, "23 tickets are pages of 10, 10 and 3");
    let ids: Vec<_> = read.iter().map(|l| l.ticket.id()).collect();
    assert_eq!(ids, mine, "every ticket of the event once, lowest id first");
    for listing in &read {
        assert_eq!(listing.event, event, "only the event's own tickets");
        assert_eq!(
            *listing,
            b.store.ticket(listing.ticket.id()).await.unwrap(),
            "each as `ticket` shows it"
        );
    }
    let later_now = later(now, TEN_MINUTES + ONE_MINUTE);
    let held_listing = read.iter().find(|l| l.ticket.id() == held).unwrap();
    assert!(
        !held_listing.ticket.is_available_at(now),
        "the held seat shows held"
    );
    assert!(
        held_listing.ticket.is_available_at(later_now),
        "its hold lapses as the machine says"
    );

    // A seat listed after the walk's position is still ahead of it.
    let first = b
        .store
        .tickets_of_event(event, &TicketPage::first(1))
        .await
        .unwrap();
    let added = seats(&b, event, 1, PRICE).await[0];
    let rest = b
        .store
        .tickets_of_event(event, &TicketPage::first(100).after(first[0].ticket.id()))
        .await
        .unwrap();
    assert_eq!(
        rest.iter().any(|l| l.ticket.id() == added),
        added > first[0].ticket.id(),
        "a seat above the position is read, one below is not"
    );
    assert_eq!(
        rest.len(),
        mine.len() - 1 + usize::from(added > first[0].ticket.id())
    );

    assert!(
        b.store
            .tickets_of_event(EventId::new(), &TicketPage::first(10))
            .await
            .unwrap()
            .is_empty(),
        "an event without tickets lists none"
    );
    for limit in [0, TicketPage::MAX_LIMIT + 1] {
        let refused = b
            .store
            .tickets_of_event(event, &TicketPage::first(limit))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "limit {limit}: {refused:?}"
        );
    }
}
