//! The outbox on MySQL: events appended in the caller's transaction as one multi-row insert
//! (InnoDB numbers the rows of one statement in the order they are listed), given their
//! position in the relay's order when read (docs/adr/0009).
//!
//! A reader first stamps positions on committed rows that have none, holding the
//! `outbox_head` row lock, then pages by position. At `READ COMMITTED` each statement reads
//! a fresh view, taken after the lock is granted: it sees every position the previous stamper
//! committed and every row whose writer committed by then. A writer still open is not seen
//! (a plain read never waits on it) and is stamped by a later reader, with higher positions.
//! Positions thus become visible in increasing order, and a relay that pages after the last
//! position it saw never skips an entry.

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{OutboxEntry, StoreError};
use sqlx::{MySql, MySqlConnection, MySqlPool};

use super::MY;
use super::begin;
use super::rows::marks;
use crate::codec::{clamp, events_json, from_db, instant, nanos};
use crate::error::{Db, DbError};
use crate::store::database::Outbox;

/// An `outbox` row.
#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    position: i64,
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
            from_db(self.position, "outbox position").db(MY)?,
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
        stamp(pool, limit).await?;
        let rows = sqlx::query_as::<_, OutboxRow>(
            "SELECT position, event, recorded_ns FROM outbox
             WHERE position > ? ORDER BY position LIMIT ?",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .db(MY)?;
        rows.iter().map(OutboxRow::entry).collect()
    }

    async fn acknowledge_outbox(pool: &MySqlPool, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE position <= ?")
            .bind(clamp(upto))
            .execute(pool)
            .await
            .db(MY)?
            .rows_affected();
        Ok(removed)
    }
}

/// Rows stamped by one statement: three placeholders each, far below the server's limit.
const STAMP_CHUNK: usize = 1000;

/// Gives up to `limit` committed entries without a position the next positions, in `seq`
/// order, and commits before anything is read: a position a reader returns is never taken
/// back.
async fn stamp(pool: &MySqlPool, limit: u32) -> Result<(), StoreError> {
    let mut tx = begin(pool).await.db(MY)?;
    // The lock first, in its own statement: the next statements read views taken once it
    // is granted.
    let last: i64 = sqlx::query_scalar("SELECT last FROM outbox_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await
        .db(MY)?;
    let pending: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM outbox WHERE position IS NULL ORDER BY seq LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .db(MY)?;
    if pending.is_empty() {
        return tx.commit().await.db(MY);
    }
    let mut next = last;
    for chunk in pending.chunks(STAMP_CHUNK) {
        let sql = format!(
            "UPDATE outbox SET position = CASE seq {} END WHERE seq IN ({})",
            vec!["WHEN ? THEN ?"; chunk.len()].join(" "),
            marks(chunk.len(), "?"),
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &seq in chunk {
            next = next
                .checked_add(1)
                .ok_or_else(|| DbError::corrupt("outbox position", "past i64::MAX"))
                .db(MY)?;
            update = update.bind(seq).bind(next);
        }
        for &seq in chunk {
            update = update.bind(seq);
        }
        update.execute(&mut *tx).await.db(MY)?;
    }
    sqlx::query("UPDATE outbox_head SET last = ? WHERE id = 1")
        .bind(next)
        .execute(&mut *tx)
        .await
        .db(MY)?;
    tx.commit().await.db(MY)
}
