//! The [`CouponStore`](crate::ports::coupon::CouponStore) suite: first-come issuance
//! against a budget, once per user, and one use per coupon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use super::Backend;
use crate::clock::Clock;
use crate::ids::{CouponId, OrderId, UserId};
use crate::ports::coupon::{CouponCampaign, CouponError, CouponUse, Issuance};

fn campaign(budget: u32) -> CouponCampaign {
    CouponCampaign {
        id: CouponId::new(),
        code: "FIRST100".to_owned(),
        budget,
        issue_until: None,
    }
}

/// 1,000 users race for a budget of 100, each asking twice: exactly 100 coupons go out, to
/// 100 distinct users, and a repeat takes nothing. Repeated.
pub async fn coupon_thousand_users_hundred_coupons(b: Backend) {
    let now = b.clock.now();
    for _ in 0..10 {
        let c = campaign(100);
        b.coupons.create_campaign(&c).await.unwrap();
        let tasks: Vec<_> = (0..1_000)
            .map(|_| {
                let coupons = b.coupons.clone();
                let user = UserId::new();
                tokio::spawn(async move {
                    let first = coupons.issue(c.id, user, now).await;
                    let second = coupons.issue(c.id, user, now).await;
                    (user, first, second)
                })
            })
            .collect();
        let mut winners = HashSet::new();
        for t in tasks {
            let (user, first, second) = t.await.unwrap();
            match first {
                Ok(Issuance::New(coupon)) => {
                    assert_eq!((coupon.user, coupon.coupon), (user, c.id));
                    assert_eq!(coupon.state, CouponUse::Issued);
                    match second {
                        Ok(Issuance::Existing(again)) => assert_eq!(again, coupon),
                        other => panic!("a repeat must return the coupon, got {other:?}"),
                    }
                    assert!(winners.insert(user), "nobody gets two");
                }
                Err(CouponError::Exhausted) => {
                    assert!(matches!(second, Err(CouponError::Exhausted)));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 100, "exactly the budget is issued");
        assert_eq!(b.coupons.remaining(c.id).await.unwrap(), 0);
        for user in winners.iter().take(5) {
            let held = b.coupons.coupons_of(*user).await.unwrap();
            assert_eq!(held.iter().filter(|h| h.coupon == c.id).count(), 1);
        }
    }
}

/// A coupon is reserved by one order at a time, used once, and every transition repeats
/// harmlessly for its own order.
pub async fn coupon_reserved_by_one_order_and_used_once(b: Backend) {
    let now = b.clock.now();
    let store = &b.coupons;
    let c = campaign(5);
    store.create_campaign(&c).await.unwrap();
    let user = UserId::new();
    store.issue(c.id, user, now).await.unwrap();
    let (o1, o2) = (OrderId::new(), OrderId::new());

    assert_eq!(
        store.reserve(c.id, user, o1).await.unwrap().state,
        CouponUse::Reserved { order: o1 }
    );
    assert_eq!(
        store.reserve(c.id, user, o1).await.unwrap().state,
        CouponUse::Reserved { order: o1 },
        "reserve repeats"
    );
    assert!(matches!(
        store.reserve(c.id, user, o2).await,
        Err(CouponError::Unavailable {
            state: CouponUse::Reserved { order }
        }) if order == o1
    ));
    assert!(matches!(
        store.commit(c.id, user, o2).await,
        Err(CouponError::Unavailable { .. })
    ));
    assert!(matches!(
        store.release(c.id, user, o2).await,
        Err(CouponError::Unavailable { .. })
    ));

    assert_eq!(
        store.release(c.id, user, o1).await.unwrap().state,
        CouponUse::Issued
    );
    assert_eq!(
        store.release(c.id, user, o1).await.unwrap().state,
        CouponUse::Issued,
        "release repeats"
    );
    store.reserve(c.id, user, o2).await.unwrap();
    assert_eq!(
        store.commit(c.id, user, o2).await.unwrap().state,
        CouponUse::Used { order: o2 }
    );
    assert_eq!(
        store.commit(c.id, user, o2).await.unwrap().state,
        CouponUse::Used { order: o2 },
        "commit repeats"
    );
    assert!(matches!(
        store.release(c.id, user, o2).await,
        Err(CouponError::Unavailable { .. })
    ));
    assert!(matches!(
        store.reserve(c.id, user, o1).await,
        Err(CouponError::Unavailable { .. })
    ));
    let held = store.coupons_of(user).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state, CouponUse::Used { order: o2 });
    assert_eq!(store.remaining(c.id).await.unwrap(), 4);
}

/// Many orders race to reserve one coupon: exactly one gets it. Repeated.
pub async fn coupon_concurrent_reserves_have_one_winner(b: Backend) {
    let now = b.clock.now();
    let c = campaign(1_000);
    b.coupons.create_campaign(&c).await.unwrap();
    for _ in 0..20 {
        let user = UserId::new();
        b.coupons.issue(c.id, user, now).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let coupons = b.coupons.clone();
                let order = OrderId::new();
                tokio::spawn(async move { (order, coupons.reserve(c.id, user, order).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (order, Ok(coupon)) => {
                    assert_eq!(coupon.state, CouponUse::Reserved { order });
                    winners.push(order);
                }
                (_, Err(CouponError::Unavailable { .. })) => {}
                (_, Err(e)) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "one order holds the coupon");
    }
}

/// Bad campaigns, closed issuance and unknown campaigns or holders are typed errors that
/// take nothing from the budget.
pub async fn coupon_bad_calls_are_typed(b: Backend) {
    let now = b.clock.now();
    let store = &b.coupons;
    assert!(matches!(
        store.create_campaign(&campaign(0)).await,
        Err(CouponError::Invalid(_))
    ));
    let mut bad = campaign(1);
    bad.code = "has space".to_owned();
    assert!(matches!(
        store.create_campaign(&bad).await,
        Err(CouponError::Invalid(_))
    ));
    assert!(matches!(
        store.remaining(bad.id).await,
        Err(CouponError::NotFound)
    ));
    let close_at = now.checked_add(Duration::from_secs(100)).unwrap();
    let mut closing = campaign(10);
    closing.issue_until = Some(close_at);
    store.create_campaign(&closing).await.unwrap();
    assert!(matches!(
        store.create_campaign(&closing).await,
        Err(CouponError::AlreadyExists)
    ));
    let just_before = close_at.checked_sub(Duration::from_secs(1)).unwrap();
    assert!(
        store
            .issue(closing.id, UserId::new(), just_before)
            .await
            .is_ok()
    );
    assert!(matches!(
        store.issue(closing.id, UserId::new(), close_at).await,
        Err(CouponError::IssuanceClosed(at)) if at == close_at
    ));
    assert!(matches!(
        store.issue(CouponId::new(), UserId::new(), now).await,
        Err(CouponError::NotFound)
    ));
    let stranger = UserId::new();
    for result in [
        store.reserve(closing.id, stranger, OrderId::new()).await,
        store.commit(closing.id, stranger, OrderId::new()).await,
        store.release(closing.id, stranger, OrderId::new()).await,
    ] {
        assert!(matches!(result, Err(CouponError::NotIssued)), "{result:?}");
    }
    assert!(store.coupons_of(stranger).await.unwrap().is_empty());
    assert_eq!(store.remaining(closing.id).await.unwrap(), 9);
}

/// A holder's coupons of every campaign are listed, oldest first, and a campaign that
/// refused the user is not.
pub async fn coupon_holders_list_their_coupons_of_every_campaign(b: Backend) {
    let store = &b.coupons;
    let (first, second, spent) = (campaign(5), campaign(5), campaign(1));
    for c in [&first, &second, &spent] {
        store.create_campaign(c).await.unwrap();
    }
    let user = UserId::new();
    store
        .issue(spent.id, UserId::new(), b.clock.now())
        .await
        .unwrap();
    store.issue(first.id, user, b.clock.now()).await.unwrap();
    b.clock.advance(Duration::from_secs(1));
    store.issue(second.id, user, b.clock.now()).await.unwrap();
    assert!(matches!(
        store.issue(spent.id, user, b.clock.now()).await,
        Err(CouponError::Exhausted)
    ));
    let held = store.coupons_of(user).await.unwrap();
    assert_eq!(
        held.iter().map(|c| (c.coupon, c.state)).collect::<Vec<_>>(),
        [
            (first.id, CouponUse::Issued),
            (second.id, CouponUse::Issued)
        ]
    );
    assert!(held.iter().all(|c| c.user == user && c.code == "FIRST100"));
    assert!(held[0].issued_at < held[1].issued_at);
    assert!(store.coupons_of(UserId::new()).await.unwrap().is_empty());
}
