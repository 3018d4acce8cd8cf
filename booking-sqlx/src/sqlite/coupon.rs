//! [`SqliteCouponStore`]: coupon campaigns, first-come issuance and one use per coupon.
//!
//! Issuance is one write transaction: the user's existing coupon is returned as it is;
//! otherwise `UPDATE coupon_campaigns SET issued = issued + 1 WHERE issued < budget` takes
//! one from the budget (no row changed: exhausted) and the coupon row is inserted. A
//! transition reads the coupon and writes its next state in one write transaction.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::ports::backend::coupon::{CouponStep, check_issuance};
use booking_core::ports::coupon::{
    CouponCampaign, CouponError, CouponStore, CouponUse, Issuance, IssuedCoupon,
};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{SQ, begin_write};
use crate::codec::{from_db, instant};
use crate::coupon_rows::{CouponRow, state_columns, stored_instant};
use crate::error::PortDb;

/// Coupon campaigns in the SQLite database of `pool` (see the module docs).
#[derive(Debug, Clone)]
pub struct SqliteCouponStore {
    pool: SqlitePool,
}

impl SqliteCouponStore {
    /// A coupon store over `pool`, migrated by [`SqliteStore::migrate`](super::SqliteStore::migrate).
    pub fn new(pool: SqlitePool) -> Self {
        SqliteCouponStore { pool }
    }
}

/// The columns [`CouponRow`] reads (`c` is `coupons`, `k` its campaign).
const COUPON_COLUMNS: &str =
    "c.campaign_id AS coupon_id, c.user_id, c.issued_ns, c.state, c.order_id, k.code";

/// `user`'s coupon of `coupon`: `NotFound` without the campaign, `NotIssued` without a coupon.
async fn find(
    conn: &mut SqliteConnection,
    coupon: CouponId,
    user: UserId,
) -> Result<IssuedCoupon, CouponError> {
    let sql = format!(
        "SELECT {COUPON_COLUMNS} FROM coupon_campaigns k
         LEFT JOIN coupons c ON c.campaign_id = k.id AND c.user_id = ?
         WHERE k.id = ?"
    );
    type Joined = (
        Option<Uuid>,
        Option<Uuid>,
        Option<i64>,
        Option<String>,
        Option<Uuid>,
        String,
    );
    let row: Option<Joined> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.as_uuid())
        .bind(coupon.as_uuid())
        .fetch_optional(conn)
        .await
        .port(SQ)?;
    let (campaign, holder, issued, state, order, code) = row.ok_or(CouponError::NotFound)?;
    match (campaign, holder, issued, state) {
        (Some(coupon_id), Some(user_id), Some(issued_ns), Some(state)) => CouponRow {
            coupon_id,
            user_id,
            code,
            issued_ns,
            state,
            order_id: order,
        }
        .coupon()
        .port(SQ),
        _ => Err(CouponError::NotIssued),
    }
}

impl SqliteCouponStore {
    /// Moves `user`'s coupon by `step`, in one write transaction; a coupon already where the
    /// step leads is returned as it is (the call is a repeat).
    async fn transition(
        &self,
        coupon: CouponId,
        user: UserId,
        step: CouponStep,
    ) -> Result<IssuedCoupon, CouponError> {
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        let mut current = find(&mut tx, coupon, user).await?;
        let to = step.next(current.state)?;
        if current.state == to {
            return Ok(current);
        }
        let (state, order) = state_columns(to);
        sqlx::query(
            "UPDATE coupons SET state = ?, order_id = ? WHERE campaign_id = ? AND user_id = ?",
        )
        .bind(state)
        .bind(order)
        .bind(coupon.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        tx.commit().await.port(SQ)?;
        current.state = to;
        Ok(current)
    }
}

#[async_trait]
impl CouponStore for SqliteCouponStore {
    async fn create_campaign(&self, campaign: &CouponCampaign) -> Result<(), CouponError> {
        campaign.validate()?;
        let until = campaign.issue_until.map(stored_instant).transpose()?;
        let inserted = sqlx::query(
            "INSERT INTO coupon_campaigns (id, code, budget, issue_until_ns) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(campaign.id.as_uuid())
        .bind(&campaign.code)
        .bind(i64::from(campaign.budget))
        .bind(until)
        .execute(&self.pool)
        .await
        .port(SQ)?
        .rows_affected();
        if inserted == 1 {
            Ok(())
        } else {
            Err(CouponError::AlreadyExists)
        }
    }

    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError> {
        let at = stored_instant(now)?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        match find(&mut tx, coupon, user).await {
            Ok(existing) => return Ok(Issuance::Existing(existing)),
            Err(CouponError::NotIssued) => {}
            Err(e) => return Err(e),
        }
        let (code, until, remaining): (String, Option<i64>, i64) = sqlx::query_as(
            "SELECT code, issue_until_ns, budget - issued FROM coupon_campaigns WHERE id = ?",
        )
        .bind(coupon.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .port(SQ)?;
        let until = until.map(instant).transpose().port(SQ)?;
        let remaining = from_db(remaining, "coupon budget").port(SQ)?;
        check_issuance(until, remaining, now)?;
        let taken = sqlx::query(
            "UPDATE coupon_campaigns SET issued = issued + 1 WHERE id = ? AND issued < budget",
        )
        .bind(coupon.as_uuid())
        .execute(&mut *tx)
        .await
        .port(SQ)?
        .rows_affected();
        if taken != 1 {
            return Err(CouponError::Exhausted);
        }
        sqlx::query(
            "INSERT INTO coupons (campaign_id, user_id, issued_ns, state) VALUES (?, ?, ?, 'issued')",
        )
        .bind(coupon.as_uuid())
        .bind(user.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        tx.commit().await.port(SQ)?;
        Ok(Issuance::New(IssuedCoupon {
            coupon,
            code,
            user,
            issued_at: now,
            state: CouponUse::Issued,
        }))
    }

    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT budget - issued FROM coupon_campaigns WHERE id = ?")
                .bind(coupon.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .port(SQ)?;
        let (left,) = row.ok_or(CouponError::NotFound)?;
        from_db(left, "coupon budget").port(SQ)
    }

    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError> {
        let sql = format!(
            "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_campaigns k ON k.id = c.campaign_id
             WHERE c.user_id = ? ORDER BY c.issued_ns, c.campaign_id"
        );
        let rows: Vec<CouponRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .port(SQ)?;
        CouponRow::coupons(rows).port(SQ)
    }

    async fn reserve(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponStep::Reserve(order))
            .await
    }

    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponStep::Commit(order))
            .await
    }

    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        self.transition(coupon, user, CouponStep::Release(order))
            .await
    }
}
