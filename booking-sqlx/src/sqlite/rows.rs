//! SQLite rows to records: each table's row as a tuple, decoded by the rules in
//! [`crate::codec`]; and the checks of what a statement changed.

use booking_core::ids::EventId;
use booking_core::machine::{Stock, Ticket};
use booking_core::ports::store::{StockListing, StoreError, TicketListing};
use sqlx::types::Json;
use uuid::Uuid;

use super::SQ;
use crate::codec::{Listing, stock_of, ticket_of};
use crate::error::{Db, DbError};

/// The columns [`TicketRow`] reads, in its order.
pub(super) const TICKET_COLUMNS: &str =
    "id, state, order_id, hold_id, expires_ns, version, event_id, listing";

/// A `tickets` row: `(id, state, order_id, hold_id, expires_ns, version, event_id, listing)`.
pub(super) type TicketRow = (
    Uuid,
    String,
    Option<Uuid>,
    Option<Uuid>,
    Option<i64>,
    i64,
    Uuid,
    Json<Listing>,
);

/// The ticket a row stores.
pub(super) fn ticket_of_row(row: &TicketRow) -> Result<Ticket, StoreError> {
    let (id, state, order, hold, expires, version, ..) = row;
    ticket_of(*id, state, *order, *hold, *expires, *version).db(SQ)
}

/// A ticket row as a listing.
pub(super) fn ticket_listing(row: TicketRow) -> Result<TicketListing, StoreError> {
    let ticket = ticket_of_row(&row)?;
    let (.., event, Json(listing)) = row;
    Ok(TicketListing::new(
        ticket,
        EventId::from_uuid(event),
        listing.item,
        listing.price,
    )
    .tagged(listing.tags))
}

/// The columns [`StockRow`] reads, in its order.
pub(super) const STOCK_COLUMNS: &str =
    "id, state, capacity, held, sold, version, event_id, listing";

/// A `stocks` row: `(id, state, capacity, held, sold, version, event_id, listing)`.
pub(super) type StockRow = (Uuid, String, i64, i64, i64, i64, Uuid, Json<Listing>);

/// The stock a row stores.
pub(super) fn stock_of_row(row: &StockRow) -> Result<Stock, StoreError> {
    let (id, state, capacity, held, sold, version, ..) = row;
    stock_of(*id, state, [*capacity, *held, *sold], *version).db(SQ)
}

/// A stock row as a listing.
pub(super) fn stock_listing(row: StockRow) -> Result<StockListing, StoreError> {
    let stock = stock_of_row(&row)?;
    let (.., event, Json(listing)) = row;
    Ok(StockListing::new(
        stock,
        EventId::from_uuid(event),
        listing.item,
        listing.price,
    )
    .tagged(listing.tags))
}

/// Fails unless a write of a row read in the same write transaction changed exactly that
/// row: anything else means it changed behind the transaction's back.
pub(super) fn one_row(what: &'static str, written: u64) -> Result<(), StoreError> {
    if written == 1 {
        Ok(())
    } else {
        Err(DbError::corrupt(
            what,
            "changed during its write transaction",
        ))
        .db(SQ)
    }
}

/// `AlreadyExists` for `what` `id` unless an `INSERT … ON CONFLICT DO NOTHING` inserted
/// its row.
pub(super) fn inserted(
    what: &'static str,
    id: impl std::fmt::Display,
    rows: u64,
) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::AlreadyExists {
            what,
            id: id.to_string(),
        })
    }
}
