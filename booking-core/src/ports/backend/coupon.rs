//! For implementors of [`CouponStore`]: the moves of an issued coupon, the issuance check and
//! a coupon's state read back from its stored parts.

use crate::clock::Timestamp;
use crate::ids::OrderId;
#[cfg(doc)]
use crate::ports::coupon::CouponStore;
use crate::ports::coupon::{CouponError, CouponUse, IssuedCoupon};

/// One move of an issued coupon for an order, as [`CouponStore::reserve`],
/// [`commit`](CouponStore::commit) and [`release`](CouponStore::release) make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponStep {
    /// `Issued` → `Reserved { order }`.
    Reserve(OrderId),
    /// `Reserved { order }` → `Used { order }`.
    Commit(OrderId),
    /// `Reserved { order }` → `Issued`.
    Release(OrderId),
}

impl CouponStep {
    /// The state the step moves from.
    pub const fn from(self) -> CouponUse {
        match self {
            CouponStep::Reserve(_) => CouponUse::Issued,
            CouponStep::Commit(order) | CouponStep::Release(order) => CouponUse::Reserved { order },
        }
    }

    /// The state the step moves to.
    pub const fn to(self) -> CouponUse {
        match self {
            CouponStep::Reserve(order) => CouponUse::Reserved { order },
            CouponStep::Commit(order) => CouponUse::Used { order },
            CouponStep::Release(_) => CouponUse::Issued,
        }
    }

    /// The state after the step from `current`: [`to`](Self::to) from
    /// [`from`](Self::from), or from `to` itself (a repeat changes nothing); any other state
    /// is [`CouponError::Unavailable`].
    pub fn next(self, current: CouponUse) -> Result<CouponUse, CouponError> {
        if current == self.to() || current == self.from() {
            Ok(self.to())
        } else {
            Err(CouponError::Unavailable { state: current })
        }
    }

    /// The answer for `coupon` as it stands after the step was attempted: itself if it is in
    /// [`to`](Self::to), else [`CouponError::Unavailable`].
    pub fn settled(self, coupon: IssuedCoupon) -> Result<IssuedCoupon, CouponError> {
        if coupon.state == self.to() {
            Ok(coupon)
        } else {
            Err(CouponError::Unavailable {
                state: coupon.state,
            })
        }
    }
}

/// Whether a campaign closing at `issue_until` with `remaining` coupons left may issue one at
/// `now`: [`CouponError::IssuanceClosed`] at or after the deadline, else
/// [`CouponError::Exhausted`] with nothing left.
pub fn check_issuance(
    issue_until: Option<Timestamp>,
    remaining: u64,
    now: Timestamp,
) -> Result<(), CouponError> {
    if let Some(until) = issue_until
        && now >= until
    {
        return Err(CouponError::IssuanceClosed(until));
    }
    if remaining == 0 {
        return Err(CouponError::Exhausted);
    }
    Ok(())
}

/// The state stored as `name` and `order` (the inverse of [`CouponUse::name`] and
/// [`CouponUse::order`]); `None` for an unknown name, or an order where there must be none or
/// none where there must be one.
pub fn coupon_use(name: &str, order: Option<OrderId>) -> Option<CouponUse> {
    match (name, order) {
        ("issued", None) => Some(CouponUse::Issued),
        ("reserved", Some(order)) => Some(CouponUse::Reserved { order }),
        ("used", Some(order)) => Some(CouponUse::Used { order }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_stored_by_name_and_order() {
        let order = OrderId::new();
        for state in [
            CouponUse::Issued,
            CouponUse::Reserved { order },
            CouponUse::Used { order },
        ] {
            assert_eq!(coupon_use(state.name(), state.order()), Some(state));
        }
        assert_eq!(coupon_use("reserved", None), None);
        assert_eq!(coupon_use("issued", Some(order)), None);
        assert_eq!(coupon_use("lost", None), None);
    }

    #[test]
    fn steps_move_from_one_state_and_repeat_as_no_ops() {
        let (order, other) = (OrderId::new(), OrderId::new());
        let reserved = CouponUse::Reserved { order };
        assert_eq!(
            CouponStep::Reserve(order).next(CouponUse::Issued).unwrap(),
            reserved
        );
        assert_eq!(CouponStep::Reserve(order).next(reserved).unwrap(), reserved);
        assert!(matches!(
            CouponStep::Reserve(other).next(reserved),
            Err(CouponError::Unavailable { .. })
        ));
        assert_eq!(
            CouponStep::Commit(order).next(reserved).unwrap(),
            CouponUse::Used { order }
        );
        assert!(CouponStep::Commit(order).next(CouponUse::Issued).is_err());
        assert_eq!(
            CouponStep::Release(order).next(CouponUse::Issued).unwrap(),
            CouponUse::Issued
        );
        assert!(
            CouponStep::Release(order)
                .next(CouponUse::Used { order })
                .is_err()
        );
    }

    #[test]
    fn issuance_closes_before_it_runs_out() {
        let at = Timestamp::UNIX_EPOCH;
        assert!(check_issuance(None, 1, at).is_ok());
        assert!(matches!(
            check_issuance(Some(at), 0, at),
            Err(CouponError::IssuanceClosed(_))
        ));
        assert!(matches!(
            check_issuance(None, 0, at),
            Err(CouponError::Exhausted)
        ));
    }
}
