//! What the SQL coupon stores share: instants as the `*_ns` columns store them, a coupon's
//! state as its `(state, order_id)` columns, and a coupon row decoded into an
//! [`IssuedCoupon`].

use booking_core::clock::Timestamp;
use booking_core::ids::{CouponId, OrderId, UserId};
use booking_core::ports::backend::coupon::coupon_use;
use booking_core::ports::coupon::{CouponError, CouponUse, IssuedCoupon};
use uuid::Uuid;

use crate::codec::{instant, nanos};
use crate::error::DbError;

/// `at` as stored, or `Invalid` outside the years the store keeps (1678 to 2262).
pub(crate) fn stored_instant(at: Timestamp) -> Result<i64, CouponError> {
    nanos(at).map_err(|_| CouponError::Invalid("instant outside the years 1678 to 2262"))
}

/// A coupon's state as its `(state, order_id)` columns.
pub(crate) fn state_columns(state: CouponUse) -> (&'static str, Option<Uuid>) {
    (state.name(), state.order().map(|order| *order.as_uuid()))
}

/// A coupon row joined with its campaign's code (select the columns under these names).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CouponRow {
    pub(crate) coupon_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) code: String,
    pub(crate) issued_ns: i64,
    pub(crate) state: String,
    pub(crate) order_id: Option<Uuid>,
}

impl CouponRow {
    /// The coupon the row stores; a state no coupon can be in is corrupt.
    pub(crate) fn coupon(self) -> Result<IssuedCoupon, DbError> {
        let order = self.order_id.map(OrderId::from_uuid);
        let state = coupon_use(&self.state, order).ok_or_else(|| {
            DbError::corrupt(
                "coupon",
                format!("state {:?} with order {order:?}", self.state),
            )
        })?;
        Ok(IssuedCoupon {
            coupon: CouponId::from_uuid(self.coupon_id),
            code: self.code,
            user: UserId::from_uuid(self.user_id),
            issued_at: instant(self.issued_ns)?,
            state,
        })
    }

    /// The coupons the rows store, in their order.
    pub(crate) fn coupons(rows: Vec<CouponRow>) -> Result<Vec<IssuedCoupon>, DbError> {
        rows.into_iter().map(CouponRow::coupon).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, order_id: Option<Uuid>) -> CouponRow {
        CouponRow {
            coupon_id: Uuid::nil(),
            user_id: Uuid::nil(),
            code: "WELCOME".into(),
            issued_ns: 0,
            state: state.into(),
            order_id,
        }
    }

    #[test]
    fn a_coupon_reads_back_the_state_it_was_stored_with() {
        let order = OrderId::new();
        for state in [CouponUse::Issued, CouponUse::Used { order }] {
            let (name, order_id) = state_columns(state);
            assert_eq!(row(name, order_id).coupon().unwrap().state, state);
        }
    }

    #[test]
    fn impossible_states_are_corrupt() {
        for bad in [
            row("reserved", None),
            row("issued", Some(Uuid::nil())),
            row("gone", None),
        ] {
            assert!(matches!(bad.coupon(), Err(DbError::Corrupt { .. })));
        }
        assert!(stored_instant(Timestamp::MAX).is_err());
    }
}
