//! The outbox on PostgreSQL: events appended in the caller's transaction in one statement,
//! numbered in insert order by an identity column (`seq`), and given their position in the
//! relay's order when read (docs/adr/0009).
//!
//! A reader first stamps positions on committed rows that have none, holding the
//! `outbox_head` row lock, then pages by position. The stamping statement runs after the lock
//! is granted, so its snapshot sees every position the previous stamper committed and
//! every row whose writer committed by then; a writer still open is not seen and is stamped by
//! a later reader, with higher positions. Positions thus become visible in increasing
//! order, and a relay that pages after the last position it saw never skips an entry.

use booking_core::clock::Timestamp;
use booking_core::machine::DomainEvent;
use booking_core::ports::store::{OutboxEntry, StoreError};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row};

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
             SELECT e::json, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
        )
        .bind(json)
        .bind(nanos(now)?)
        .execute(conn)
        .await
        .db(PG)?;
        Ok(())
    }

    async fn outbox(pool: &PgPool, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut conn = pool.acquire().await.db(PG)?;
        stamp(&mut conn, limit).await?;
        let rows = sqlx::query(
            "SELECT position, event, recorded_ns FROM outbox
             WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .bind(clamp(after))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .db(PG)?;
        rows.iter()
            .map(|row| {
                let Json(event): Json<DomainEvent> = row.try_get("event").db(PG)?;
                Ok(OutboxEntry::new(
                    from_db(row.try_get("position").db(PG)?, "outbox position").db(PG)?,
                    event,
                    instant(row.try_get("recorded_ns").db(PG)?).db(PG)?,
                ))
            })
            .collect()
    }

    async fn acknowledge_outbox(pool: &PgPool, upto: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM outbox WHERE position <= $1")
            .bind(clamp(upto))
            .execute(pool)
            .await
            .db(PG)?
            .rows_affected();
        Ok(removed)
    }
}

/// Gives up to `limit` committed entries without a position the next positions, in `seq`
/// order, and commits before anything is read: a position a reader returns is never taken
/// back.
async fn stamp(conn: &mut PgConnection, limit: u32) -> Result<(), StoreError> {
    let mut tx = conn.begin().await.db(PG)?;
    // The lock first, in its own statement: the stamping statement's snapshot is taken once
    // it is granted, so it sees what the previous stamper committed.
    let pending: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM outbox WHERE position IS NULL)
         FROM outbox_head WHERE id = 1 FOR UPDATE",
    )
    .fetch_one(&mut *tx)
    .await
    .db(PG)?;
    if pending {
        sqlx::query(
            "WITH pending AS (
                 SELECT seq, row_number() OVER (ORDER BY seq) AS n
                 FROM (SELECT seq FROM outbox WHERE position IS NULL ORDER BY seq LIMIT $1) p),
             head AS (
                 UPDATE outbox_head SET last = last + (SELECT count(*) FROM pending)
                 WHERE id = 1
                 RETURNING last - (SELECT count(*) FROM pending) AS base)
             UPDATE outbox o SET position = head.base + pending.n
             FROM pending, head WHERE o.seq = pending.seq",
        )
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .db(PG)?;
    }
    tx.commit().await.db(PG)
}
