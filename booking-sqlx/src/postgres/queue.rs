//! [`PostgresAdmissionQueue`]: the waiting room as sequence-ordered rows.
//!
//! Each room has a row holding its next arrival sequence; each token a row with its sequence,
//! waiting while `admitted_until_ns` is NULL. A position is the count of waiting tokens of the
//! room at or before the token's sequence (an index-only range of the partial index of
//! waiting tokens), so leaving closes the gap at once.
//!
//! - `join` locks the room row (an upsert that creates it on first use), then finds the user's
//!   live token or takes the next sequence and inserts one. Joins of one room queue on that
//!   row for one short transaction each, which keeps sequences dense and a user to one token.
//! - `admit_next` locks the room row too, forgets the room's lapsed admissions, then admits
//!   the earliest waiting tokens in one `UPDATE … WHERE token IN (SELECT … ORDER BY sequence
//!   LIMIT n FOR UPDATE SKIP LOCKED)`. Admitters of one room take turns on the room row, so
//!   each batch is the next run of arrivals and no token is admitted twice; `SKIP LOCKED`
//!   passes over a token a concurrent `leave` is deleting instead of waiting for it.

use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::ports::backend::queue::{admission_expiry, admitted};
use booking_core::ports::queue::{Admission, AdmissionQueue, QueueEntry, QueueError, QueueStatus};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::PG;
use crate::codec::from_db;
use crate::error::PortDb;
use crate::queue_rows::{admissions_in_order, admitted_status, room_of, stored_instant};

/// [`AdmissionQueue`] on PostgreSQL (tables `admission_rooms`, `admission_tokens`). Cloning
/// is cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresAdmissionQueue {
    pool: PgPool,
}

impl PostgresAdmissionQueue {
    /// A waiting room set over `pool`, whose schema has the tables of
    /// [`MIGRATOR`](super::MIGRATOR).
    pub fn new(pool: PgPool) -> Self {
        PostgresAdmissionQueue { pool }
    }
}

/// A token's row: its room, user, sequence and admission.
#[derive(Debug, Clone, Copy)]
struct Entry {
    event: Uuid,
    user: Uuid,
    sequence: i64,
    admitted_until: Option<i64>,
}

/// The row of `token`, if it is known.
async fn entry_of(
    conn: &mut PgConnection,
    token: AdmissionToken,
) -> Result<Option<Entry>, QueueError> {
    let row = sqlx::query(
        "SELECT event_id, user_id, sequence, admitted_until_ns FROM admission_tokens
         WHERE token = $1",
    )
    .bind(token.as_uuid())
    .fetch_optional(conn)
    .await
    .port(PG)?;
    row.map(|row| {
        Ok::<_, sqlx::Error>(Entry {
            event: row.try_get("event_id")?,
            user: row.try_get("user_id")?,
            sequence: row.try_get("sequence")?,
            admitted_until: row.try_get("admitted_until_ns")?,
        })
    })
    .transpose()
    .port(PG)
}

/// Where `entry` stands at `now`.
async fn status_of(
    conn: &mut PgConnection,
    entry: Entry,
    now: Timestamp,
) -> Result<QueueStatus, QueueError> {
    match entry.admitted_until {
        None => {
            let position: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM admission_tokens
                 WHERE event_id = $1 AND admitted_until_ns IS NULL AND sequence <= $2",
            )
            .bind(entry.event)
            .bind(entry.sequence)
            .fetch_one(conn)
            .await
            .port(PG)?;
            Ok(QueueStatus::Waiting {
                position: from_db(position, "queue position").port(PG)?,
            })
        }
        Some(until) => admitted_status(until, now).port(PG),
    }
}

/// Joins inside the caller's transaction, which holds the room's row lock.
async fn join_locked(
    conn: &mut PgConnection,
    event: EventId,
    user: UserId,
    now: Timestamp,
) -> Result<QueueEntry, QueueError> {
    let existing = sqlx::query(
        "SELECT token, sequence, admitted_until_ns FROM admission_tokens
         WHERE event_id = $1 AND user_id = $2",
    )
    .bind(event.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .port(PG)?;
    if let Some(row) = existing {
        let token: Uuid = row.try_get("token").port(PG)?;
        let entry = Entry {
            event: *event.as_uuid(),
            user: *user.as_uuid(),
            sequence: row.try_get("sequence").port(PG)?,
            admitted_until: row.try_get("admitted_until_ns").port(PG)?,
        };
        let status = status_of(conn, entry, now).await?;
        if !matches!(status, QueueStatus::Expired { .. }) {
            return Ok(QueueEntry {
                token: AdmissionToken::from_uuid(token),
                sequence: from_db(entry.sequence, "queue sequence").port(PG)?,
                status,
            });
        }
        // The old admission lapsed: the user goes to the back of the line.
        sqlx::query("DELETE FROM admission_tokens WHERE token = $1")
            .bind(token)
            .execute(&mut *conn)
            .await
            .port(PG)?;
    }
    let sequence: i64 = sqlx::query_scalar(
        "UPDATE admission_rooms SET next_sequence = next_sequence + 1 WHERE event_id = $1
         RETURNING next_sequence - 1",
    )
    .bind(event.as_uuid())
    .fetch_one(&mut *conn)
    .await
    .port(PG)?;
    let token = AdmissionToken::new();
    sqlx::query(
        "INSERT INTO admission_tokens (token, event_id, user_id, sequence) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.as_uuid())
    .bind(event.as_uuid())
    .bind(user.as_uuid())
    .bind(sequence)
    .execute(&mut *conn)
    .await
    .port(PG)?;
    let entry = Entry {
        event: *event.as_uuid(),
        user: *user.as_uuid(),
        sequence,
        admitted_until: None,
    };
    Ok(QueueEntry {
        token,
        sequence: from_db(sequence, "queue sequence").port(PG)?,
        status: status_of(conn, entry, now).await?,
    })
}

#[async_trait]
impl AdmissionQueue for PostgresAdmissionQueue {
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError> {
        let mut tx = self.pool.begin().await.port(PG)?;
        // Creates the room on first use; either way the row stays locked until commit.
        sqlx::query(
            "INSERT INTO admission_rooms AS r (event_id, next_sequence) VALUES ($1, 0)
             ON CONFLICT (event_id) DO UPDATE SET next_sequence = r.next_sequence",
        )
        .bind(event.as_uuid())
        .execute(&mut *tx)
        .await
        .port(PG)?;
        let entry = join_locked(&mut tx, event, user, now).await?;
        tx.commit().await.port(PG)?;
        Ok(entry)
    }

    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError> {
        let mut conn = self.pool.acquire().await.port(PG)?;
        let entry = entry_of(&mut conn, token)
            .await?
            .ok_or(QueueError::UnknownToken)?;
        status_of(&mut conn, entry, now).await
    }

    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        let expires_at = admission_expiry(now, ttl)?;
        let (now, until) = (stored_instant(now)?, stored_instant(expires_at)?);
        let mut tx = self.pool.begin().await.port(PG)?;
        let room = sqlx::query("SELECT 1 FROM admission_rooms WHERE event_id = $1 FOR UPDATE")
            .bind(event.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .port(PG)?;
        if room.is_none() {
            return Ok(Vec::new());
        }
        sqlx::query("DELETE FROM admission_tokens WHERE event_id = $1 AND admitted_until_ns <= $2")
            .bind(event.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .port(PG)?;
        let rows: Vec<(i64, Uuid, Uuid)> = sqlx::query_as(
            "UPDATE admission_tokens SET admitted_until_ns = $3
             WHERE token IN (
                 SELECT token FROM admission_tokens
                 WHERE event_id = $1 AND admitted_until_ns IS NULL
                 ORDER BY sequence LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING sequence, token, user_id",
        )
        .bind(event.as_uuid())
        .bind(i64::from(n))
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .port(PG)?;
        tx.commit().await.port(PG)?;
        Ok(admissions_in_order(rows, expires_at))
    }

    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError> {
        let mut conn = self.pool.acquire().await.port(PG)?;
        let entry = entry_of(&mut conn, token)
            .await?
            .ok_or(QueueError::UnknownToken)?;
        if entry.user != *user.as_uuid() {
            return Err(QueueError::WrongUser);
        }
        admitted(status_of(&mut conn, entry, now).await?)
    }

    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError> {
        let event: Option<Uuid> =
            sqlx::query_scalar("SELECT event_id FROM admission_tokens WHERE token = $1")
                .bind(token.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .port(PG)?;
        room_of(event)
    }

    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM admission_tokens WHERE token = $1")
            .bind(token.as_uuid())
            .execute(&self.pool)
            .await
            .port(PG)?;
        Ok(())
    }

    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError> {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM admission_tokens
             WHERE event_id = $1 AND admitted_until_ns IS NULL",
        )
        .bind(event.as_uuid())
        .fetch_one(&self.pool)
        .await
        .port(PG)?;
        from_db(waiting, "queue length").port(PG)
    }
}
