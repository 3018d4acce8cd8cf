//! [`BookingStore`] for [`MySqlStore`]: each operation one transaction at `READ COMMITTED`.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use booking_core::machine::{DomainEvent, Kind, PaymentState};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    Availability, BookingStore, Cas, ExpirySweep, MarkPaid, OrderPage, OrderRecord, OutboxEntry,
    PaymentRecord, SettleRefund, StockListing, StoreError, TicketListing,
};
use uuid::Uuid;

use super::records::read_order;
use super::rows::{OutboxRow, StockListingRow, TicketListingRow, marks, record};
use super::{MY, MySqlStore};
use crate::codec::{Listing, TicketColumns, from_db, nanos, to_db};
use crate::error::{Db, DbError, Failure};
use crate::expiry_sweep;
use crate::order_pages::{OrdersOf, order_page};
use crate::store_writes::{Write, write};

/// A limit or position as a bigint bind, saturating.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The record in a `record` column, or `NotFound` for `what` `id`.
fn found<T: serde::de::DeserializeOwned>(
    text: Option<String>,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<T, StoreError> {
    let text = text.ok_or_else(|| StoreError::not_found(what, id))?;
    record(&text, what)
}

#[async_trait]
impl BookingStore for MySqlStore {
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError> {
        if listings.is_empty() {
            return Ok(());
        }
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
        // One statement: a taken id (in the table or twice in the list) fails all of it.
        match insert.execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(e) => match DbError::Sql(e).classify(MY) {
                Failure::Unique { .. } => Err(StoreError::AlreadyExists {
                    what: "ticket",
                    id: self.first_taken(listings).await?,
                }),
                other => Err(other.into_store(MY)),
            },
        }
    }

    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError> {
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
        .execute(&self.pool)
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

    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError> {
        sqlx::query_as::<_, TicketListingRow>(
            "SELECT id, event_id, state, order_id, hold_id, expires_ns, version, listing
             FROM tickets WHERE id = ?",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .db(MY)?
        .ok_or_else(|| StoreError::not_found("ticket", id))?
        .listing()
    }

    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError> {
        sqlx::query_as::<_, StockListingRow>(
            "SELECT id, event_id, state, capacity, held, sold, version, listing
             FROM stocks WHERE id = ?",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .db(MY)?
        .ok_or_else(|| StoreError::not_found("stock", id))?
        .listing()
    }

    async fn availability(
        &self,
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
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
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

    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
        write(&self.pool, Write::PlaceOrder(record), now).await
    }

    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError> {
        let mut conn = self.pool.acquire().await.db(MY)?;
        read_order(&mut conn, id).await
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
        let text = sqlx::query_scalar("SELECT record FROM payments WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .db(MY)?;
        found(text, "payment", id)
    }

    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError> {
        let text = sqlx::query_scalar("SELECT record FROM payments WHERE order_ref = ?")
            .bind(order_ref.as_str())
            .fetch_optional(&self.pool)
            .await
            .db(MY)?;
        found(text, "payment", order_ref)
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
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // Payment ids are UUID v7: ordering by id is ordering by creation time.
        let sql = format!(
            "SELECT record FROM payments WHERE state IN ({}) ORDER BY id LIMIT ?",
            marks(states.len(), "?")
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for state in states {
            query = query.bind(state.name());
        }
        let texts = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .db(MY)?;
        texts.iter().map(|t| record(t, "payment")).collect()
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
        let rows = sqlx::query_as::<_, OutboxRow>(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db(MY)?;
        rows.iter().map(OutboxRow::entry).collect()
    }

    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= ?")
            .bind(clamp(upto))
            .execute(&self.pool)
            .await
            .db(MY)?
            .rows_affected();
        Ok(removed)
    }
}

impl MySqlStore {
    /// The first id of `listings` that is already stored or listed twice, for the error of a
    /// refused `add_tickets`.
    async fn first_taken(&self, listings: &[TicketListing]) -> Result<String, StoreError> {
        let ids: Vec<Uuid> = listings.iter().map(|l| *l.ticket.id().as_uuid()).collect();
        let sql = format!(
            "SELECT id FROM tickets WHERE id IN ({})",
            marks(ids.len(), "?")
        );
        let mut query = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(*id);
        }
        let stored: std::collections::HashSet<Uuid> = query
            .fetch_all(&self.pool)
            .await
            .db(MY)?
            .into_iter()
            .collect();
        let mut seen = std::collections::HashSet::new();
        Ok(ids
            .iter()
            .find(|id| stored.contains(*id) || !seen.insert(**id))
            .map_or_else(String::new, ToString::to_string))
    }
}
