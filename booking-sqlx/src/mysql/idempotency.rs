//! [`MySqlIdempotencyStore`]: idempotency records on MySQL.
//!
//! `begin` is one transaction: a locking read of the record's row decides (mismatch, replay,
//! in flight, or claim); a claim draws a fresh token from the `booking_counters` row
//! `idempotency` and writes the record. A record that does not exist yet has no row to lock,
//! so concurrent first `begin`s race on the insert of the primary key `(scope, key)`: one
//! inserts, the others fail on the duplicate once it commits and read its claim again,
//! which is then in flight. `complete` and `abandon` are one conditional statement each on
//! `token = ? AND response_status IS NULL AND retain_until_ns > now`: a claim taken over
//! (new token), finished, or forgotten matches no row and is `Lost`.
//!
//! Time is the store's clock, as for the in-memory store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::ports::backend::idempotency::{ClaimTerms, claim, retained_until};
use booking_core::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};
use sqlx::{MySqlConnection, MySqlPool};

use super::{MY, begin};
use crate::error::{DbError, Failure, PortDb};
use crate::idempotency_rows::{
    RecordRow, answer, owned, scope_text, stored_instant, stored_retention, token_column,
};

/// How often `begin` re-runs after losing the insert of a new record to a concurrent one.
const ATTEMPTS: usize = 4;

/// Idempotency records in a MySQL database migrated by [`MIGRATOR`](super::MIGRATOR),
/// kept for a retention period on a clock. Cloning is cheap: clones share the pool.
#[derive(Clone)]
pub struct MySqlIdempotencyStore {
    pool: MySqlPool,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl fmt::Debug for MySqlIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlIdempotencyStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// What `begin` makes of the stored record.
enum Found {
    /// Answer without claiming.
    Answer(BeginOutcome),
    /// Claim: insert a new record (`false`) or take the row over (`true`).
    Claim { row_exists: bool },
}

impl MySqlIdempotencyStore {
    /// Records kept for `retention` after completion, on `clock`'s time, in `pool`'s database.
    pub fn new(pool: MySqlPool, clock: Arc<dyn Clock>, retention: Duration) -> Self {
        MySqlIdempotencyStore {
            pool,
            clock,
            retention,
        }
    }

    /// Reads the record under a lock and decides what `begin` answers.
    async fn decide(
        conn: &mut MySqlConnection,
        (scope, key): (&str, &IdempotencyKey),
        fingerprint: &Fingerprint,
        now: Timestamp,
    ) -> Result<Found, IdempotencyError> {
        let row: Option<RecordRow> = sqlx::query_as(
            "SELECT fingerprint, lease_expires_ns, response_status AS status,
                    response_body AS body, retain_until_ns
             FROM idempotency_records WHERE scope = ? AND idem_key = ? FOR UPDATE",
        )
        .bind(scope)
        .bind(key.as_str())
        .fetch_optional(conn)
        .await
        .port(MY)?;
        Ok(match answer(row.as_ref(), fingerprint, now).port(MY)? {
            Some(outcome) => Found::Answer(outcome),
            None => Found::Claim {
                row_exists: row.is_some(),
            },
        })
    }

    /// One attempt at `begin`; `None` if a concurrent `begin` inserted the record first.
    async fn try_begin(
        &self,
        (scope, key): (&Scope, &IdempotencyKey),
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<Option<BeginOutcome>, IdempotencyError> {
        let now = self.clock.now();
        let terms = ClaimTerms::new(now, lease, self.retention)?;
        let scope_col = scope_text(scope, MY)?;
        let mut tx = begin(&self.pool).await.port(MY)?;
        let row_exists = match Self::decide(&mut tx, (&scope_col, key), fingerprint, now).await? {
            Found::Answer(outcome) => return Ok(Some(outcome)),
            Found::Claim { row_exists } => row_exists,
        };
        let token = sqlx::query(
            "UPDATE booking_counters SET last = LAST_INSERT_ID(last + 1) WHERE name = 'idempotency'",
        )
        .execute(&mut *tx)
        .await
        .port(MY)?
        .last_insert_id();
        let sql = if row_exists {
            "UPDATE idempotency_records
             SET fingerprint = ?, token = ?, lease_expires_ns = ?, response_status = NULL,
                 response_body = NULL, retain_until_ns = ?
             WHERE scope = ? AND idem_key = ?"
        } else {
            "INSERT INTO idempotency_records (fingerprint, token, lease_expires_ns,
                                              retain_until_ns, scope, idem_key)
             VALUES (?, ?, ?, ?, ?, ?)"
        };
        let written = sqlx::query(sql)
            .bind(fingerprint.as_bytes().as_slice())
            .bind(i64::try_from(token).map_err(|_| IdempotencyError::Invalid {
                reason: "claim tokens are exhausted",
            })?)
            .bind(stored_instant(terms.lease_expires_at)?)
            .bind(stored_retention(terms.retain_until))
            .bind(&scope_col)
            .bind(key.as_str())
            .execute(&mut *tx)
            .await;
        if let Err(e) = written {
            return match DbError::Sql(e).classify(MY) {
                Failure::Unique { .. } | Failure::Busy(_) => Ok(None),
                Failure::Other(source) => Err(IdempotencyError::Backend {
                    backend: MY.name(),
                    source,
                }),
            };
        }
        tx.commit().await.port(MY)?;
        Ok(Some(BeginOutcome::Claimed(claim(
            scope.clone(),
            key.clone(),
            *fingerprint,
            token,
            terms.lease_expires_at,
        ))))
    }

    /// Runs `sql` (`… WHERE scope = ? AND idem_key = ? AND <the claim still owns it>`, after
    /// binding `first`) for `claim`; `Lost` unless it matched the record.
    async fn on_owned(
        &self,
        claim: &Claim,
        sql: &'static str,
        first: Option<(u16, &[u8], i64)>,
    ) -> Result<(), IdempotencyError> {
        let now = stored_instant(self.clock.now())?;
        let mut query = sqlx::query(sql);
        if let Some((status, body, retain_until)) = first {
            query = query.bind(status).bind(body).bind(retain_until);
        }
        owned(
            query
                .bind(scope_text(claim.scope(), MY)?)
                .bind(claim.key().as_str())
                .bind(token_column(claim.token())?)
                .bind(now)
                .execute(&self.pool)
                .await
                .port(MY)?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl IdempotencyStore for MySqlIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        for _ in 0..ATTEMPTS {
            if let Some(outcome) = self.try_begin((scope, key), fingerprint, lease).await? {
                return Ok(outcome);
            }
        }
        Err(IdempotencyError::Backend {
            backend: MY.name(),
            source: "the record kept changing under concurrent begins".into(),
        })
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let retain_until = stored_retention(retained_until(self.clock.now(), self.retention));
        let sql = "UPDATE idempotency_records
                   SET response_status = ?, response_body = ?, retain_until_ns = ?
                   WHERE scope = ? AND idem_key = ? AND token = ?
                     AND response_status IS NULL AND retain_until_ns > ?";
        let first = Some((outcome.status, outcome.body.as_slice(), retain_until));
        self.on_owned(claim, sql, first).await
    }

    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError> {
        let sql = "DELETE FROM idempotency_records
                   WHERE scope = ? AND idem_key = ? AND token = ?
                     AND response_status IS NULL AND retain_until_ns > ?";
        self.on_owned(claim, sql, None).await
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError> {
        let now = stored_instant(self.clock.now())?;
        let purged = sqlx::query(
            "DELETE FROM idempotency_records WHERE retain_until_ns <= ?
             ORDER BY retain_until_ns LIMIT ?",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .port(MY)?
        .rows_affected();
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }
}
