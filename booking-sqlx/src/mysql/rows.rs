//! MySQL rows as plain structs (`FromRow`), turned into records by the rules in
//! [`crate::codec`]; and the `IN (?, …)` lists MySQL needs where PostgreSQL binds an array.

use booking_core::ids::EventId;
use booking_core::machine::{Stock, Ticket};
use booking_core::ports::store::{StockListing, StoreError, TicketListing};
use sqlx::types::Json;
use uuid::Uuid;

use super::MY;
use crate::codec::{Listing, stock_of, ticket_of};
use crate::error::Db;

/// `n` comma-separated placeholders, for `IN (…)` and multi-row `VALUES`.
pub(crate) fn marks(n: usize, one: &str) -> String {
    vec![one; n].join(", ")
}

/// The columns of `tickets` a [`TicketRow`] reads.
pub(crate) const TICKET_COLUMNS: &str = "id, state, order_id, hold_id, expires_ns, version";

/// A `tickets` row's state columns.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TicketRow {
    id: Uuid,
    state: String,
    order_id: Option<Uuid>,
    hold_id: Option<Uuid>,
    expires_ns: Option<i64>,
    version: i64,
}

impl TicketRow {
    /// The ticket the row stores.
    pub(crate) fn ticket(&self) -> Result<Ticket, StoreError> {
        ticket_of(
            self.id,
            &self.state,
            self.order_id,
            self.hold_id,
            self.expires_ns,
            self.version,
        )
        .db(MY)
    }
}

/// A whole `tickets` row: state, event and listing.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TicketListingRow {
    #[sqlx(flatten)]
    ticket: TicketRow,
    event_id: Uuid,
    listing: Json<Listing>,
}

impl TicketListingRow {
    /// The listing the row stores.
    pub(crate) fn listing(self) -> Result<TicketListing, StoreError> {
        let Json(listing) = self.listing;
        Ok(TicketListing::new(
            self.ticket.ticket()?,
            EventId::from_uuid(self.event_id),
            listing.item,
            listing.price,
        )
        .tagged(listing.tags))
    }
}

/// The columns of `stocks` a [`StockRow`] reads.
pub(crate) const STOCK_COLUMNS: &str = "id, state, capacity, held, sold, version";

/// A `stocks` row's counts.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StockRow {
    id: Uuid,
    state: String,
    capacity: i64,
    held: i64,
    sold: i64,
    version: i64,
}

impl StockRow {
    /// The stock the row stores.
    pub(crate) fn stock(&self) -> Result<Stock, StoreError> {
        let counts = [self.capacity, self.held, self.sold];
        stock_of(self.id, &self.state, counts, self.version).db(MY)
    }
}

/// A whole `stocks` row: counts, event and listing.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StockListingRow {
    #[sqlx(flatten)]
    stock: StockRow,
    event_id: Uuid,
    listing: Json<Listing>,
}

impl StockListingRow {
    /// The listing the row stores.
    pub(crate) fn listing(self) -> Result<StockListing, StoreError> {
        let Json(listing) = self.listing;
        Ok(StockListing::new(
            self.stock.stock()?,
            EventId::from_uuid(self.event_id),
            listing.item,
            listing.price,
        )
        .tagged(listing.tags))
    }
}
