//! [`SqliteAdmissionQueue`]: waiting rooms, one row per token.
//!
//! A token waits while `admitted_until_ns` is NULL; its position is the count of waiting
//! tokens of its room with a sequence not above its own, read in the same statement as the
//! token (one consistent snapshot). `join` and `admit_next` are one write transaction each:
//! a join takes the room's next sequence and inserts the token (or returns the user's live
//! one); an admission forgets the room's lapsed admissions and marks the earliest waiting
//! tokens admitted, so concurrent admitters take turns and never admit a token twice.

use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::ports::backend::queue::{admission_expiry, admitted};
use booking_core::ports::queue::{Admission, AdmissionQueue, QueueEntry, QueueError, QueueStatus};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{SQ, begin_write};
use crate::codec::from_db;
use crate::error::{DbError, PortDb};
use crate::queue_rows::{admissions_in_order, admitted_status, room_of, stored_instant};

/// Waiting rooms in the SQLite database of `pool` (see the module docs).
#[derive(Debug, Clone)]
pub struct SqliteAdmissionQueue {
    pool: SqlitePool,
}

impl SqliteAdmissionQueue {
    /// A waiting room set over `pool`, migrated by
    /// [`SqliteStore::migrate`](super::SqliteStore::migrate).
    pub fn new(pool: SqlitePool) -> Self {
        SqliteAdmissionQueue { pool }
    }

    /// The token's row, or `UnknownToken`.
    async fn known(&self, token: AdmissionToken) -> Result<TokenRow, QueueError> {
        let mut conn = self.pool.acquire().await.port(SQ)?;
        token_row(&mut conn, *token.as_uuid())
            .await
            .port(SQ)?
            .ok_or(QueueError::UnknownToken)
    }
}

/// One token as [`token_row`] reads it: its user, sequence, admission and position.
#[derive(Debug)]
struct TokenRow {
    user: UserId,
    sequence: u64,
    admitted_until: Option<i64>,
    position: u64,
}

impl TokenRow {
    /// Where the token stands at `now`.
    fn status(&self, now: Timestamp) -> Result<QueueStatus, DbError> {
        match self.admitted_until {
            None => Ok(QueueStatus::Waiting {
                position: self.position,
            }),
            Some(until) => admitted_status(until, now),
        }
    }
}

/// The token `token` with its position, in one statement; `None` if unknown.
async fn token_row(conn: &mut SqliteConnection, token: Uuid) -> Result<Option<TokenRow>, DbError> {
    let row: Option<(Uuid, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT t.user_id, t.sequence, t.admitted_until_ns,
                (SELECT COUNT(*) FROM queue_tokens w
                 WHERE w.event_id = t.event_id AND w.admitted_until_ns IS NULL
                   AND w.sequence <= t.sequence)
         FROM queue_tokens t WHERE t.token = ?",
    )
    .bind(token)
    .fetch_optional(conn)
    .await?;
    row.map(|(user, sequence, admitted_until, position)| {
        Ok(TokenRow {
            user: UserId::from_uuid(user),
            sequence: from_db(sequence, "queue sequence")?,
            admitted_until,
            position: from_db(position, "queue position")?,
        })
    })
    .transpose()
}

#[async_trait]
impl AdmissionQueue for SqliteAdmissionQueue {
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError> {
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        let live: Option<(Uuid,)> =
            sqlx::query_as("SELECT token FROM queue_tokens WHERE event_id = ? AND user_id = ?")
                .bind(event.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .port(SQ)?;
        if let Some((token,)) = live {
            if let Some(row) = token_row(&mut tx, token).await.port(SQ)? {
                let status = row.status(now).port(SQ)?;
                if !matches!(status, QueueStatus::Expired { .. }) {
                    return Ok(QueueEntry {
                        token: AdmissionToken::from_uuid(token),
                        sequence: row.sequence,
                        status,
                    });
                }
            }
            // The old admission lapsed: the user goes to the back of the line.
            sqlx::query("DELETE FROM queue_tokens WHERE token = ?")
                .bind(token)
                .execute(&mut *tx)
                .await
                .port(SQ)?;
        }
        let (sequence,): (i64,) = sqlx::query_as(
            "INSERT INTO queue_rooms (event_id, next_sequence) VALUES (?, 1)
             ON CONFLICT (event_id) DO UPDATE SET next_sequence = next_sequence + 1
             RETURNING next_sequence - 1",
        )
        .bind(event.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .port(SQ)?;
        let token = AdmissionToken::new();
        sqlx::query(
            "INSERT INTO queue_tokens (token, event_id, user_id, sequence) VALUES (?, ?, ?, ?)",
        )
        .bind(token.as_uuid())
        .bind(event.as_uuid())
        .bind(user.as_uuid())
        .bind(sequence)
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        let row = token_row(&mut tx, *token.as_uuid())
            .await
            .port(SQ)?
            .ok_or_else(|| DbError::corrupt("queue token", "missing after its insert"))
            .port(SQ)?;
        tx.commit().await.port(SQ)?;
        Ok(QueueEntry {
            token,
            sequence: row.sequence,
            status: QueueStatus::Waiting {
                position: row.position,
            },
        })
    }

    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError> {
        self.known(token).await?.status(now).port(SQ)
    }

    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        let expires_at = admission_expiry(now, ttl)?;
        let (now_ns, until_ns) = (stored_instant(now)?, stored_instant(expires_at)?);
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        sqlx::query(
            "DELETE FROM queue_tokens
             WHERE event_id = ? AND admitted_until_ns IS NOT NULL AND admitted_until_ns <= ?",
        )
        .bind(event.as_uuid())
        .bind(now_ns)
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        let admitted: Vec<(i64, Uuid, Uuid)> = sqlx::query_as(
            "UPDATE queue_tokens SET admitted_until_ns = ?
             WHERE token IN (SELECT token FROM queue_tokens
                             WHERE event_id = ? AND admitted_until_ns IS NULL
                             ORDER BY sequence LIMIT ?)
             RETURNING sequence, token, user_id",
        )
        .bind(until_ns)
        .bind(event.as_uuid())
        .bind(i64::from(n))
        .fetch_all(&mut *tx)
        .await
        .port(SQ)?;
        tx.commit().await.port(SQ)?;
        Ok(admissions_in_order(admitted, expires_at))
    }

    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError> {
        let row = self.known(token).await?;
        if row.user != user {
            return Err(QueueError::WrongUser);
        }
        admitted(row.status(now).port::<QueueError>(SQ)?)
    }

    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError> {
        let event: Option<Uuid> =
            sqlx::query_scalar("SELECT event_id FROM queue_tokens WHERE token = ?")
                .bind(token.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .port(SQ)?;
        room_of(event)
    }

    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM queue_tokens WHERE token = ?")
            .bind(token.as_uuid())
            .execute(&self.pool)
            .await
            .port(SQ)?;
        Ok(())
    }

    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM queue_tokens WHERE event_id = ? AND admitted_until_ns IS NULL",
        )
        .bind(event.as_uuid())
        .fetch_one(&self.pool)
        .await
        .port(SQ)?;
        from_db(n, "queue length").port(SQ)
    }
}
