//! Listing tickets and stocks on PostgreSQL, reading them back, and what is left to sell.

use std::collections::HashSet;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, StockId, TicketId};
use booking_core::machine::Kind;
use booking_core::ports::store::{
    Availability, StockListing, StoreError, TicketListing, TicketPage,
};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row};
use uuid::Uuid;

use super::PG;
use super::rows::{stock_listing, ticket_listing};
use crate::codec::{Listing, TicketColumns, from_db, nanos, to_db};
use crate::error::Db;
use crate::store::database::Inventory;

/// A listing as its JSON text.
fn listing_text(listing: &Json<Listing>) -> Result<String, StoreError> {
    serde_json::to_string(&listing.0)
        .map_err(|e| StoreError::Invalid(format!("listing not serializable: {e}")))
}

impl Inventory for Postgres {
    async fn add_tickets(pool: &PgPool, listings: &[TicketListing]) -> Result<(), StoreError> {
        let n = listings.len();
        let (mut ids, mut events, mut states, mut orders) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut holds, mut expires, mut versions, mut extras) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for l in listings {
            let c = TicketColumns::of(&l.ticket)?;
            ids.push(*l.ticket.id().as_uuid());
            events.push(*l.event.as_uuid());
            states.push(c.state);
            orders.push(c.order);
            holds.push(c.hold);
            expires.push(c.expires_ns);
            versions.push(c.version);
            extras.push(listing_text(&Listing::of_ticket(l))?);
        }
        let mut tx = pool.begin().await.db(PG)?;
        let rows = sqlx::query(
            "INSERT INTO tickets (id, event_id, state, order_id, hold_id, expires_ns, version, listing)
             SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing::json
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::bigint[],
                         $7::bigint[], $8::text[])
                  AS t(id, event_id, state, order_id, hold_id, expires_ns, version, listing)
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(&ids)
        .bind(events)
        .bind(states)
        .bind(orders)
        .bind(holds)
        .bind(expires)
        .bind(versions)
        .bind(extras)
        .fetch_all(&mut *tx)
        .await
        .db(PG)?;
        if rows.len() == n {
            return tx.commit().await.db(PG);
        }
        // Dropping the transaction rolls the inserted rows back: all or nothing.
        let inserted: HashSet<Uuid> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()
            .db(PG)?;
        let mut seen = HashSet::new();
        let taken = ids
            .iter()
            .find(|id| !inserted.contains(*id) || !seen.insert(**id))
            .map_or_else(String::new, ToString::to_string);
        Err(StoreError::AlreadyExists {
            what: "ticket",
            id: taken,
        })
    }

    async fn add_stock(pool: &PgPool, listing: &StockListing) -> Result<(), StoreError> {
        let stock = &listing.stock;
        let inserted = sqlx::query(
            "INSERT INTO stocks (id, event_id, state, capacity, held, sold, version, listing)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
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
        .db(PG)?
        .rows_affected();
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                what: "stock",
                id: stock.id().to_string(),
            })
        }
    }

    async fn ticket(pool: &PgPool, id: TicketId) -> Result<TicketListing, StoreError> {
        let row = sqlx::query(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
        .db(PG)?
        .ok_or_else(|| StoreError::not_found("ticket", id))?;
        ticket_listing(&row)
    }

    async fn tickets_of_event(
        pool: &PgPool,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE event_id = $1 AND ($2::uuid IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(event.as_uuid())
        .bind(page.after.map(|t| *t.as_uuid()))
        .bind(i64::from(page.limit))
        .fetch_all(pool)
        .await
        .db(PG)?;
        rows.iter().map(ticket_listing).collect()
    }

    async fn stock(pool: &PgPool, id: StockId) -> Result<StockListing, StoreError> {
        let row = sqlx::query(
            "SELECT id, event_id, state, capacity, held, sold, version, listing
             FROM stocks WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
        .db(PG)?
        .ok_or_else(|| StoreError::not_found("stock", id))?;
        stock_listing(&row)
    }

    async fn availability(
        pool: &PgPool,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError> {
        let now = nanos(now)?;
        let tickets = sqlx::query(
            "SELECT count(*) FILTER (WHERE state = 'Available'
                                        OR (state = 'Held' AND expires_ns <= $2)) AS available,
                    count(*) AS total
             FROM tickets WHERE event_id = $1",
        )
        .bind(event.as_uuid())
        .bind(now)
        .fetch_one(pool)
        .await
        .db(PG)?;
        let stocks = sqlx::query(
            "SELECT s.id, s.capacity - s.held - s.sold + COALESCE(
                        (SELECT sum(h.quantity) FROM stock_holds h
                         WHERE h.stock_id = s.id AND h.status = 'active' AND h.expires_ns <= $2),
                        0)::bigint AS available
             FROM stocks s WHERE s.event_id = $1 ORDER BY s.listed",
        )
        .bind(event.as_uuid())
        .bind(now)
        .fetch_all(pool)
        .await
        .db(PG)?;
        Ok(Availability::new(
            from_db(tickets.try_get("available").db(PG)?, "ticket count").db(PG)?,
            from_db(tickets.try_get("total").db(PG)?, "ticket count").db(PG)?,
            stocks
                .iter()
                .map(|row| {
                    let id = StockId::from_uuid(row.try_get("id").db(PG)?);
                    Ok((
                        id,
                        from_db(row.try_get("available").db(PG)?, "stock count").db(PG)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
        ))
    }
}
