//! PostgreSQL rows to records: the columns read here, the rules in [`crate::codec`]; and the
//! checks that a statement changed what the transaction locked, as the machine computed it.

use booking_core::ids::EventId;
use booking_core::machine::{Stock, Ticket};
use booking_core::ports::store::{StockListing, StoreError, TicketListing};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::PG;
use crate::codec::{Listing, stock_of, ticket_of};
use crate::error::{Db, DbError};

/// The ticket stored in `row`, whose ticket columns carry the names `cols` gives
/// (`[id, state, order_id, hold_id, expires_ns, version]`).
pub(crate) fn ticket_in(row: &PgRow, cols: [&str; 6]) -> Result<Ticket, StoreError> {
    let [id, state, order, hold, expires, version] = cols;
    ticket_of(
        row.try_get(id).db(PG)?,
        row.try_get(state).db(PG)?,
        row.try_get(order).db(PG)?,
        row.try_get(hold).db(PG)?,
        row.try_get(expires).db(PG)?,
        row.try_get(version).db(PG)?,
    )
    .db(PG)
}

/// The column names of a `tickets` row.
pub(crate) const TICKET: [&str; 6] = [
    "id",
    "state",
    "order_id",
    "hold_id",
    "expires_ns",
    "version",
];

/// A `tickets` row (with `event_id` and `listing`) as a listing.
pub(crate) fn ticket_listing(row: &PgRow) -> Result<TicketListing, StoreError> {
    let Json(listing): Json<Listing> = row.try_get("listing").db(PG)?;
    Ok(TicketListing::new(
        ticket_in(row, TICKET)?,
        EventId::from_uuid(row.try_get("event_id").db(PG)?),
        listing.item,
        listing.price,
    )
    .tagged(listing.tags))
}

/// The stock whose counts `row` carries (`id, state, capacity, held, sold, version`).
pub(crate) fn stock_in(row: &PgRow) -> Result<Stock, StoreError> {
    let count = |col: &str| -> Result<i64, StoreError> { row.try_get(col).db(PG) };
    stock_of(
        row.try_get("id").db(PG)?,
        row.try_get("state").db(PG)?,
        [count("capacity")?, count("held")?, count("sold")?],
        count("version")?,
    )
    .db(PG)
}

/// A `stocks` row (with `event_id` and `listing`) as a listing.
pub(crate) fn stock_listing(row: &PgRow) -> Result<StockListing, StoreError> {
    let Json(listing): Json<Listing> = row.try_get("listing").db(PG)?;
    Ok(StockListing::new(
        stock_in(row)?,
        EventId::from_uuid(row.try_get("event_id").db(PG)?),
        listing.item,
        listing.price,
    )
    .tagged(listing.tags))
}

/// Fails unless a write of `n` rows the transaction has locked changed `written` of them:
/// only a change behind its back gets here.
pub(crate) fn all_written(written: u64, n: usize, what: &'static str) -> Result<(), StoreError> {
    if written == n as u64 {
        Ok(())
    } else {
        Err(DbError::corrupt(
            what,
            format!("a locked {what} changed during the transaction"),
        ))
        .db(PG)
    }
}

/// Fails unless the machine's next state is what the statement wrote.
pub(crate) fn agree<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    machine: &T,
    stored: &T,
) -> Result<(), StoreError> {
    if machine == stored {
        Ok(())
    } else {
        Err(DbError::corrupt(
            what,
            format!("machine computed {machine:?}, database wrote {stored:?}"),
        ))
        .db(PG)
    }
}
