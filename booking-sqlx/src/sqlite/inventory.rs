//! Listing tickets and stocks on SQLite, reading them back, and what is left to sell.

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, StockId, TicketId};
use booking_core::machine::Kind;
use booking_core::ports::store::{
    Availability, StockListing, StoreError, TicketListing, TicketPage,
};
use sqlx::{Sqlite, SqlitePool};
use uuid::Uuid;

use super::SQ;
use super::rows::{
    STOCK_COLUMNS, StockRow, TICKET_COLUMNS, TicketRow, inserted, stock_listing, ticket_listing,
};
use super::store::begin_write;
use super::tickets::insert_ticket;
use crate::codec::{Listing, from_db, nanos, to_db};
use crate::error::Db;
use crate::store::database::Inventory;

impl Inventory for Sqlite {
    async fn add_tickets(pool: &SqlitePool, listings: &[TicketListing]) -> Result<(), StoreError> {
        // One write transaction: a taken id fails all of it (the dropped transaction rolls
        // back the rows already inserted).
        let mut tx = begin_write(pool).await.db(SQ)?;
        for l in listings {
            let listing = Listing::of_ticket(l);
            let rows = insert_ticket(&mut tx, &l.ticket, l.event, listing).await?;
            inserted("ticket", l.ticket.id(), rows)?;
        }
        tx.commit().await.db(SQ)
    }

    async fn add_stock(pool: &SqlitePool, listing: &StockListing) -> Result<(), StoreError> {
        let stock = &listing.stock;
        let rows = sqlx::query(
            "INSERT INTO stocks (id, event_id, state, capacity, held, sold, version, listing)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(stock.id().as_uuid())
        .bind(listing.event.as_uuid())
        .bind(stock.state().name())
        .bind(i64::from(stock.capacity()))
        .bind(i64::from(stock.held()))
        .bind(i64::from(stock.sold()))
        .bind(to_db(stock.version())?)
        .bind(Listing::of_stock(listing))
        .execute(pool)
        .await
        .db(SQ)?
        .rows_affected();
        inserted("stock", stock.id(), rows)
    }

    async fn ticket(pool: &SqlitePool, id: TicketId) -> Result<TicketListing, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?");
        let row: TicketRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(SQ)?
            .ok_or_else(|| StoreError::not_found("ticket", id))?;
        ticket_listing(row)
    }

    async fn tickets_of_event(
        pool: &SqlitePool,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE event_id = ? AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?"
        );
        let after = page.after.map(|t| *t.as_uuid());
        let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event.as_uuid())
            .bind(after)
            .bind(after)
            .bind(i64::from(page.limit))
            .fetch_all(pool)
            .await
            .db(SQ)?;
        rows.into_iter().map(ticket_listing).collect()
    }

    async fn stock(pool: &SqlitePool, id: StockId) -> Result<StockListing, StoreError> {
        let sql = format!("SELECT {STOCK_COLUMNS} FROM stocks WHERE id = ?");
        let row: StockRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .db(SQ)?
            .ok_or_else(|| StoreError::not_found("stock", id))?;
        stock_listing(row)
    }

    async fn availability(
        pool: &SqlitePool,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        let now = nanos(now)?;
        let (available, total): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state = 'Available' OR (state = 'Held' AND expires_ns <= ?)), 0),
                    COUNT(*)
             FROM tickets WHERE event_id = ?",
        )
        .bind(now)
        .bind(event.as_uuid())
        .fetch_one(pool)
        .await
        .db(SQ)?;
        let stocks: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT s.id, s.capacity - s.held - s.sold + COALESCE(
                        (SELECT SUM(h.quantity) FROM stock_holds h
                         WHERE h.stock_id = s.id AND h.status = 'active' AND h.expires_ns <= ?),
                        0)
             FROM stocks s WHERE s.event_id = ? ORDER BY s.listed",
        )
        .bind(now)
        .bind(event.as_uuid())
        .fetch_all(pool)
        .await
        .db(SQ)?;
        Ok(Availability::new(
            from_db(available, "ticket count").db(SQ)?,
            from_db(total, "ticket count").db(SQ)?,
            stocks
                .into_iter()
                .map(|(id, n)| Ok((StockId::from_uuid(id), from_db(n, "stock count").db(SQ)?)))
                .collect::<Result<_, StoreError>>()?,
        ))
    }
}
