//! [`BookingStore`] for [`SqliteStore`]: each writing operation one `BEGIN IMMEDIATE`
//! transaction.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use booking_core::machine::{DomainEvent, Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, MarkPaid, OrderPage, OrderRecord, OutboxEntry,
    PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing,
};
use sqlx::types::Json;
use uuid::Uuid;

use super::SqliteStore;
use super::inventory::insert_ticket;
use super::records::{find_order, payment_by_id};
use super::rows::{
    STOCK_COLUMNS, StockRow, TICKET_COLUMNS, TicketRow, inserted, outbox_entry, stock_listing,
    ticket_listing,
};
use super::{SQ, begin_write};
use crate::codec::{Listing, from_db, nanos, to_db};
use crate::error::Db;
use crate::expiry_sweep;
use crate::order_pages::{OrdersOf, order_page};
use crate::store_writes::{Write, write};

/// A cursor or limit as an INTEGER bind, saturating.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl BookingStore for SqliteStore {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        // One write transaction: a taken id fails all of it (the dropped transaction rolls
        // back the rows already inserted).
        let mut tx = begin_write(&self.pool).await.db(SQ)?;
        for l in listings {
            let listing = Listing::of_ticket(l);
            let rows = insert_ticket(&mut tx, &l.ticket, l.event, listing).await?;
            inserted("ticket", l.ticket.id(), rows)?;
        }
        tx.commit().await.db(SQ)
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await
        .db(SQ)?
        .rows_affected();
        inserted("stock", stock.id(), rows)
    }

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?");
        let row: TicketRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .db(SQ)?
            .ok_or_else(|| StoreError::not_found("ticket", id))?;
        ticket_listing(row)
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        let sql = format!("SELECT {STOCK_COLUMNS} FROM stocks WHERE id = ?");
        let row: StockRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .db(SQ)?
            .ok_or_else(|| StoreError::not_found("stock", id))?;
        stock_listing(row)
    }

    async fn availability(
        &self,
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
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
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

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        write(&self.pool, Write::PlaceOrder(record), now).await
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        let mut conn = self.pool.acquire().await.db(SQ)?;
        find_order(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::not_found("order", id))
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
        let mut conn = self.pool.acquire().await.db(SQ)?;
        payment_by_id(&mut conn, id).await
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let row: Option<(Json<PaymentRecord>,)> =
            sqlx::query_as("SELECT record FROM payments WHERE order_ref = ?")
                .bind(order_ref.as_str())
                .fetch_optional(&self.pool)
                .await
                .db(SQ)?;
        row.map(|(Json(record),)| record)
            .ok_or_else(|| StoreError::not_found("payment", order_ref))
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
        // The state names are JSON text of the machine's own names, never input.
        let names = serde_json::to_string(&states.iter().map(|s| s.name()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let rows: Vec<(Json<PaymentRecord>,)> = sqlx::query_as(
            "SELECT record FROM payments WHERE state IN (SELECT value FROM json_each(?))
             ORDER BY id LIMIT ?",
        )
        .bind(names)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db(SQ)?;
        Ok(rows.into_iter().map(|(Json(record),)| record).collect())
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
        expiry_sweep::expire_due(&self.pool, now, batch).await
    }

    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<(i64, Json<DomainEvent>, i64)> = sqlx::query_as(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db(SQ)?;
        rows.into_iter().map(outbox_entry).collect()
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= ?")
            .bind(clamp(upto))
            .execute(&self.pool)
            .await
            .db(SQ)?
            .rows_affected();
        Ok(removed)
    }
}
