//! `orders_of_user` and `orders_of_event` of every SQL `BookingStore`: one page of a buyer's
//! or an event's orders, highest id first, read by one statement on an index.
//!
//! The indexes are `orders (user_id, id)` and `orders (event_id, id)`. The page's cursor
//! (list ids below `before`) becomes an inclusive upper bound, the id just below it, and no
//! cursor becomes the highest id there is; so each database has one statement per owner
//! column, `… WHERE <owner> = ? AND id <= ? ORDER BY id DESC LIMIT ?`, whose plan is always a
//! backward range scan of the index. An optional cursor (`? IS NULL OR id < ?`) would leave a
//! cached generic plan unable to use it as an index bound, scanning every order above it.
//! A cursor at the lowest id has nothing below it, and no statement is run.

use booking_core::ids::{EventId, OrderId, UserId};
use booking_core::ports::backend::store::check_page;
use booking_core::ports::store::{OrderPage, OrderRecord, StoreError};
use sqlx::Pool;
use uuid::Uuid;

use super::database::Records;

/// Whose orders a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrdersOf {
    /// A buyer's.
    User(UserId),
    /// An event's.
    Event(EventId),
}

impl OrdersOf {
    /// The `orders` column that holds the owner (written when the order is inserted).
    pub(crate) fn column(self) -> &'static str {
        match self {
            OrdersOf::User(_) => "user_id",
            OrdersOf::Event(_) => "event_id",
        }
    }

    /// The owner's id.
    pub(crate) fn id(self) -> Uuid {
        match self {
            OrdersOf::User(user) => *user.as_uuid(),
            OrdersOf::Event(event) => *event.as_uuid(),
        }
    }
}

/// One page of the orders of `of` on `pool`: see the module docs. A limit outside 1 to
/// [`OrderPage::MAX_LIMIT`] is `Invalid`.
pub(crate) async fn order_page<DB: Records>(
    pool: &Pool<DB>,
    of: OrdersOf,
    page: &OrderPage,
) -> Result<Vec<OrderRecord>, StoreError> {
    check_page(page)?;
    let Some(upto) = highest_listed(page.before) else {
        return Ok(Vec::new());
    };
    DB::order_page(pool, of, upto, i64::from(page.limit)).await
}

/// The highest id a page starting below `before` lists, or `None` if no id is below it.
/// UUIDs compare as their 16 bytes, big-endian, in Rust and in every database here, which
/// is the order of their `u128` values.
fn highest_listed(before: Option<OrderId>) -> Option<Uuid> {
    match before {
        None => Some(Uuid::max()),
        Some(id) => id.as_uuid().as_u128().checked_sub(1).map(Uuid::from_u128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_id_just_below_the_cursor_in_uuid_order() {
        assert_eq!(highest_listed(None), Some(Uuid::max()));
        assert_eq!(highest_listed(Some(OrderId::from_uuid(Uuid::nil()))), None);
        let (older, newer) = (OrderId::new(), OrderId::new());
        let below_newer = highest_listed(Some(newer)).unwrap_or_else(Uuid::nil);
        assert!(below_newer < *newer.as_uuid() && below_newer >= *older.as_uuid());
        let carry = Uuid::from_u128(0x0000_0000_0000_0001_0000_0000_0000_0000);
        assert_eq!(
            highest_listed(Some(OrderId::from_uuid(carry))),
            Some(Uuid::from_u128(0x0000_0000_0000_0000_ffff_ffff_ffff_ffff))
        );
    }
}
