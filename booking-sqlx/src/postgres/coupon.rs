//! [`PostgresCouponStore`]: coupon campaigns, first-come issuance and single use.
//!
//! - **Issuing** is one transaction: a conditional decrement of the campaign's `remaining`
//!   (`remaining > 0`, issuance still open), then the insert of the user's coupon with
//!   `ON CONFLICT DO NOTHING` on the `(campaign, user)` key. A user who already holds one
//!   makes the insert do nothing, and the transaction rolls the decrement back: the budget
//!   pays for new coupons only. The decrement locks the campaign row until commit, so the
//!   issues of one campaign queue on it for one short transaction each; none can overdraw it
//!   (`CHECK (remaining >= 0)` too).
//! - **Reserve, commit, release** are one `UPDATE` each on the user's coupon row, which sets
//!   the new state only when the current one allows it (a `CASE` on the row as locked), and
//!   returns the row: the new state means done (or a repeat), an unchanged one means refused.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::ports::backend::coupon::{CouponStep, check_issuance};
use booking_core::ports::coupon::{
    CouponCampaign, CouponError, CouponStore, CouponUse, Issuance, IssuedCoupon,
};
use sqlx::{PgConnection, PgPool, Row};

use super::PG;
use crate::codec::{from_db, instant};
use crate::coupon_rows::{CouponRow, state_columns, stored_instant};
use crate::error::{DbError, Failure, PortDb};

/// [`CouponStore`] on PostgreSQL (tables `coupon_campaigns`, `coupons_issued`). Cloning is
/// cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresCouponStore {
    pool: PgPool,
}

impl PostgresCouponStore {
    /// A store over `pool`, whose schema has the tables of [`MIGRATOR`](super::MIGRATOR).
    pub fn new(pool: PgPool) -> Self {
        PostgresCouponStore { pool }
    }
}

/// `SELECT` of a coupon row `c` joined with its campaign `k` (the columns [`CouponRow`] reads).
macro_rules! select_coupon {
    () => {
        "SELECT c.coupon_id, c.user_id, c.issued_ns, c.state, c.order_id, k.code "
    };
}

/// `user`'s coupon of `coupon`, if any.
async fn held(
    conn: &mut PgConnection,
    coupon: CouponId,
    user: UserId,
) -> Result<Option<IssuedCoupon>, CouponError> {
    let row: Option<CouponRow> = sqlx::query_as(concat!(
        select_coupon!(),
        "FROM coupons_issued c JOIN coupon_campaigns k ON k.id = c.coupon_id
         WHERE c.coupon_id = $1 AND c.user_id = $2"
    ))
    .bind(coupon.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(conn)
    .await
    .port(PG)?;
    row.map(CouponRow::coupon).transpose().port(PG)
}

/// Why no coupon could be issued at `now`: the campaign is unknown, closed, or spent (in
/// that order, as the reference store checks).
async fn refusal(
    conn: &mut PgConnection,
    coupon: CouponId,
    now: i64,
) -> Result<CouponError, CouponError> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT remaining, issue_until_ns FROM coupon_campaigns WHERE id = $1")
            .bind(coupon.as_uuid())
            .fetch_optional(conn)
            .await
            .port(PG)?;
    let Some((remaining, until)) = row else {
        return Ok(CouponError::NotFound);
    };
    let until = until.map(instant).transpose().port::<CouponError>(PG)?;
    let (remaining, now) = (
        from_db(remaining, "coupon budget").port::<CouponError>(PG)?,
        instant(now).port::<CouponError>(PG)?,
    );
    // The conditional decrement refused: one of the checks fails.
    Ok(check_issuance(until, remaining, now)
        .err()
        .unwrap_or(CouponError::Exhausted))
}

/// Issues inside the caller's transaction: `Ok(None)` when the user turned out to hold one
/// already, `Err` with the refusal; either way the caller rolls back.
async fn issue_new(
    conn: &mut PgConnection,
    coupon: CouponId,
    user: UserId,
    now: i64,
) -> Result<Result<Option<IssuedCoupon>, CouponError>, CouponError> {
    let taken = sqlx::query(
        "UPDATE coupon_campaigns SET remaining = remaining - 1
         WHERE id = $1 AND remaining > 0 AND (issue_until_ns IS NULL OR issue_until_ns > $2)
         RETURNING code",
    )
    .bind(coupon.as_uuid())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .port(PG)?;
    let Some(taken) = taken else {
        return Ok(Err(refusal(conn, coupon, now).await?));
    };
    let inserted = sqlx::query(
        "INSERT INTO coupons_issued (coupon_id, user_id, issued_ns, state)
         VALUES ($1, $2, $3, 'issued') ON CONFLICT (coupon_id, user_id) DO NOTHING",
    )
    .bind(coupon.as_uuid())
    .bind(user.as_uuid())
    .bind(now)
    .execute(conn)
    .await
    .port(PG)?
    .rows_affected();
    if inserted == 0 {
        return Ok(Ok(None));
    }
    Ok(Ok(Some(IssuedCoupon {
        coupon,
        code: taken.try_get("code").port(PG)?,
        user,
        issued_at: instant(now).port::<CouponError>(PG)?,
        state: CouponUse::Issued,
    })))
}

impl PostgresCouponStore {
    /// Moves `user`'s coupon by `step` in one statement; a coupon already where the step
    /// leads is returned as it is (a repeat), any other state is `Unavailable`.
    async fn transition(
        &self,
        coupon: CouponId,
        user: UserId,
        step: CouponStep,
    ) -> Result<IssuedCoupon, CouponError> {
        let (from, from_order) = state_columns(step.from());
        let (to_state, to_order) = state_columns(step.to());
        let row: Option<CouponRow> = sqlx::query_as(concat!(
            "WITH moved AS (
                 UPDATE coupons_issued SET
                     state = CASE WHEN state = $3 AND order_id IS NOT DISTINCT FROM $4
                                  THEN $5 ELSE state END,
                     order_id = CASE WHEN state = $3 AND order_id IS NOT DISTINCT FROM $4
                                     THEN $6 ELSE order_id END
                 WHERE coupon_id = $1 AND user_id = $2
                 RETURNING *) ",
            select_coupon!(),
            "FROM moved c JOIN coupon_campaigns k ON k.id = c.coupon_id"
        ))
        .bind(coupon.as_uuid())
        .bind(user.as_uuid())
        .bind(from)
        .bind(from_order)
        .bind(to_state)
        .bind(to_order)
        .fetch_optional(&self.pool)
        .await
        .port(PG)?;
        let Some(row) = row else {
            let known = sqlx::query("SELECT 1 FROM coupon_campaigns WHERE id = $1")
                .bind(coupon.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .port(PG)?;
            return Err(known.map_or(CouponError::NotFound, |_| CouponError::NotIssued));
        };
        step.settled(row.coupon().port(PG)?)
    }
}

#[async_trait]
impl CouponStore for PostgresCouponStore {
    async fn create_campaign(&self, campaign: &CouponCampaign) -> Result<(), CouponError> {
        campaign.validate()?;
        let until = campaign.issue_until.map(stored_instant).transpose()?;
        let budget = i64::from(campaign.budget);
        let inserted = sqlx::query(
            "INSERT INTO coupon_campaigns (id, code, budget, remaining, issue_until_ns)
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(campaign.id.as_uuid())
        .bind(&campaign.code)
        .bind(budget)
        .bind(until)
        .execute(&self.pool)
        .await;
        match inserted.map_err(|e| DbError::Sql(e).classify(PG)) {
            Ok(_) => Ok(()),
            Err(Failure::Unique { .. }) => Err(CouponError::AlreadyExists),
            Err(Failure::Busy(message)) => Err(CouponError::Backend {
                backend: PG.name(),
                source: message.into(),
            }),
            Err(Failure::Other(source)) => Err(CouponError::Backend {
                backend: PG.name(),
                source,
            }),
        }
    }

    async fn issue(
        &self,
        coupon: CouponId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Issuance, CouponError> {
        let now = stored_instant(now)?;
        let mut conn = self.pool.acquire().await.port(PG)?;
        // A repeat needs no lock and takes nothing.
        if let Some(existing) = held(&mut conn, coupon, user).await? {
            return Ok(Issuance::Existing(existing));
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await.port(PG)?;
        match issue_new(&mut tx, coupon, user, now).await? {
            Ok(Some(issued)) => {
                tx.commit().await.port(PG)?;
                Ok(Issuance::New(issued))
            }
            outcome => {
                // Rolls the decrement back: a refusal, or a coupon issued to this user by a
                // concurrent call (then it is theirs, whatever the budget says now).
                tx.rollback().await.port(PG)?;
                match held(&mut conn, coupon, user).await? {
                    Some(existing) => Ok(Issuance::Existing(existing)),
                    None => Err(outcome.err().unwrap_or(CouponError::Exhausted)),
                }
            }
        }
    }

    async fn remaining(&self, coupon: CouponId) -> Result<u32, CouponError> {
        let row = sqlx::query("SELECT remaining FROM coupon_campaigns WHERE id = $1")
            .bind(coupon.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .port(PG)?
            .ok_or(CouponError::NotFound)?;
        from_db(row.try_get("remaining").port(PG)?, "coupon budget").port(PG)
    }

    async fn coupons_of(&self, user: UserId) -> Result<Vec<IssuedCoupon>, CouponError> {
        let rows: Vec<CouponRow> = sqlx::query_as(concat!(
            select_coupon!(),
            "FROM coupons_issued c JOIN coupon_campaigns k ON k.id = c.coupon_id
             WHERE c.user_id = $1 ORDER BY c.issued_ns, c.coupon_id"
        ))
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .port(PG)?;
        CouponRow::coupons(rows).port(PG)
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
