//! Opening a sale: first-come coupons, holds that lapse on their own, the waiting room.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats};
use super::{World, coupon_rules, in_parallel, race};
use crate::clock::Clock;
use crate::ids::{CouponId, OrderId, UserId};
use crate::machine::OrderStateKind;
use crate::memory::{Fault, GatewayOp};
use crate::ports::coupon::{CouponCampaign, CouponError, CouponUse, Issuance};
use crate::ports::queue::{QueueError, QueueStatus};
use crate::service::{BookingError, ItemRef};

/// A campaign of `budget` coupons with `code`, registered in the backend.
async fn campaign(w: &World, code: &str, budget: u32) -> CouponId {
    let campaign = CouponCampaign {
        id: CouponId::new(),
        code: code.to_owned(),
        budget,
        issue_until: None,
    };
    w.backend.coupons.create_campaign(&campaign).await.unwrap();
    campaign.id
}

/// Seed 8, issuance: 1,000 users rush a 100-coupon campaign: exactly 100 are issued, each to
/// a different user, the rest are told it is exhausted, and asking again changes nothing.
pub async fn service_first_come_coupon_issues_exactly_budget(b: Backend) {
    let w = World::new(b, no_rules());
    let coupon = campaign(&w, "FIRST100", 100).await;
    let users: Vec<UserId> = (0..1_000).map(|_| UserId::new()).collect();
    let results = in_parallel(users.len(), |i| {
        let w = w.clone();
        let user = users[i];
        async move {
            let now = w.clock().now();
            (user, w.backend.coupons.issue(coupon, user, now).await)
        }
    })
    .await;
    let mut winners = BTreeSet::new();
    for (user, result) in results {
        match result {
            Ok(Issuance::New(issued)) => {
                assert_eq!(issued.user, user);
                assert!(winners.insert(user), "nobody twice");
            }
            Ok(Issuance::Existing(_)) => panic!("a first request found an existing coupon"),
            Err(CouponError::Exhausted) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 100);
    assert_eq!(w.backend.coupons.remaining(coupon).await.unwrap(), 0);
    for &user in winners.iter().take(10) {
        let now = w.clock().now();
        let again = w.backend.coupons.issue(coupon, user, now).await.unwrap();
        assert!(matches!(again, Issuance::Existing(_)));
        assert_eq!(w.backend.coupons.coupons_of(user).await.unwrap().len(), 1);
    }
}

/// The state of `user`'s coupon of `coupon`.
async fn coupon_state(w: &World, coupon: CouponId, user: UserId) -> CouponUse {
    let held = w.backend.coupons.coupons_of(user).await.unwrap();
    held.iter().find(|c| c.coupon == coupon).unwrap().state
}

/// Seed 8, use: a coupon presented on an order discounts it, is reserved when payment
/// starts, spent when the payment succeeds, and given back when the payment fails or the
/// order expires (then it can be used again). A spent coupon cannot be used twice.
pub async fn service_coupon_reserved_committed_released(b: Backend) {
    let (code, rules) = coupon_rules("WELCOME", 5_000);
    let w = World::new(b, rules);
    let coupon = campaign(&w, "WELCOME", 10).await;
    let ids = seats(&w.backend, w.event, 5, 50_000).await;
    let buyer = |n: usize| {
        let user = UserId::new();
        let mut request = w.request(user, vec![ItemRef::Ticket { ticket: ids[n] }]);
        request.coupons = vec![code.clone()];
        (user, request)
    };
    let issue = |user| {
        let w = w.clone();
        async move {
            let now = w.clock().now();
            w.backend.coupons.issue(coupon, user, now).await.unwrap();
        }
    };

    // Paid: reserved at start, used on success.
    let (paying, request) = buyer(0);
    issue(paying).await;
    let order = w.service.hold(&request).await.unwrap();
    assert_eq!(
        order.order.total(),
        krw(45_000),
        "the coupon discounts the order"
    );
    assert_eq!(coupon_state(&w, coupon, paying).await, CouponUse::Issued);
    let (_, confirmation) = w.start(order.order.id(), "fake").await;
    let reserved = CouponUse::Reserved {
        order: order.order.id(),
    };
    assert_eq!(coupon_state(&w, coupon, paying).await, reserved);
    w.service.confirm_payment(&confirmation).await.unwrap();
    let used = CouponUse::Used {
        order: order.order.id(),
    };
    assert_eq!(coupon_state(&w, coupon, paying).await, used);
    let mut again = request.clone();
    again.order = OrderId::new();
    again.items = vec![ItemRef::Ticket { ticket: ids[4] }];
    assert!(matches!(
        w.service.hold(&again).await,
        Err(BookingError::Coupon(CouponError::Unavailable { .. }))
    ));

    // Payment failed: released.
    let (declined, request) = buyer(1);
    issue(declined).await;
    let order = w.service.hold(&request).await.unwrap();
    let (_, confirmation) = w.start(order.order.id(), "fake").await;
    w.gateway.fail_next(
        GatewayOp::Confirm,
        Fault::Reject("REJECT_CARD_PAYMENT".into()),
    );
    assert!(matches!(
        w.service.confirm_payment(&confirmation).await,
        Err(BookingError::PaymentRejected { .. })
    ));
    assert_eq!(coupon_state(&w, coupon, declined).await, CouponUse::Issued);

    // Order expired: released by the sweep, and usable again.
    let (abandoning, request) = buyer(2);
    issue(abandoning).await;
    let order = w.service.hold(&request).await.unwrap();
    w.start(order.order.id(), "fake").await;
    let expiry = *w.service.policies().expiry.config();
    w.clock()
        .advance(expiry.hold_ttl + expiry.grace_period + Duration::from_secs(1));
    let swept = w.service.sweep().await.unwrap();
    assert!(swept.coupons_released >= 1);
    assert_eq!(
        coupon_state(&w, coupon, abandoning).await,
        CouponUse::Issued
    );
    let mut retry = request.clone();
    retry.order = OrderId::new();
    retry.items = vec![ItemRef::Ticket { ticket: ids[3] }];
    let order = w.service.hold(&retry).await.unwrap();
    assert_eq!(order.order.total(), krw(45_000));
}

/// A double click on "pay": the same order's payment started twice at once. One payment is
/// started and both clicks get its intent; the order's coupon stays reserved for it
/// (a losing click must not give it back) and is spent when it is paid.
pub async fn service_double_start_payment_keeps_the_coupon(b: Backend) {
    let (code, rules) = coupon_rules("WELCOME", 5_000);
    let w = World::new(b, rules);
    let coupon = campaign(&w, "WELCOME", 1_000).await;
    for _ in 0..500 {
        let user = UserId::new();
        let now = w.clock().now();
        w.backend.coupons.issue(coupon, user, now).await.unwrap();
        let seat = seats(&w.backend, w.event, 1, 50_000).await[0];
        let mut request = w.request(user, vec![ItemRef::Ticket { ticket: seat }]);
        request.coupons = vec![code.clone()];
        let order = w.service.hold(&request).await.unwrap().order.id();
        let click = || {
            let service = w.service.clone();
            async move { service.start_payment(order, "fake").await }
        };
        let (first, second) = race(click(), click()).await;
        let intent = w.service.start_payment(order, "fake").await.unwrap();
        assert_eq!(first.unwrap(), intent, "every click gets the one intent");
        assert_eq!(second.unwrap(), intent, "every click gets the one intent");
        let reserved = CouponUse::Reserved { order };
        assert_eq!(coupon_state(&w, coupon, user).await, reserved);
        let confirmation = w.authenticate(&intent);
        w.service.confirm_payment(&confirmation).await.unwrap();
        let used = CouponUse::Used { order };
        assert_eq!(coupon_state(&w, coupon, user).await, used);
    }
}

/// Seed 9: many abandoned holds (some with payment started) return to sale the instant they
/// expire, with no sweeper run: a second wave of buyers takes every one of those seats.
pub async fn service_abandoned_holds_return_at_expiry(b: Backend) {
    let w = World::new(b, no_rules());
    let ids = seats(&w.backend, w.event, 100, 10_000).await;
    let pairs: Vec<[_; 2]> = ids[..80].chunks(2).map(|c| [c[0], c[1]]).collect();
    let placed_at = w.clock().now();
    for (i, pair) in pairs.iter().enumerate() {
        let order = w.service.hold(&w.seats_request(pair)).await.unwrap();
        if i % 2 == 0 {
            w.start(order.order.id(), "fake").await;
        }
    }
    let ttl = w.service.policies().expiry.config().hold_ttl;
    let deadline = placed_at.checked_add(ttl).unwrap();

    w.clock()
        .set(deadline.checked_sub(Duration::from_secs(1)).unwrap());
    assert_eq!(w.tickets_available().await, 20, "held until the deadline");
    assert!(matches!(
        w.service.hold(&w.seats_request(&pairs[0])).await,
        Err(BookingError::Unavailable { .. })
    ));

    w.clock().set(deadline);
    assert_eq!(
        w.tickets_available().await,
        100,
        "free the instant they expire"
    );
    let second_wave = in_parallel(pairs.len(), |i| {
        let w = w.clone();
        let request = w.seats_request(&pairs[i]);
        async move { w.service.hold(&request).await }
    })
    .await;
    for result in second_wave {
        assert_eq!(
            result.unwrap().order.state().kind(),
            OrderStateKind::Pending
        );
    }
    assert_eq!(
        w.tickets_available().await,
        20,
        "the second wave holds them"
    );
}

/// Seed 11: 1,000 buyers join the waiting room at once and get exact places; 50 are admitted
/// per cycle in arrival order and every place moves up by exactly 50; admissions lapse after
/// their TTL. `hold` lets in only a buyer admitted now, with their own token.
pub async fn service_waiting_room_admits_in_order(b: Backend) {
    const JOINERS: u64 = 1_000;
    const PER_CYCLE: u64 = 50;
    let w = World::new(b, no_rules()).gated();
    let ids = seats(&w.backend, w.event, 2, 10_000).await;
    let ttl = Duration::from_secs(120);
    let cycle = Duration::from_secs(ttl.as_secs() + 1);
    let users: Vec<UserId> = (0..JOINERS).map(|_| UserId::new()).collect();
    let mut entries = in_parallel(users.len(), |i| {
        let w = w.clone();
        let user = users[i];
        async move {
            let now = w.clock().now();
            (
                user,
                w.backend.queue.join(w.event, user, now).await.unwrap(),
            )
        }
    })
    .await;
    entries.sort_by_key(|(_, e)| e.sequence);
    let sequences: Vec<u64> = entries.iter().map(|(_, e)| e.sequence).collect();
    assert_eq!(
        sequences,
        (0..JOINERS).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    assert_eq!(w.backend.queue.waiting_len(w.event).await.unwrap(), JOINERS);

    let (first_user, first) = entries[0];
    let hold_as = |user: UserId, admission| {
        let mut request = w.request(user, vec![ItemRef::Ticket { ticket: ids[0] }]);
        request.admission = admission;
        let service = w.service.clone();
        async move { service.hold(&request).await }
    };
    assert!(matches!(
        hold_as(first_user, None).await,
        Err(BookingError::NotAdmitted(QueueError::UnknownToken))
    ));
    assert!(matches!(
        hold_as(first_user, Some(first.token)).await,
        Err(BookingError::NotAdmitted(QueueError::NotAdmitted {
            position: 1
        }))
    ));

    for round in 0..JOINERS / PER_CYCLE {
        let now = w.clock().now();
        let admitted = w
            .backend
            .queue
            .admit_next(w.event, 50, ttl, now)
            .await
            .unwrap();
        let start = usize::try_from(round * PER_CYCLE).unwrap();
        let expected: Vec<_> = entries[start..start + 50]
            .iter()
            .map(|(_, e)| e.token)
            .collect();
        let got: Vec<_> = admitted.iter().map(|a| a.token).collect();
        assert_eq!(got, expected, "cycle {round}: admitted in arrival order");
        for (user, entry) in &entries[start..] {
            let status = w.backend.queue.status(entry.token, now).await.unwrap();
            if entry.sequence < (round + 1) * PER_CYCLE {
                let until = now.checked_add(ttl).unwrap();
                assert_eq!(status, QueueStatus::Admitted { expires_at: until });
                assert_eq!(
                    admitted
                        .iter()
                        .find(|a| a.token == entry.token)
                        .unwrap()
                        .user,
                    *user
                );
            } else {
                let position = entry.sequence - (round + 1) * PER_CYCLE + 1;
                assert_eq!(status, QueueStatus::Waiting { position }, "cycle {round}");
            }
        }
        if round == 0 {
            let (other, _) = entries[1];
            assert!(matches!(
                hold_as(other, Some(first.token)).await,
                Err(BookingError::NotAdmitted(QueueError::WrongUser))
            ));
            hold_as(first_user, Some(first.token)).await.unwrap();
        }
        w.clock().advance(cycle);
        let later = w.clock().now();
        let (last_user, last) = entries[start + 49];
        assert!(matches!(
            w.backend.queue.status(last.token, later).await.unwrap(),
            QueueStatus::Expired { .. }
        ));
        let mut late = w.request(last_user, vec![ItemRef::Ticket { ticket: ids[1] }]);
        late.admission = Some(last.token);
        assert!(matches!(
            w.service.hold(&late).await,
            Err(BookingError::NotAdmitted(
                QueueError::AdmissionExpired { .. }
            ))
        ));
    }
    assert_eq!(w.backend.queue.waiting_len(w.event).await.unwrap(), 0);
}

/// A buyer extends a hold of a seat and some stock: the items stay off sale past the first
/// deadline, extensions stop at the hold's maximum lifetime (30 min), and the items return to
/// sale at that cap. A lapsed hold cannot be extended.
pub async fn service_extended_hold_is_capped(b: Backend) {
    let w = World::new(b, no_rules());
    let seat = seats(&w.backend, w.event, 1, 10_000).await[0];
    let stock = super::super::fixtures::stock(&w.backend, w.event, 1, 10_000).await;
    let items = vec![
        ItemRef::Ticket { ticket: seat },
        ItemRef::Stock { stock, quantity: 1 },
    ];
    let placed_at = w.clock().now();
    let order = w
        .service
        .hold(&w.request(UserId::new(), items.clone()))
        .await;
    let order = order.unwrap().order.id();
    let expiry = *w.service.policies().expiry.config();
    let cap = placed_at.checked_add(expiry.max_hold_lifetime).unwrap();

    let mut extensions = 0;
    loop {
        w.clock().advance(expiry.hold_ttl - Duration::from_secs(60));
        let extended = w.service.extend_hold(order).await.unwrap();
        let expires_at = extended.order.expires_at();
        assert!(expires_at <= cap, "never past the cap");
        extensions += 1;
        assert_eq!(w.tickets_available().await, 0, "still held");
        let now = w.clock().now();
        let availability = w.backend.store.availability(w.event, now).await.unwrap();
        assert_eq!(availability.stock_available, vec![(stock, 0)], "stock too");
        let rival = w.request(UserId::new(), items.clone());
        assert!(matches!(
            w.service.hold(&rival).await,
            Err(BookingError::Unavailable { .. } | BookingError::SoldOut { .. })
        ));
        if expires_at == cap {
            break;
        }
    }
    assert!(extensions >= 2, "extended until the cap ({extensions})");
    assert!(matches!(
        w.service.extend_hold(order).await,
        Err(BookingError::ExtensionLimit { cap: at }) if at == cap
    ));

    w.clock().set(cap);
    assert_eq!(w.tickets_available().await, 1, "back on sale at the cap");
    assert!(matches!(
        w.service.extend_hold(order).await,
        Err(BookingError::Expired)
    ));
    let rival = w.request(UserId::new(), items);
    w.service.hold(&rival).await.unwrap();
}
