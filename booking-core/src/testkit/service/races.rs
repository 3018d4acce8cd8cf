//! Contention: many buyers, one seat or a little stock; confirms racing the sweeper.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::super::Backend;
use super::super::fixtures::{krw, no_rules, seats, stock};
use super::{World, coupon_rules, in_parallel, race, service_on};
use crate::clock::{Clock, ManualClock};
use crate::ids::{CouponId, UserId};
use crate::machine::{OrderStateKind, PaymentState, TicketState};
use crate::money::Currency;
use crate::ports::coupon::{CouponCampaign, CouponUse};
use crate::ports::wallet::Movement;
use crate::service::{BookingError, ItemRef};

/// Seed 1: ten buyers hold the same seat at once: one gets it, nine are told it is
/// unavailable (a typed conflict naming the seat). Repeated on fresh seats.
pub async fn service_ten_holds_on_one_seat_one_wins(b: Backend) {
    let w = World::new(b, no_rules());
    for _ in 0..50 {
        let seat = seats(&w.backend, w.event, 1, 10_000).await[0];
        let results = in_parallel(10, |_| {
            let w = w.clone();
            let request = w.seats_request(&[seat]);
            async move { w.service.hold(&request).await }
        })
        .await;
        let mut winners = Vec::new();
        for result in results {
            match result {
                Ok(order) => winners.push(order.order.id()),
                Err(BookingError::Unavailable { tickets }) => assert_eq!(tickets, vec![seat]),
                Err(e) => panic!("expected Unavailable, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one holder");
        let held = w.backend.store.ticket(seat).await.unwrap().ticket;
        assert!(
            matches!(held.state(), TicketState::Held { order, .. } if order == winners[0]),
            "the seat is held by the winner"
        );
    }
}

/// A hold request sent ten times at once (a client retrying) places one order: every
/// repeat answers with it, and the seats are held once.
pub async fn service_repeated_hold_request_places_one_order(b: Backend) {
    let w = World::new(b, no_rules());
    for _ in 0..20 {
        let ids = seats(&w.backend, w.event, 2, 10_000).await;
        let request = w.seats_request(&ids);
        let results = in_parallel(10, |_| {
            let w = w.clone();
            let request = request.clone();
            async move { w.service.hold(&request).await }
        })
        .await;
        let placed = w.service.order(request.order).await.unwrap();
        for result in results {
            assert_eq!(result.unwrap(), placed, "a repeat returns the first order");
        }
        for seat in ids {
            let ticket = w.backend.store.ticket(seat).await.unwrap().ticket;
            assert!(matches!(
                ticket.state(),
                TicketState::Held { order, .. } if order == request.order
            ));
        }
    }
}

/// Seed 3: a buyer confirms at 9 min 59 s of a 10 min hold while another node (its clock
/// past the deadline and the grace period) sweeps. Whoever wins, the order is never both paid
/// and expired: per trial exactly one of {order confirmed, payment done, seat sold} and
/// {order expired, payment expired, seat back on sale, nothing charged} holds.
pub async fn service_confirm_at_9m59s_races_the_sweeper(b: Backend) {
    let w = World::new(b, no_rules());
    let expiry = *w.service.policies().expiry.config();
    let node = ManualClock::new(w.clock().now());
    let sweeper = service_on(
        &w.backend,
        node.clone(),
        &w.gateway,
        w.service.policies().clone(),
    );
    let (mut paid, mut expired) = (0_u64, 0_u64);
    for trial in 0..1_000 {
        let seat = seats(&w.backend, w.event, 1, 10_000).await[0];
        let placed_at = w.clock().now();
        let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
        let (intent, confirmation) = w.start(order.order.id(), "fake").await;
        let deadline = placed_at.checked_add(expiry.hold_ttl).unwrap();
        w.clock()
            .set(deadline.checked_sub(Duration::from_secs(1)).unwrap());
        node.set(deadline.checked_add(expiry.grace_period).unwrap());

        let confirm = {
            let service = w.service.clone();
            async move { service.confirm_payment(&confirmation).await }
        };
        let sweep = {
            let sweeper = sweeper.clone();
            async move { sweeper.sweep().await }
        };
        // Alternate who is spawned first so neither side always gets the head start.
        let (confirmed, swept) = if trial % 2 == 0 {
            race(confirm, sweep).await
        } else {
            let (swept, confirmed) = race(sweep, confirm).await;
            (confirmed, swept)
        };
        swept.unwrap();

        let record = w.service.order(order.order.id()).await.unwrap();
        let payment = w.backend.store.payment(intent.payment).await.unwrap();
        let ticket = w.backend.store.ticket(seat).await.unwrap().ticket;
        match (record.order.state().kind(), payment.payment.state()) {
            (OrderStateKind::Confirmed, PaymentState::Done) => {
                assert_eq!(confirmed.unwrap(), record, "trial {trial}");
                assert!(
                    matches!(ticket.state(), TicketState::Sold { order } if order == record.order.id()),
                    "trial {trial}: a paid seat is sold to its buyer"
                );
                paid += 1;
            }
            (OrderStateKind::Expired, PaymentState::Expired) => {
                assert!(
                    matches!(confirmed, Err(BookingError::Expired)),
                    "trial {trial}: a confirm that lost says so, got {confirmed:?}"
                );
                assert_eq!(ticket.state(), TicketState::Available, "trial {trial}");
                expired += 1;
            }
            other => panic!("trial {trial}: order and payment disagree: {other:?}"),
        }
        assert_eq!(
            w.gateway.stats().charges,
            paid,
            "trial {trial}: charged iff paid"
        );
        w.clock()
            .set(node.now().checked_add(Duration::from_secs(1)).unwrap());
    }
    tracing::info!(paid, expired, "confirm vs sweeper");
}

/// Seed 10: 1,000 buyers race for 100 units of stock through the whole flow (hold → start →
/// confirm): exactly 100 are sold and charged, the rest are told it sold out, nothing stays
/// held.
pub async fn service_stock_sells_exactly_capacity(b: Backend) {
    let w = World::new(b, no_rules());
    let stock = stock(&w.backend, w.event, 100, 5_000).await;
    let results = in_parallel(1_000, |_| {
        let w = w.clone();
        let request = w.request(UserId::new(), vec![ItemRef::Stock { stock, quantity: 1 }]);
        async move { w.buy(&request).await }
    })
    .await;
    let mut sold = 0_u32;
    for result in results {
        match result {
            Ok(order) => {
                assert_eq!(order.order.state().kind(), OrderStateKind::Confirmed);
                sold += 1;
            }
            Err(BookingError::SoldOut { stock: s, .. }) => assert_eq!(s, stock),
            Err(e) => panic!("expected SoldOut, got {e:?}"),
        }
    }
    assert_eq!(sold, 100);
    let listing = w.backend.store.stock(stock).await.unwrap().stock;
    assert_eq!((listing.sold(), listing.held()), (100, 0));
    assert_eq!(w.gateway.stats().charges, 100);
    let now = w.clock().now();
    let availability = w.backend.store.availability(w.event, now).await.unwrap();
    assert_eq!(availability.stock_available, vec![(stock, 0)]);
}

/// Seed 12: many buyers at once, each order holding stock, using a coupon and paying with
/// points, some abandoning after starting payment. Every task finishes (no deadlock), and the
/// books agree: units sold = orders confirmed = coupons used, each confirmed buyer debited
/// once for exactly the discounted total, everyone else's points and coupons untouched.
pub async fn service_stock_coupon_points_never_deadlock(b: Backend) {
    const BUYERS: usize = 200;
    const PRICE: i64 = 10_000;
    const COUPON_OFF: i64 = 1_000;
    const BALANCE: i64 = 20_000;
    let (code, rules) = coupon_rules("SALE", COUPON_OFF);
    let w = World::new(b, rules);
    for round in 0..3 {
        let stock = stock(&w.backend, w.event, 60, PRICE).await;
        let campaign = CouponCampaign {
            id: CouponId::new(),
            code: code.as_str().to_owned(),
            budget: 1_000,
            issue_until: None,
        };
        w.backend.coupons.create_campaign(&campaign).await.unwrap();
        let mut users = Vec::with_capacity(BUYERS);
        for _ in 0..BUYERS {
            let user = UserId::new();
            let now = w.clock().now();
            w.backend
                .coupons
                .issue(campaign.id, user, now)
                .await
                .unwrap();
            w.top_up(user, BALANCE).await;
            users.push(user);
        }
        let flows = in_parallel(BUYERS, |i| {
            let w = w.clone();
            let mut request = w.request(users[i], vec![ItemRef::Stock { stock, quantity: 1 }]);
            request.coupons = vec![code.clone()];
            async move {
                let order = w.service.hold(&request).await?;
                let (_, confirmation) = w.start(order.order.id(), "points").await;
                if i % 5 == 0 {
                    return w
                        .service
                        .cancel_order(order.order.id(), "changed mind")
                        .await;
                }
                w.service.confirm_payment(&confirmation).await
            }
        });
        let results = tokio::time::timeout(Duration::from_secs(300), flows)
            .await
            .expect("every order finishes: no deadlock");

        let mut confirmed = 0_u32;
        for (i, result) in results.into_iter().enumerate() {
            let user = users[i];
            let balance = w.backend.wallet.balance(user, Currency::KRW).await.unwrap();
            let coupon = w.backend.coupons.coupons_of(user).await.unwrap();
            let coupon = coupon.iter().find(|c| c.coupon == campaign.id).unwrap();
            let debits: Vec<_> = w
                .backend
                .wallet
                .ledger(user, Currency::KRW)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.movement == Movement::Debit)
                .collect();
            match result {
                Ok(order) if order.order.state().kind() == OrderStateKind::Confirmed => {
                    confirmed += 1;
                    assert_eq!(order.order.total(), krw(PRICE - COUPON_OFF));
                    assert_eq!(balance, krw(BALANCE - PRICE + COUPON_OFF));
                    assert_eq!(debits.len(), 1, "round {round}: debited once");
                    assert_eq!(
                        coupon.state,
                        CouponUse::Used {
                            order: order.order.id()
                        }
                    );
                }
                Ok(order) => {
                    assert_eq!(order.order.state().kind(), OrderStateKind::Cancelled);
                    assert_eq!(balance, krw(BALANCE));
                    assert!(debits.is_empty());
                    assert_eq!(coupon.state, CouponUse::Issued, "released on cancel");
                }
                Err(BookingError::SoldOut { .. }) => {
                    assert_eq!(balance, krw(BALANCE));
                    assert!(debits.is_empty());
                    assert_eq!(coupon.state, CouponUse::Issued);
                }
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        let listing = w.backend.store.stock(stock).await.unwrap().stock;
        assert_eq!(
            listing.sold(),
            confirmed,
            "round {round}: units sold = orders paid"
        );
        assert_eq!(listing.held(), 0, "round {round}: nothing left held");
        assert!(
            confirmed > 0 && confirmed <= 60,
            "round {round}: {confirmed} sold"
        );
    }
}

/// The buyer cancels while their payment is being confirmed, 200 times. Whoever wins, the
/// money matches the order: cancelled means never charged, refunded means charged and
/// returned in full, confirmed means charged and the cancel was told to wait. The seat is
/// sold exactly when the order is paid.
pub async fn service_cancel_races_confirm(b: Backend) {
    let w = World::new(b, no_rules());
    let mut outcomes = [0_u32; 3];
    for trial in 0..200 {
        let seat = seats(&w.backend, w.event, 1, 10_000).await[0];
        let order = w.service.hold(&w.seats_request(&[seat])).await.unwrap();
        let id = order.order.id();
        let (intent, confirmation) = w.start(id, "fake").await;
        let confirm = {
            let service = w.service.clone();
            async move { service.confirm_payment(&confirmation).await }
        };
        let cancel = {
            let service = w.service.clone();
            async move { service.cancel_order(id, "changed mind").await }
        };
        let (confirmed, cancelled) = race(confirm, cancel).await;
        let record = w.service.order(id).await.unwrap();
        let at_gateway = w.gateway.payment(&intent.order_ref).unwrap();
        let ticket = w.backend.store.ticket(seat).await.unwrap().ticket;
        match record.order.state().kind() {
            OrderStateKind::Cancelled => {
                assert!(
                    at_gateway.approved_at.is_none(),
                    "trial {trial}: never charged"
                );
                assert!(
                    matches!(confirmed, Err(BookingError::Expired)),
                    "trial {trial}"
                );
                assert_eq!(ticket.state(), TicketState::Available, "trial {trial}");
                outcomes[0] += 1;
            }
            OrderStateKind::Refunded => {
                assert!(at_gateway.balance.is_zero(), "trial {trial}: all returned");
                assert_eq!(record.order.refunded(), record.order.total());
                assert!(confirmed.is_ok(), "trial {trial}");
                assert_eq!(ticket.state(), TicketState::Available, "trial {trial}");
                outcomes[1] += 1;
            }
            OrderStateKind::Confirmed => {
                assert_eq!(at_gateway.balance, record.order.total(), "trial {trial}");
                assert!(
                    matches!(
                        cancelled,
                        Err(BookingError::InProgress | BookingError::Conflict { .. })
                    ),
                    "trial {trial}: the cancel lost and said so, got {cancelled:?}"
                );
                assert!(matches!(ticket.state(), TicketState::Sold { order } if order == id));
                outcomes[2] += 1;
            }
            other => panic!("trial {trial}: order ended {other:?}"),
        }
    }
    let [cancelled, refunded, confirmed] = outcomes;
    tracing::info!(cancelled, refunded, confirmed, "cancel vs confirm");
}

/// Sweepers on two nodes run at once over 100 abandoned orders with coupons: every order is
/// expired once, every seat and coupon given back once.
pub async fn service_sweepers_on_two_nodes(b: Backend) {
    let (code, rules) = coupon_rules("BACK", 1_000);
    let w = World::new(b, rules);
    let coupon = CouponId::new();
    let campaign = CouponCampaign {
        id: coupon,
        code: code.as_str().to_owned(),
        budget: 1_000,
        issue_until: None,
    };
    w.backend.coupons.create_campaign(&campaign).await.unwrap();
    let ids = seats(&w.backend, w.event, 100, 10_000).await;
    let mut users = Vec::new();
    for (i, &seat) in ids.iter().enumerate() {
        let user = UserId::new();
        let now = w.clock().now();
        w.backend.coupons.issue(coupon, user, now).await.unwrap();
        let mut request = w.request(user, vec![ItemRef::Ticket { ticket: seat }]);
        request.coupons = vec![code.clone()];
        let order = w.service.hold(&request).await.unwrap();
        if i % 2 == 0 {
            w.start(order.order.id(), "fake").await;
        }
        users.push(user);
    }
    let expiry = *w.service.policies().expiry.config();
    w.clock()
        .advance(expiry.hold_ttl + expiry.grace_period + Duration::from_secs(1));
    let other = service_on(
        &w.backend,
        w.clock().clone(),
        &w.gateway,
        w.service.policies().clone(),
    );
    let (a, b) = race(
        {
            let service = w.service.clone();
            async move { service.sweep().await.unwrap() }
        },
        async move { other.sweep().await.unwrap() },
    )
    .await;
    assert_eq!(a.orders_expired + b.orders_expired, 100);
    assert_eq!(a.tickets_released + b.tickets_released, 100);
    assert_eq!(a.payments_expired + b.payments_expired, 50);
    assert_eq!(w.tickets_available().await, 100);
    for user in users {
        let held = w.backend.coupons.coupons_of(user).await.unwrap();
        assert_eq!(held[0].state, CouponUse::Issued);
    }
    assert_eq!(w.service.sweep().await.unwrap().orders_expired, 0);
}
