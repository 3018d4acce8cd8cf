//! [`BookingStore`] for [`PostgresStore`]: each operation one transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use booking_core::machine::{DomainEvent, Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, MarkPaid, OrderPage, OrderRecord, OutboxEntry,
    PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing,
};
use sqlx::Row;
use sqlx::types::Json;
use uuid::Uuid;

use super::PG;
use super::PostgresStore;
use super::codec::{
    Listing, TicketColumns, from_db, nanos, outbox_entry, stock_listing, ticket_listing, to_db,
};
use super::sweep;
use crate::error::Db;
use crate::order_pages::{OrdersOf, order_page};
use crate::store_writes::{Write, write};

/// A limit or position as a bigint bind, saturating.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A listing as its jsonb text.
fn listing_text(listing: &Json<Listing>) -> Result<String, StoreError> {
    serde_json::to_string(&listing.0)
        .map_err(|e| StoreError::Invalid(format!("listing not serializable: {e}")))
}

/// The payment stored in a row's `record`, or `NotFound`.
fn payment_of(
    row: Option<sqlx::postgres::PgRow>,
    id: impl std::fmt::Display,
) -> Result<PaymentRecord, StoreError> {
    let row = row.ok_or_else(|| StoreError::not_found("payment", id))?;
    let Json(record) = row.try_get::<Json<PaymentRecord>, _>("record").db(PG)?;
    Ok(record)
}

#[async_trait]
impl BookingStore for PostgresStore {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
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
        let mut tx = self.pool.begin().await.db(PG)?;
        let rows = sqlx::query(
            "INSERT INTO tickets (id, event_id, state, order_id, hold_id, expires_ns, version, listing)
             SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing::jsonb
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

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
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
        .execute(&self.pool)
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

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        let row = sqlx::query(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .db(PG)?
        .ok_or_else(|| StoreError::not_found("ticket", id))?;
        ticket_listing(&row)
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        let row = sqlx::query(
            "SELECT id, event_id, state, capacity, held, sold, version, listing
             FROM stocks WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .db(PG)?
        .ok_or_else(|| StoreError::not_found("stock", id))?;
        stock_listing(&row)
    }

    async fn availability(
        &self,
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
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
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

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        write(&self.pool, Write::PlaceOrder(record), now).await
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM orders WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .db(PG)?
            .ok_or_else(|| StoreError::not_found("order", id))?;
        let Json(record) = row.try_get::<Json<OrderRecord>, _>("record").db(PG)?;
        Ok(record)
    }

    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        order_page(&self.pool, OrdersOf::User(user), page).await
    }

    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        order_page(&self.pool, OrdersOf::Event(event), page).await
    }

    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write(&self.pool, Write::UpdateOrder(change, events), now).await
    }

    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write(&self.pool, Write::ExtendHold(change, events), now).await
    }

    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write(&self.pool, Write::StartPayment(order, payment, events), now).await
    }

    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM payments WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .db(PG)?;
        payment_of(row, id)
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let row = sqlx::query("SELECT record FROM payments WHERE order_ref = $1")
            .bind(order_ref.as_str())
            .fetch_optional(&self.pool)
            .await
            .db(PG)?;
        payment_of(row, order_ref)
    }

    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write(&self.pool, Write::UpdatePayment(change, events), now).await
    }

    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let names: Vec<&str> = states.iter().map(|s| s.name()).collect();
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let rows =
            sqlx::query("SELECT record FROM payments WHERE state = ANY($1) ORDER BY id LIMIT $2")
                .bind(names)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .db(PG)?;
        rows.iter()
            .map(|row| {
                let Json(record) = row.try_get::<Json<PaymentRecord>, _>("record").db(PG)?;
                Ok(record)
            })
            .collect()
    }

    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError> {
        write(&self.pool, Write::MarkPaid(paid), now).await
    }

    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError> {
        write(&self.pool, Write::SettleRefund(refund), now).await
    }

    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write(&self.pool, Write::CancelUnpaid(change, events), now).await
    }

    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError> {
        sweep::expire_due(&self.pool, now, batch).await
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db(PG)?;
        rows.iter().map(outbox_entry).collect()
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= $1")
            .bind(clamp(upto))
            .execute(&self.pool)
            .await
            .db(PG)?
            .rows_affected();
        Ok(removed)
    }
}
