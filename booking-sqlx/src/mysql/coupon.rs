//! [`MySqlCouponStore`]: coupon campaigns, first-come issuance and single use on MySQL.
//!
//! - **Issuance** is one conditional `UPDATE coupon_campaigns SET issued = issued + 1 WHERE
//!   issued < budget AND (issue_until_ns IS NULL OR issue_until_ns > now)` followed by the
//!   insert of the user's coupon, in one transaction: buyers queue on the campaign row for
//!   one statement each and the budget can never be overspent (a `CHECK` refuses it too).
//!   A user who already holds a coupon is answered from the table before the budget is
//!   touched; two first requests of one user race on the coupon's primary key, and the
//!   loser rolls its budget increment back and answers with the winner's coupon.
//! - **Reserve, commit, release** are one conditional `UPDATE` each whose `WHERE` lists the
//!   states the transition starts from *and* the state it ends in, for the same order: a
//!   repeat matches its row (sqlx counts matched rows), changes nothing and is answered
//!   with the coupon as it is.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::ports::backend::coupon::{CouponStep, check_issuance};
use booking_core::ports::coupon::{
    CouponCampaign, CouponError, CouponStore, Issuance, IssuedCoupon,
};
use sqlx::{MySqlConnection, MySqlPool};

use super::{MY, begin};
use crate::codec::{from_db, instant};
use crate::coupon_rows::{CouponRow, state_columns, stored_instant};
use crate::error::{DbError, Failure, PortDb};

/// Coupon campaigns and issued coupons in a MySQL database migrated by
/// [`MIGRATOR`](super::MIGRATOR). Cloning is cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct MySqlCouponStore {
    pool: MySqlPool,
}

impl MySqlCouponStore {
    /// A store over `pool`.
    pub fn new(pool: MySqlPool) -> Self {
        MySqlCouponStore { pool }
    }
}

/// Selects coupon rows with their code; the caller appends the `WHERE`.
const COUPON: &str = "SELECT c.coupon_id, c.user_id, k.code, c.issued_ns, c.state, c.order_id
                      FROM coupons c JOIN coupon_campaigns k ON k.id = c.coupon_id";

/// `user`'s coupon of `coupon`, if issued.
async fn find(
    conn: &mut MySqlConnection,
    coupon: CouponId,
    user: UserId,
) -> Result<Option<IssuedCoupon>, CouponError> {
    let sql = format!("{COUPON} WHERE c.coupon_id = ? AND c.user_id = ?");
    sqlx::query_as::<_, CouponRow>(sqlx::AssertSqlSafe(sql))
        .bind(coupon.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(conn)
        .await
        .port(MY)?
        .map(CouponRow::coupon)
        .transpose()
        .port(MY)
}

/// Whether campaign `coupon` exists, and its budget, issued count and issuance deadline.
async fn campaign(
    conn: &mut MySqlConnection,
    coupon: CouponId,
) -> Result<(i64, i64, Option<i64>), CouponError> {
    sqlx::query_as("SELECT budget, issued, issue_until_ns FROM coupon_campaigns WHERE id = ?")
        .bind(coupon.as_uuid())
        .fetch_optional(conn)
        .await
        .port(MY)?
        .ok_or(CouponError::NotFound)
}

impl MySqlCouponStore {
    /// Moves `user`'s coupon by `step` if it is where the step leads already or in a state
    /// `from` accepts (SQL over `state` and `order_id`, binding the step's order).
    async fn transition(
        &self,
        (coupon, user, order): (CouponId, UserId, OrderId),
        step: CouponStep,
        from: &'static str,
    ) -> Result<IssuedCoupon, CouponError> {
        let (to_state, to_order) = state_columns(step.to());
        let mut tx = begin(&self.pool).await.port(MY)?;
        let sql = format!(
            "UPDATE coupons SET state = ?, order_id = ?
             WHERE coupon_id = ? AND user_id = ? AND ({from})"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_state)
            .bind(to_order)
            .bind(coupon.as_uuid())
            .bind(user.as_uuid())
            .bind(order.as_uuid())
            .execute(&mut *tx)
            .await
            .port(MY)?;
        let current = find(&mut tx, coupon, user).await?;
        tx.commit().await.port(MY)?;
        match current {
            Some(c) => step.settled(c),
            None => {
                let mut conn = self.pool.acquire().await.port(MY)?;
                campaign(&mut conn, coupon).await?;
                Err(CouponError::NotIssued)
            }
        }
    }
}

#[async_trait]
impl CouponStore for MySqlCouponStore {
    async fn create_campaign(&self, c: &CouponCampaign) -> Result<(), CouponError> {
        c.validate()?;
        let until = c.issue_until.map(stored_instant).transpose()?;
        let inserted = sqlx::query(
            "INSERT INTO coupon_campaigns (id, code, budget, issued, issue_until_ns)
             VALUES (?, ?, ?, 0, ?)",
        )
        .bind(c.id.as_uuid())
        .bind(&c.code)
        .bind(i64::from(c.budget))
        .bind(until)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => match DbError::Sql(e).classify(MY) {
                Failure::Unique { .. } => Err(CouponError::AlreadyExists),
                other => Err(failure(other)),
            },
        }
    }

    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError> {
        let mut tx = begin(&self.pool).await.port(MY)?;
        let (budget, issued, until) = campaign(&mut tx, coupon).await?;
        if let Some(existing) = find(&mut tx, coupon, user).await? {
            return Ok(Issuance::Existing(existing));
        }
        let now_ns = stored_instant(now)?;
        let until = until.map(instant).transpose().port(MY)?;
        let remaining = u64::try_from(budget.saturating_sub(issued)).unwrap_or(0);
        check_issuance(until, remaining, now)?;
        let taken = sqlx::query(
            "UPDATE coupon_campaigns SET issued = issued + 1
             WHERE id = ? AND issued < budget AND (issue_until_ns IS NULL OR issue_until_ns > ?)",
        )
        .bind(coupon.as_uuid())
        .bind(now_ns)
        .execute(&mut *tx)
        .await
        .port(MY)?
        .rows_affected();
        if taken != 1 {
            // Only the budget can have run out since the check: the deadline is fixed.
            return Err(CouponError::Exhausted);
        }
        let inserted = sqlx::query(
            "INSERT INTO coupons (coupon_id, user_id, issued_ns, state) VALUES (?, ?, ?, 'issued')",
        )
        .bind(coupon.as_uuid())
        .bind(user.as_uuid())
        .bind(now_ns)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) => {
                return match DbError::Sql(e).classify(MY) {
                    // The user's concurrent first request won: undo the budget taken.
                    Failure::Unique { .. } => {
                        tx.rollback().await.port(MY)?;
                        let mut conn = self.pool.acquire().await.port(MY)?;
                        let existing = find(&mut conn, coupon, user).await?;
                        existing
                            .map(Issuance::Existing)
                            .ok_or(CouponError::NotIssued)
                    }
                    other => Err(failure(other)),
                };
            }
        }
        let issued = find(&mut tx, coupon, user)
            .await?
            .ok_or(CouponError::NotIssued)?;
        tx.commit().await.port(MY)?;
        Ok(Issuance::New(issued))
    }

    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError> {
        let mut conn = self.pool.acquire().await.port(MY)?;
        let (budget, issued, _) = campaign(&mut conn, coupon).await?;
        from_db(budget.saturating_sub(issued).max(0), "coupon budget").port(MY)
    }

    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError> {
        let sql = format!("{COUPON} WHERE c.user_id = ? ORDER BY c.issued_ns, c.coupon_id");
        let rows = sqlx::query_as::<_, CouponRow>(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .port(MY)?;
        CouponRow::coupons(rows).port(MY)
    }

    async fn reserve(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        let from = "state = 'issued' OR (state = 'reserved' AND order_id = ?)";
        self.transition((coupon, user, order), CouponStep::Reserve(order), from)
            .await
    }

    async fn commit(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        let from = "state IN ('reserved', 'used') AND order_id = ?";
        self.transition((coupon, user, order), CouponStep::Commit(order), from)
            .await
    }

    async fn release(
        &self,
        coupon: CouponId,
        user: UserId,
        order: OrderId,
    ) -> Result<IssuedCoupon, CouponError> {
        let from = "state = 'issued' OR (state = 'reserved' AND order_id = ?)";
        self.transition((coupon, user, order), CouponStep::Release(order), from)
            .await
    }
}

/// A classified driver failure as the coupon port's `Backend` error.
fn failure(f: Failure) -> CouponError {
    let source: Box<dyn std::error::Error + Send + Sync> = match f {
        Failure::Other(source) => source,
        Failure::Busy(message) => message.into(),
        Failure::Unique { constraint, .. } => constraint.into(),
    };
    CouponError::Backend {
        backend: MY.name(),
        source,
    }
}
