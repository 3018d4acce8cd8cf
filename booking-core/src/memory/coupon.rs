//! [`MemoryCouponStore`]: coupon campaigns in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{CouponId, OrderId, UserId};
use crate::ports::backend::coupon::{CouponStep, check_issuance};
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

    /// Moves `user`'s coupon by `step`; a coupon already where the step leads is returned as
    /// it is (the call is a repeat).
    fn transition(
        &self,
        coupon: CouponId,
        user: UserId,
        step: CouponStep,
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
        issued.state = step.next(issued.state)?;
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
        let remaining = u64::from(campaign.remaining());
        check_issuance(campaign.definition.issue_until, remaining, now)?;
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
        self.transition(coupon, user, CouponStep::Reserve(order))
    }

    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponStep::Commit(order))
    }

    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponStep::Release(order))
    }
}
