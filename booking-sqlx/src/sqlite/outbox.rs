//! The outbox on SQLite: events appended in the caller's write transaction, whose write lock
//! makes `seq` follow commit order.

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{OutboxEntry, StoreError};
use sqlx::types::Json;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::SQ;
use crate::codec::{clamp, events_json, from_db, instant, nanos};
use crate::error::Db;
use crate::store::database::Outbox;

impl Outbox for Sqlite {
    async fn append_outbox(
        conn: &mut SqliteConnection,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let at = nanos(now)?;
        for event in events_json(events)? {
            sqlx::query("INSERT INTO outbox (event, recorded_ns) VALUES (?, ?)")
                .bind(event)
                .bind(at)
                .execute(&mut *conn)
                .await
                .db(SQ)?;
        }
        Ok(())
    }

    async fn outbox(
        pool: &SqlitePool,
        after: u64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<(i64, Json<DomainEvent>, i64)> = sqlx::query_as(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(SQ)?;
        rows.into_iter()
            .map(|(seq, Json(event), recorded)| {
                Ok(OutboxEntry::new(
                    from_db(seq, "outbox seq").db(SQ)?,
                    event,
                    instant(recorded).db(SQ)?,
                ))
            })
            .collect()
    }

    async fn acknowledge_outbox(pool: &SqlitePool, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= ?")
            .bind(clamp(upto))
            .execute(pool)
            .await
            .db(SQ)?
            .rows_affected();
        Ok(removed)
    }
}
