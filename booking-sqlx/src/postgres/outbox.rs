//! The outbox on PostgreSQL: events appended in the caller's transaction in one statement,
//! numbered in order by an identity column.

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{OutboxEntry, StoreError};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, Row};

use super::PG;
use crate::codec::{clamp, events_json, from_db, instant, nanos};
use crate::error::Db;
use crate::store::database::Outbox;

impl Outbox for Postgres {
    async fn append_outbox(
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

    async fn outbox(pool: &PgPool, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(PG)?;
        rows.iter()
            .map(|row| {
                let Json(event): Json<DomainEvent> = row.try_get("event").db(PG)?;
                Ok(OutboxEntry::new(
                    from_db(row.try_get("seq").db(PG)?, "outbox seq").db(PG)?,
                    event,
                    instant(row.try_get("recorded_ns").db(PG)?).db(PG)?,
                ))
            })
            .collect()
    }

    async fn acknowledge_outbox(pool: &PgPool, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= $1")
            .bind(clamp(upto))
            .execute(pool)
            .await
            .db(PG)?
            .rows_affected();
        Ok(removed)
    }
}
