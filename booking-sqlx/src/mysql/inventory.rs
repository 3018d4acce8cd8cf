//! Listing tickets and stocks on MySQL, reading them back, and what is left to sell.

use std::collections::HashSet;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, StockId, TicketId};
use booking_core::machine::Kind;
use booking_core::ports::store::{
    Availability, StockListing, StoreError, TicketListing, TicketPage,
};
use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;
use sqlx::{MySql, MySqlPool};
use uuid::Uuid;

use super::rows::{StockListingRow, TicketListingRow, marks};
use super::{MY, begin};
use crate::codec::{Listing, TicketColumns, from_db, nanos, to_db};
use crate::error::{Db, DbError, Failure};
use crate::store::database::Inventory;

/// Tickets listed per statement: eight placeholders each, well below the server's limit of
/// 65,535 placeholders in one statement.
const TICKETS_PER_INSERT: usize = 4000;

/// The first id of `listings` that is already stored or listed twice, for the error of a
/// refused `add_tickets`.
async fn first_taken(pool: &MySqlPool, listings: &[TicketListing]) -> Result<String, StoreError> {
    let ids: Vec<Uuid> = listings.iter().map(|l| *l.ticket.id().as_uuid()).collect();
    let mut stored = HashSet::new();
    for chunk in ids.chunks(TICKETS_PER_INSERT) {
        let sql = format!(
            "SELECT id FROM tickets WHERE id IN ({})",
            marks(chunk.len(), "?")
        );
        let mut query = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        stored.extend(query.fetch_all(pool).await.db(MY)?);
    }
    let mut seen = HashSet::new();
    Ok(ids
        .iter()
        .find(|id| stored.contains(*id) || !seen.insert(**id))
        .map_or_else(String::new, ToString::to_string))
}

/// The statement inserting `listings` as one multi-row insert.
fn insert_tickets(
    listings: &[TicketListing],
) -> Result<Query<'static, MySql, MySqlArguments>, StoreError> {
    let sql = format!(
        "INSERT INTO tickets (id, event_id, state, order_id, hold_id, expires_ns, version,
                              listing) VALUES {}",
        marks(listings.len(), "(?, ?, ?, ?, ?, ?, ?, ?)")
    );
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
    for l in listings {
        let c = TicketColumns::of(&l.ticket)?;
        insert = insert
            .bind(*l.ticket.id().as_uuid())
            .bind(*l.event.as_uuid())
            .bind(c.state)
            .bind(c.order)
            .bind(c.hold)
            .bind(c.expires_ns)
            .bind(c.version)
            .bind(Listing::of_ticket(l));
    }
    Ok(insert)
}

impl Inventory for MySql {
    async fn add_tickets(pool: &MySqlPool, listings: &[TicketListing]) -> Result<(), StoreError> {
        if listings.is_empty() {
            return Ok(());
        }
        // One transaction of statements of at most TICKETS_PER_INSERT rows: a taken id (in
        // the table or twice in the list) fails all of it.
        let mut tx = begin(pool).await.db(MY)?;
        for chunk in listings.chunks(TICKETS_PER_INSERT) {
            if let Err(e) = insert_tickets(chunk)?.execute(&mut *tx).await {
                tx.rollback().await.db(MY)?;
                return Err(match DbError::Sql(e).classify(MY) {
                    Failure::Unique { .. } => StoreError::AlreadyExists {
                        what: "ticket",
                        id: first_taken(pool, listings).await?,
                    },
                    other => other.into_store(MY),
                });
            }
        }
        tx.commit().await.db(MY)
    }

    async fn add_stock(pool: &MySqlPool, listing: &StockListing) -> Result<(), StoreError> {
        let stock = &listing.stock;
        let inserted = sqlx::query(
            "INSERT INTO stocks (id, event_id, state, capacity, held, sold, version, listing)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => match DbError::Sql(e).classify(MY) {
                Failure::Unique { .. } => Err(StoreError::AlreadyExists {
                    what: "stock",
                    id: stock.id().to_string(),
                }),
                other => Err(other.into_store(MY)),
            },
        }
    }

    async fn ticket(pool: &MySqlPool, id: TicketId) -> Result<TicketListing, StoreError> {
        sqlx::query_as::<_, TicketListingRow>(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE id = ?",
        )
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
        .db(MY)?
        .ok_or_else(|| StoreError::not_found("ticket", id))?
        .listing()
    }

    async fn tickets_of_event(
        pool: &MySqlPool,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        let after = page.after.map(|t| *t.as_uuid());
        let rows = sqlx::query_as::<_, TicketListingRow>(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE event_id = ? AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?",
        )
        .bind(event.as_uuid())
        .bind(after)
        .bind(after)
        .bind(i64::from(page.limit))
        .fetch_all(pool)
        .await
        .db(MY)?;
        rows.into_iter().map(TicketListingRow::listing).collect()
    }

    async fn stock(pool: &MySqlPool, id: StockId) -> Result<StockListing, StoreError> {
        sqlx::query_as::<_, StockListingRow>(
            "SELECT id, event_id, state, capacity, held, sold, version, listing
             FROM stocks WHERE id = ?",
        )
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
        .db(MY)?
        .ok_or_else(|| StoreError::not_found("stock", id))?
        .listing()
    }

    async fn availability(
        pool: &MySqlPool,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        let now = nanos(now)?;
        let (available, total): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(state = 'Available'
                                      OR (state = 'Held' AND expires_ns <= ?)), 0) AS SIGNED),
                    COUNT(*)
             FROM tickets WHERE event_id = ?",
        )
        .bind(now)
        .bind(event.as_uuid())
        .fetch_one(pool)
        .await
        .db(MY)?;
        let stocks: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT s.id, CAST(s.capacity - s.held - s.sold + COALESCE(
                        (SELECT SUM(h.quantity) FROM stock_holds h
                         WHERE h.stock_id = s.id AND h.status = 'active' AND h.expires_ns <= ?),
                        0) AS SIGNED)
             FROM stocks s WHERE s.event_id = ? ORDER BY s.listed",
        )
        .bind(now)
        .bind(event.as_uuid())
        .fetch_all(pool)
        .await
        .db(MY)?;
        Ok(Availability::new(
            from_db(available, "ticket count").db(MY)?,
            from_db(total, "ticket count").db(MY)?,
            stocks
                .into_iter()
                .map(|(id, n)| Ok((StockId::from_uuid(id), from_db(n, "stock count").db(MY)?)))
                .collect::<Result<_, StoreError>>()?,
        ))
    }
}
