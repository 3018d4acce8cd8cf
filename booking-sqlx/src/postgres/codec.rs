//! PostgreSQL rows to records: the columns read here, the rules in [`crate::codec`].

use booking_core::clock::Timestamp;
use booking_core::ids::EventId;
use booking_core::machine::{DomainEvent, Stock, Ticket};
use booking_core::ports::store::{OutboxEntry, StockListing, StoreError, TicketListing};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::PG;
pub(crate) use crate::codec::{
    Listing, TicketColumns, events_json, from_db, instant, nanos, to_db,
};
use crate::codec::{stock_of, ticket_of};
use crate::error::Db;

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

/// Appends `events` to the outbox, in order, as part of the caller's transaction.
pub(crate) async fn append_outbox(
    conn: &mut PgConnection,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let json = events_json(events)?;
    // WITH ORDINALITY keeps the events' order in the identity values they get.
    sqlx::query(
        "INSERT INTO outbox (event, recorded_ns)
         SELECT e::jsonb, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
    )
    .bind(json)
    .bind(nanos(now)?)
    .execute(conn)
    .await
    .db(PG)?;
    Ok(())
}

/// An `outbox` row as an entry.
pub(crate) fn outbox_entry(row: &PgRow) -> Result<OutboxEntry, StoreError> {
    let Json(event): Json<DomainEvent> = row.try_get("event").db(PG)?;
    Ok(OutboxEntry::new(
        from_db(row.try_get("seq").db(PG)?, "outbox seq").db(PG)?,
        event,
        instant(row.try_get("recorded_ns").db(PG)?).db(PG)?,
    ))
}
