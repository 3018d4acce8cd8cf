//! [`MemoryCouponStore`]: coupon campaigns in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{CouponId, OrderId, UserId};
use crate::ports::coupon::{
    CouponCampaign, CouponError, CouponStore, CouponUse, Issuance, IssuedCoupon,
};

/// Coupon campaigns held in memory; one mutex makes issuance and use atomic.
#[derive(Debug, Default)]
pub struct MemoryCouponStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    campaigns: HashMap<CouponId, Campaign>,
}

#[derive(Debug)]
struct Campaign {
    definition: CouponCampaign,
    issued: HashMap<UserId, IssuedCoupon>,
}

impl Campaign {
    fn remaining(&self) -> u32 {
        let issued = u32::try_from(self.issued.len()).unwrap_or(u32::MAX);
        self.definition.budget.saturating_sub(issued)
    }
}

impl MemoryCouponStore {
    /// No campaigns yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every call finishes its writes before the guard drops.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves `user`'s coupon from a state `allowed` accepts to `to`; a coupon already in `to`
    /// is returned as it is (the call is a repeat).
    fn transition(
        &self,
        coupon: CouponId,
        user: UserId,
        to: CouponUse,
        allowed: impl Fn(CouponUse) -> bool,
    ) -> Result<IssuedCoupon, CouponError> {
        let mut state = self.lock();
        let campaign = state
            .campaigns
            .get_mut(&coupon)
            .ok_or(CouponError::NotFound)?;
        let issued = campaign
            .issued
            .get_mut(&user)
            .ok_or(CouponError::NotIssued)?;
        if issued.state != to {
            if !allowed(issued.state) {
                return Err(CouponError::Unavailable {
                    state: issued.state,
                });
            }
            issued.state = to;
        }
        Ok(issued.clone())
    }
}

#[async_trait]
impl CouponStore for MemoryCouponStore {
    async fn create_campaign(&self, campaign: &CouponCampaign) -> Result<(), CouponError> {
        campaign.validate()?;
        let mut state = self.lock();
        if state.campaigns.contains_key(&campaign.id) {
            return Err(CouponError::AlreadyExists);
        }
        state.campaigns.insert(
            campaign.id,
            Campaign {
                definition: campaign.clone(),
                issued: HashMap::new(),
            },
        );
        Ok(())
    }

    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError> {
        let mut state = self.lock();
        let campaign = state
            .campaigns
            .get_mut(&coupon)
            .ok_or(CouponError::NotFound)?;
        if let Some(existing) = campaign.issued.get(&user) {
            return Ok(Issuance::Existing(existing.clone()));
        }
        if let Some(until) = campaign.definition.issue_until
            && now >= until
        {
            return Err(CouponError::IssuanceClosed(until));
        }
        if campaign.remaining() == 0 {
            return Err(CouponError::Exhausted);
        }
        let issued = IssuedCoupon {
            coupon,
            code: campaign.definition.code.clone(),
            user,
            issued_at: now,
            state: CouponUse::Issued,
        };
        campaign.issued.insert(user, issued.clone());
        Ok(Issuance::New(issued))
    }

    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError> {
        let state = self.lock();
        Ok(state
            .campaigns
            .get(&coupon)
            .ok_or(CouponError::NotFound)?
            .remaining())
    }

    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError> {
        let state = self.lock();
        let mut coupons: Vec<IssuedCoupon> = state
            .campaigns
            .values()
            .filter_map(|c| c.issued.get(&user).cloned())
            .collect();
        coupons.sort_by_key(|c| (c.issued_at, c.coupon));
        Ok(coupons)
    }

    async fn reserve(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponUse::Reserved { order }, |s| {
            s == CouponUse::Issued
        })
    }

    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponUse::Used { order }, |s| {
            s == CouponUse::Reserved { order }
        })
    }

    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponUse::Issued, |s| {
            s == CouponUse::Reserved { order }
        })
    }
}

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn campaign(budget: u32) -> CouponCampaign {
        CouponCampaign {
            id: CouponId::new(),
            code: "FIRST100".to_owned(),
            budget,
            issue_until: None,
        }
    }

    /// Seed scenario 8 at the store: 1,000 users race for a budget of 100, each asking twice;
    /// exactly 100 coupons go out, to 100 distinct users. Repeated.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousand_users_hundred_coupons() {
        for _ in 0..10 {
            let store = Arc::new(MemoryCouponStore::new());
            let c = campaign(100);
            store.create_campaign(&c).await.unwrap();
            let tasks = (0..1_000).map(|_| {
                let store = Arc::clone(&store);
                let user = UserId::new();
                tokio::spawn(async move {
                    let first = store.issue(c.id, user, NOW).await;
                    let second = store.issue(c.id, user, NOW).await;
                    (user, first, second)
                })
            });
            let mut winners = HashSet::new();
            for t in tasks {
                let (user, first, second) = t.await.unwrap();
                match first {
                    Ok(Issuance::New(coupon)) => {
                        assert_eq!(coupon.user, user);
                        assert!(
                            matches!(second, Ok(Issuance::Existing(_))),
                            "a repeat takes nothing"
                        );
                        assert!(winners.insert(user));
                    }
                    Err(CouponError::Exhausted) => {
                        assert!(matches!(second, Err(CouponError::Exhausted)))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(winners.len(), 100);
            assert_eq!(store.remaining(c.id).await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn a_coupon_is_reserved_by_one_order_and_used_once() {
        let store = MemoryCouponStore::new();
        let c = campaign(5);
        store.create_campaign(&c).await.unwrap();
        let user = UserId::new();
        store.issue(c.id, user, NOW).await.unwrap();
        let (o1, o2) = (OrderId::new(), OrderId::new());

        assert_eq!(
            store.reserve(c.id, user, o1).await.unwrap().state,
            CouponUse::Reserved { order: o1 }
        );
        assert_eq!(
            store.reserve(c.id, user, o1).await.unwrap().state,
            CouponUse::Reserved { order: o1 }
        );
        assert!(matches!(
            store.reserve(c.id, user, o2).await,
            Err(CouponError::Unavailable { .. })
        ));
        assert!(matches!(
            store.commit(c.id, user, o2).await,
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
            CouponUse::Used { order: o2 }
        );
        assert!(matches!(
            store.release(c.id, user, o2).await,
            Err(CouponError::Unavailable { .. })
        ));
        assert!(matches!(
            store.reserve(c.id, user, o1).await,
            Err(CouponError::Unavailable { .. })
        ));
        assert_eq!(store.coupons_of(user).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_campaigns_and_closed_issuance_are_typed() {
        let store = MemoryCouponStore::new();
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
        let mut closing = campaign(10);
        closing.issue_until = Some(Timestamp::from_second(100).unwrap());
        store.create_campaign(&closing).await.unwrap();
        assert!(matches!(
            store.create_campaign(&closing).await,
            Err(CouponError::AlreadyExists)
        ));
        assert!(
            store
                .issue(
                    closing.id,
                    UserId::new(),
                    Timestamp::from_second(99).unwrap()
                )
                .await
                .is_ok()
        );
        assert!(matches!(
            store
                .issue(
                    closing.id,
                    UserId::new(),
                    Timestamp::from_second(100).unwrap()
                )
                .await,
            Err(CouponError::IssuanceClosed(_))
        ));
        assert!(matches!(
            store.issue(CouponId::new(), UserId::new(), NOW).await,
            Err(CouponError::NotFound)
        ));
        assert!(matches!(
            store
                .reserve(closing.id, UserId::new(), OrderId::new())
                .await,
            Err(CouponError::NotIssued)
        ));
        assert_eq!(store.remaining(closing.id).await.unwrap(), 9);
    }
}
