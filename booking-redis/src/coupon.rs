//! [`RedisCouponStore`]: first-come coupons on Redis.
//!
//! Each campaign lives under one hash tag (`{p/coupon/<campaign>}`): its definition (code,
//! budget, closing instant), each holder's coupon state and when it was issued. The budget
//! left is the budget minus the number of holders, so the one script that issues — checking
//! the holder, the closing instant and the budget, then adding the holder — can never issue
//! past the budget or twice to one user, however many requests race. A refusal comes back
//! with the figures it was based on and [`check_issuance`] (the rule every store applies)
//! names it.
//!
//! Reserve, commit and release are one script each that moves the holder's state only from
//! the step's starting state ([`CouponStep::from`]); the state it leaves says whether the
//! step happened or was a repeat ([`CouponStep::settled`]).
//!
//! [`coupons_of`](CouponStore::coupons_of) needs every campaign of a user, which live on
//! other slots, so each user has a set of the campaigns they asked for a coupon of
//! (`p:coupons-of:<user>`). It is added to *before* the issuing script runs, so a coupon is
//! never issued without being listed; a campaign that refused is removed again (it refuses
//! for good: closed or spent), and listing reads each campaign to keep only real coupons.

use std::collections::BTreeSet;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::ports::coupon::{
    CouponCampaign, CouponError, CouponStore, CouponUse, Issuance, IssuedCoupon,
};
use redis::{AsyncCommands, Value};

use crate::connection::RedisConnection;
use crate::error::{Port, RedisFailure};
use crate::keys::{CampaignKeys, Namespace, campaign_keys, coupons_of};
use crate::port_rules::{CouponStep, check_issuance, coupon_use};
use crate::scripts::{
    COUPON_CREATE, COUPON_ISSUE, COUPON_READ, COUPON_STEP, at, int, items, opt_text, run, text,
};
use crate::time::{instant, nanos};

/// [`CouponStore`] on standalone Redis or Redis Cluster; see the [module docs](self).
/// Cloning is cheap: clones share the connection.
#[derive(Debug, Clone)]
pub struct RedisCouponStore {
    conn: RedisConnection,
    ns: Namespace,
}

/// `at` as the scripts take it.
fn instant_arg(at: Timestamp) -> Result<String, CouponError> {
    nanos(at).map_err(|_| CouponError::Invalid("instant before 1970"))
}

/// A coupon state as stored: `issued`, `reserved:<order>` or `used:<order>`.
fn stored_state(state: CouponUse) -> String {
    match state.order() {
        Some(order) => format!("{}:{order}", state.name()),
        None => state.name().to_owned(),
    }
}

/// A stored coupon state.
fn read_state(raw: &str) -> Result<CouponUse, RedisFailure> {
    let (name, order) = match raw.split_once(':') {
        Some((name, order)) => (
            name,
            Some(
                order
                    .parse::<OrderId>()
                    .map_err(|_| RedisFailure::corrupt(format!("coupon state {raw:?}")))?,
            ),
        ),
        None => (raw, None),
    };
    coupon_use(name, order).ok_or_else(|| RedisFailure::corrupt(format!("coupon state {raw:?}")))
}

/// The coupon of `user` from a script's `state, issued at, code` items starting at `first`.
fn coupon(
    answer: &[Value],
    first: usize,
    coupon: CouponId,
    user: UserId,
) -> Result<IssuedCoupon, RedisFailure> {
    let issued = text(at(answer, first + 1)?)?;
    Ok(IssuedCoupon {
        coupon,
        code: text(at(answer, first + 2)?)?,
        user,
        issued_at: instant(&issued)
            .ok_or_else(|| RedisFailure::corrupt(format!("issued at {issued:?}")))?,
        state: read_state(&text(at(answer, first)?)?)?,
    })
}

impl RedisCouponStore {
    /// Campaigns under `namespace` on `conn`.
    pub fn new(conn: RedisConnection, namespace: Namespace) -> Self {
        RedisCouponStore {
            conn,
            ns: namespace,
        }
    }

    /// Runs `script` on the campaign's keys with `args`; the answer's items and its tag.
    async fn call(
        &self,
        script: &redis::Script,
        keys: &CampaignKeys,
        args: &[&str],
    ) -> Result<(String, Vec<Value>), CouponError> {
        let mut invocation = script.key(&keys.campaign);
        invocation.key(&keys.states).key(&keys.issued_at);
        for arg in args {
            invocation.arg(*arg);
        }
        let answer = items(run(&invocation, &self.conn).await.port()?).port()?;
        let tag = text(at(&answer, 0).port()?).port()?;
        if tag == "missing" {
            return Err(CouponError::NotFound);
        }
        Ok((tag, answer))
    }

    /// Moves `user`'s coupon by `step`.
    async fn step(
        &self,
        coupon: CouponId,
        user: UserId,
        step: CouponStep,
    ) -> Result<IssuedCoupon, CouponError> {
        let keys = campaign_keys(&self.ns, coupon);
        let (from, to) = (stored_state(step.from()), stored_state(step.to()));
        let (tag, answer) = self
            .call(&COUPON_STEP, &keys, &[&user.to_string(), &from, &to])
            .await?;
        if tag == "not_issued" {
            return Err(CouponError::NotIssued);
        }
        step.settled(self::coupon(&answer, 1, coupon, user).port()?)
    }

    /// `user`'s coupon of `coupon`, if they hold one.
    async fn held(
        &self,
        coupon: CouponId,
        user: UserId,
    ) -> Result<Option<IssuedCoupon>, CouponError> {
        let keys = campaign_keys(&self.ns, coupon);
        let (_, answer) = match self.call(&COUPON_READ, &keys, &[&user.to_string()]).await {
            Err(CouponError::NotFound) => return Ok(None),
            other => other?,
        };
        if opt_text(at(&answer, 1).port()?).port()?.is_none() {
            return Ok(None);
        }
        self::coupon(&answer, 1, coupon, user).map(Some).port()
    }
}

#[async_trait]
impl CouponStore for RedisCouponStore {
    async fn create_campaign(&self, campaign: &CouponCampaign) -> Result<(), CouponError> {
        campaign.validate()?;
        let until = campaign.issue_until.map(instant_arg).transpose()?;
        let keys = campaign_keys(&self.ns, campaign.id);
        let mut invocation = COUPON_CREATE.key(&keys.campaign);
        invocation
            .arg(&campaign.code)
            .arg(campaign.budget)
            .arg(until.unwrap_or_default());
        match int(&run(&invocation, &self.conn).await.port()?).port()? {
            1 => Ok(()),
            _ => Err(CouponError::AlreadyExists),
        }
    }

    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError> {
        let keys = campaign_keys(&self.ns, coupon);
        let listed = coupons_of(&self.ns, user);
        let mut conn = self.conn.clone();
        // Listed first: a coupon is never issued without its holder's list naming it.
        conn.sadd::<_, _, ()>(&listed, coupon.to_string())
            .await
            .port()?;
        let answer = self
            .call(
                &COUPON_ISSUE,
                &keys,
                &[&user.to_string(), &instant_arg(now)?],
            )
            .await;
        let refusal = match answer {
            Ok((tag, answer)) => match tag.as_str() {
                "new" => {
                    return Ok(Issuance::New(IssuedCoupon {
                        coupon,
                        code: text(at(&answer, 1).port()?).port()?,
                        user,
                        issued_at: now,
                        state: CouponUse::Issued,
                    }));
                }
                "existing" => {
                    return Ok(Issuance::Existing(
                        self::coupon(&answer, 1, coupon, user).port()?,
                    ));
                }
                _ => {
                    let remaining = int(at(&answer, 1).port()?).port()?;
                    let until = opt_text(at(&answer, 2).port()?)
                        .port()?
                        .filter(|u| !u.is_empty())
                        .map(|u| {
                            instant(&u)
                                .ok_or_else(|| RedisFailure::corrupt(format!("closes at {u:?}")))
                                .port::<CouponError>()
                        })
                        .transpose()?;
                    let remaining = u64::try_from(remaining).unwrap_or(0);
                    check_issuance(until, remaining, now)
                        .err()
                        .unwrap_or(CouponError::Exhausted)
                }
            },
            Err(e) => e,
        };
        if matches!(
            refusal,
            CouponError::NotFound | CouponError::Exhausted | CouponError::IssuanceClosed(_)
        ) {
            // These refusals are for good: the user will never hold this campaign's coupon.
            if let Err(error) = conn.srem::<_, _, ()>(&listed, coupon.to_string()).await {
                tracing::warn!(%error, "could not unlist a refused coupon campaign");
            }
        }
        Err(refusal)
    }

    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError> {
        let keys = campaign_keys(&self.ns, coupon);
        let (_, answer) = self.call(&COUPON_READ, &keys, &[""]).await?;
        let left = int(at(&answer, 1).port()?).port()?;
        Ok(u32::try_from(left.max(0)).unwrap_or(u32::MAX))
    }

    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError> {
        let mut conn = self.conn.clone();
        let listed: BTreeSet<String> = conn.smembers(coupons_of(&self.ns, user)).await.port()?;
        let mut coupons = Vec::with_capacity(listed.len());
        for campaign in listed {
            let id = campaign
                .parse::<CouponId>()
                .map_err(|_| RedisFailure::corrupt(format!("campaign {campaign:?}")))
                .port()?;
            if let Some(coupon) = self.held(id, user).await? {
                coupons.push(coupon);
            }
        }
        coupons.sort_by_key(|c| (c.issued_at, c.coupon));
        Ok(coupons)
    }

    async fn reserve(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.step(coupon, user, CouponStep::Reserve(order)).await
    }

    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.step(coupon, user, CouponStep::Commit(order)).await
    }

    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.step(coupon, user, CouponStep::Release(order)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_stored_as_its_name_and_order() {
        let order = OrderId::new();
        assert_eq!(stored_state(CouponUse::Issued), "issued");
        let used = stored_state(CouponUse::Used { order });
        assert_eq!(used, format!("used:{order}"));
        assert_eq!(read_state(&used).unwrap(), CouponUse::Used { order });
        for bad in ["reserved", "used:x", "lost"] {
            assert!(read_state(bad).is_err(), "{bad}");
        }
    }
}
