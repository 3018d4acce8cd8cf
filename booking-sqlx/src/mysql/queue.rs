//! [`MySqlAdmissionQueue`]: the waiting room on MySQL.
//!
//! A room is a row of `queue_rooms` holding the next arrival sequence; a token is a row of
//! `queue_tokens`, waiting while `admitted_until_ns` is NULL. `join` and `admit_next` lock
//! the room's row first (`SELECT … FOR UPDATE`), so the joins and admissions of one room run
//! one after the other: sequences are dense and unique, a user's place is looked up and
//! given in one step, and each waiting token is admitted once, in arrival order. A room's
//! row is created by its first join in a statement of its own (`INSERT IGNORE`, committed at
//! once), so concurrent first joins never hold a new row's duplicate-key locks while they
//! wait for each other. Positions are counts of the waiting tokens that arrived earlier, on
//! the index `(event_id, admitted_until_ns, sequence)`.

use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::ports::backend::queue::{admission_expiry, admitted};
use booking_core::ports::queue::{Admission, AdmissionQueue, QueueEntry, QueueError, QueueStatus};
use sqlx::{MySqlConnection, MySqlPool};
use uuid::Uuid;

use super::rows::marks;
use super::{MY, begin};
use crate::error::PortDb;
use crate::queue_rows::{admissions_in_order, admitted_status, room_of, stored_instant};

/// Waiting rooms in a MySQL database migrated by [`MIGRATOR`](super::MIGRATOR). Cloning is
/// cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct MySqlAdmissionQueue {
    pool: MySqlPool,
}

/// A `queue_tokens` row.
#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    token: Uuid,
    event_id: Uuid,
    user_id: Uuid,
    sequence: i64,
    admitted_until_ns: Option<i64>,
}

/// Selects token rows; the caller appends the `WHERE`.
const TOKEN: &str =
    "SELECT token, event_id, user_id, sequence, admitted_until_ns FROM queue_tokens";

/// The token `token`, if it is in a room.
async fn token_row(
    conn: &mut MySqlConnection,
    token: AdmissionToken,
) -> Result<Option<TokenRow>, QueueError> {
    let sql = format!("{TOKEN} WHERE token = ?");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token.as_uuid())
        .fetch_optional(conn)
        .await
        .port(MY)
}

/// Where `row` stands at `now`.
async fn status_of(
    conn: &mut MySqlConnection,
    row: &TokenRow,
    now: Timestamp,
) -> Result<QueueStatus, QueueError> {
    match row.admitted_until_ns {
        None => {
            let ahead: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM queue_tokens
                 WHERE event_id = ? AND admitted_until_ns IS NULL AND sequence <= ?",
            )
            .bind(row.event_id)
            .bind(row.sequence)
            .fetch_one(conn)
            .await
            .port(MY)?;
            Ok(QueueStatus::Waiting {
                position: u64::try_from(ahead).unwrap_or(0),
            })
        }
        Some(until) => admitted_status(until, now).port(MY),
    }
}

impl MySqlAdmissionQueue {
    /// Waiting rooms over `pool`.
    pub fn new(pool: MySqlPool) -> Self {
        MySqlAdmissionQueue { pool }
    }
}

#[async_trait]
impl AdmissionQueue for MySqlAdmissionQueue {
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError> {
        sqlx::query("INSERT IGNORE INTO queue_rooms (event_id, next_sequence) VALUES (?, 0)")
            .bind(event.as_uuid())
            .execute(&self.pool)
            .await
            .port(MY)?;
        let mut tx = begin(&self.pool).await.port(MY)?;
        let next: i64 = sqlx::query_scalar(
            "SELECT next_sequence FROM queue_rooms WHERE event_id = ? FOR UPDATE",
        )
        .bind(event.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .port(MY)?;
        let sql = format!("{TOKEN} WHERE event_id = ? AND user_id = ?");
        let existing: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .port(MY)?;
        if let Some(row) = existing {
            let status = status_of(&mut tx, &row, now).await?;
            if !matches!(status, QueueStatus::Expired { .. }) {
                tx.commit().await.port(MY)?;
                return Ok(QueueEntry {
                    token: AdmissionToken::from_uuid(row.token),
                    sequence: u64::try_from(row.sequence).unwrap_or(0),
                    status,
                });
            }
            // The old admission lapsed: the user goes to the back of the line.
            sqlx::query("DELETE FROM queue_tokens WHERE token = ?")
                .bind(row.token)
                .execute(&mut *tx)
                .await
                .port(MY)?;
        }
        let token = AdmissionToken::new();
        sqlx::query(
            "INSERT INTO queue_tokens (token, event_id, user_id, sequence) VALUES (?, ?, ?, ?)",
        )
        .bind(token.as_uuid())
        .bind(event.as_uuid())
        .bind(user.as_uuid())
        .bind(next)
        .execute(&mut *tx)
        .await
        .port(MY)?;
        sqlx::query("UPDATE queue_rooms SET next_sequence = next_sequence + 1 WHERE event_id = ?")
            .bind(event.as_uuid())
            .execute(&mut *tx)
            .await
            .port(MY)?;
        let row = TokenRow {
            token: *token.as_uuid(),
            event_id: *event.as_uuid(),
            user_id: *user.as_uuid(),
            sequence: next,
            admitted_until_ns: None,
        };
        let status = status_of(&mut tx, &row, now).await?;
        tx.commit().await.port(MY)?;
        Ok(QueueEntry {
            token,
            sequence: u64::try_from(next).unwrap_or(0),
            status,
        })
    }

    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError> {
        let mut conn = self.pool.acquire().await.port(MY)?;
        let row = token_row(&mut conn, token)
            .await?
            .ok_or(QueueError::UnknownToken)?;
        status_of(&mut conn, &row, now).await
    }

    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        let expires_at = admission_expiry(now, ttl)?;
        let mut tx = begin(&self.pool).await.port(MY)?;
        let room: Option<i64> = sqlx::query_scalar(
            "SELECT next_sequence FROM queue_rooms WHERE event_id = ? FOR UPDATE",
        )
        .bind(event.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .port(MY)?;
        if room.is_none() {
            return Ok(Vec::new());
        }
        // Forget admissions of this room that lapsed.
        sqlx::query(
            "DELETE FROM queue_tokens
             WHERE event_id = ? AND admitted_until_ns IS NOT NULL AND admitted_until_ns <= ?",
        )
        .bind(event.as_uuid())
        .bind(stored_instant(now)?)
        .execute(&mut *tx)
        .await
        .port(MY)?;
        // Locked, so a concurrent leave waits and is never admitted after it left.
        let next: Vec<(i64, Uuid, Uuid)> = sqlx::query_as(
            "SELECT sequence, token, user_id FROM queue_tokens
             WHERE event_id = ? AND admitted_until_ns IS NULL
             ORDER BY sequence LIMIT ? FOR UPDATE",
        )
        .bind(event.as_uuid())
        .bind(i64::from(n))
        .fetch_all(&mut *tx)
        .await
        .port(MY)?;
        if !next.is_empty() {
            let sql = format!(
                "UPDATE queue_tokens SET admitted_until_ns = ? WHERE token IN ({})",
                marks(next.len(), "?")
            );
            let mut admit = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(stored_instant(expires_at)?);
            for (_, token, _) in &next {
                admit = admit.bind(*token);
            }
            admit.execute(&mut *tx).await.port(MY)?;
        }
        tx.commit().await.port(MY)?;
        Ok(admissions_in_order(next, expires_at))
    }

    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError> {
        let mut conn = self.pool.acquire().await.port(MY)?;
        let row = token_row(&mut conn, token)
            .await?
            .ok_or(QueueError::UnknownToken)?;
        if row.user_id != *user.as_uuid() {
            return Err(QueueError::WrongUser);
        }
        admitted(status_of(&mut conn, &row, now).await?)
    }

    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError> {
        let event: Option<Uuid> =
            sqlx::query_scalar("SELECT event_id FROM queue_tokens WHERE token = ?")
                .bind(token.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .port(MY)?;
        room_of(event)
    }

    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM queue_tokens WHERE token = ?")
            .bind(token.as_uuid())
            .execute(&self.pool)
            .await
            .port(MY)?;
        Ok(())
    }

    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_tokens WHERE event_id = ? AND admitted_until_ns IS NULL",
        )
        .bind(event.as_uuid())
        .fetch_one(&self.pool)
        .await
        .port(MY)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
