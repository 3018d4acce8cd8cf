//! The coupon port: first-come issuance against a budget, and one use per issued coupon.
//!
//! A campaign has a budget of coupons. [`CouponStore::issue`] gives a user one coupon while
//! the budget lasts, at most once per user, however many requests race. An issued coupon is
//! then *reserved* for an order when payment starts, *committed* when the payment succeeds,
//! and *released* back to the user when the payment fails or the order expires:
//!
//! ```text
//! Issued --reserve(order)--> Reserved{order} --commit(order)--> Used{order}
//!    ^                             |
//!    +--------release(order)-------+
//! ```
//!
//! Every transition names the order, and repeating it for the same order is a no-op, so the
//! service can retry any of them after a crash.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{CouponId, OrderId, UserId};

/// A campaign: a coupon code and how many may be issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponCampaign {
    /// The campaign's id.
    pub id: CouponId,
    /// The code the discount engine matches (a coupon rule's `code`).
    pub code: String,
    /// How many coupons may be issued in all.
    pub budget: u32,
    /// No issuance at or after this instant, if set.
    pub issue_until: Option<Timestamp>,
}

/// Where one user's coupon stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CouponUse {
    /// Issued and free to use.
    Issued,
    /// Held for an order whose payment is under way.
    Reserved {
        /// The order.
        order: OrderId,
    },
    /// Spent on a paid order.
    Used {
        /// The order.
        order: OrderId,
    },
}

impl CouponUse {
    /// The state's stored name: `"issued"`, `"reserved"` or `"used"`.
    pub const fn name(self) -> &'static str {
        match self {
            CouponUse::Issued => "issued",
            CouponUse::Reserved { .. } => "reserved",
            CouponUse::Used { .. } => "used",
        }
    }

    /// The order a reserved or used coupon is bound to.
    pub const fn order(self) -> Option<OrderId> {
        match self {
            CouponUse::Issued => None,
            CouponUse::Reserved { order } | CouponUse::Used { order } => Some(order),
        }
    }
}

/// A coupon issued to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCoupon {
    /// The campaign.
    pub coupon: CouponId,
    /// The code to present to the discount engine.
    pub code: String,
    /// The holder.
    pub user: UserId,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// Whether it is free, reserved or used.
    pub state: CouponUse,
}

/// The result of [`CouponStore::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuance {
    /// A coupon was issued by this call.
    New(IssuedCoupon),
    /// The user already had one; nothing was taken from the budget.
    Existing(IssuedCoupon),
}

impl Issuance {
    /// The user's coupon either way.
    pub fn coupon(&self) -> &IssuedCoupon {
        match self {
            Issuance::New(c) | Issuance::Existing(c) => c,
        }
    }
}

/// Why a coupon call failed. A failed call changes nothing, except
/// [`Backend`](CouponError::Backend): the store could not tell whether the call took effect
/// (every call is safe to repeat).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CouponError {
    /// No campaign with this id.
    #[error("no such coupon campaign")]
    NotFound,
    /// A campaign with this id already exists.
    #[error("coupon campaign already exists")]
    AlreadyExists,
    /// The budget is spent.
    #[error("all coupons of this campaign have been issued")]
    Exhausted,
    /// Issuance for this campaign has closed.
    #[error("issuance closed at {0}")]
    IssuanceClosed(Timestamp),
    /// The user holds no coupon of this campaign.
    #[error("the user holds no coupon of this campaign")]
    NotIssued,
    /// The coupon is reserved for or used by another order.
    #[error("the coupon is {state:?}, not available for this order")]
    Unavailable {
        /// Its current state.
        state: CouponUse,
    },
    /// The campaign definition is unusable (empty code, zero budget).
    #[error("invalid coupon campaign: {0}")]
    Invalid(&'static str),
    /// The backing store failed; the call may or may not have taken effect. Every call is
    /// safe to repeat.
    #[error("{backend} coupon backend failed: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl CouponCampaign {
    /// Checks the definition: a non-empty code of at most 64 printable characters, a budget of
    /// at least one.
    pub fn validate(&self) -> Result<(), CouponError> {
        if self.code.is_empty()
            || self.code.len() > 64
            || !self.code.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(CouponError::Invalid(
                "code must be 1 to 64 printable ASCII characters",
            ));
        }
        if self.budget == 0 {
            return Err(CouponError::Invalid("budget must be at least 1"));
        }
        Ok(())
    }
}

/// Coupon campaigns, issuance and use.
///
/// Contract (checked by the conformance suite): no more than `budget` coupons are ever issued
/// per campaign, each user at most one, under any concurrency; a coupon is reserved by at most
/// one order at a time and used at most once; every transition is idempotent for its order.
#[async_trait]
pub trait CouponStore: Send + Sync + fmt::Debug + 'static {
    /// Registers a campaign.
    async fn create_campaign(&self, campaign: &CouponCampaign) -> Result<(), CouponError>;

    /// Issues `user` a coupon of `coupon` if the budget allows and they have none yet.
    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError>;

    /// How many coupons of `coupon` can still be issued.
    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError>;

    /// The coupons `user` holds, in any state.
    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError>;

    /// Reserves `user`'s coupon for `order` (payment is starting).
    async fn reserve(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError>;

    /// Marks the coupon reserved for `order` as used (payment succeeded).
    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError>;

    /// Gives the coupon reserved for `order` back to the user (payment failed, order expired).
    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError>;
}
