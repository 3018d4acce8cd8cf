//! The outbox on MySQL: events appended in the caller's transaction as one multi-row insert
//! (InnoDB numbers the rows of one statement in the order they are listed).

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{OutboxEntry, StoreError};
use sqlx::{MySql, MySqlConnection, MySqlPool};

use super::MY;
use super::rows::marks;
use crate::codec::{clamp, events_json, from_db, instant, nanos};
use crate::error::{Db, DbError};
use crate::store::database::Outbox;

/// An `outbox` row.
#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    event: String,
    recorded_ns: i64,
}

impl OutboxRow {
    /// The entry the row stores.
    fn entry(&self) -> Result<OutboxEntry, StoreError> {
        let event = serde_json::from_str(&self.event)
            .map_err(|e| DbError::corrupt("outbox event", e))
            .db(MY)?;
        Ok(OutboxEntry::new(
            from_db(self.seq, "outbox seq").db(MY)?,
            event,
            instant(self.recorded_ns).db(MY)?,
        ))
    }
}

impl Outbox for MySql {
    async fn append_outbox(
        conn: &mut MySqlConnection,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO outbox (event, recorded_ns) VALUES {}",
            marks(events.len(), "(?, ?)")
        );
        let at = nanos(now)?;
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in events_json(events)? {
            insert = insert.bind(event).bind(at);
        }
        insert.execute(conn).await.db(MY)?;
        Ok(())
    }

    async fn outbox(
        pool: &MySqlPool,
        after: u64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query_as::<_, OutboxRow>(
            "SELECT seq, event, recorded_ns FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(MY)?;
        rows.iter().map(OutboxRow::entry).collect()
    }

    async fn acknowledge_outbox(pool: &MySqlPool, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE seq <= ?")
            .bind(clamp(upto))
            .execute(pool)
            .await
            .db(MY)?
            .rows_affected();
        Ok(removed)
    }
}
