//! [`SqliteIdempotencyStore`]: idempotency records, one row per (scope, key).
//!
//! `begin` is one write transaction: it reads the key's record, answers from it (mismatch,
//! replay, in flight) or claims the key with a fresh token from the `idempotency_token`
//! counter, so of concurrent `begin`s exactly one claims. `complete` and `abandon` are one
//! conditional statement each, matching the claim's token on a record still in flight and
//! retained. Time is the clock's the store was built with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqlitePool};

use super::{SQ, begin_write};
use crate::codec::{from_db, nanos, nanos_after, span_nanos};
use crate::error::{DbError, PortDb};

/// Idempotency records in the SQLite database of `pool`, kept for a retention period on a
/// clock (see the module docs). Clones share the pool.
#[derive(Clone)]
pub struct SqliteIdempotencyStore {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl fmt::Debug for SqliteIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteIdempotencyStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl SqliteIdempotencyStore {
    /// Records kept for `retention` after completion, on `clock`'s time, over `pool`
    /// (migrated by [`SqliteStore::migrate`](super::SqliteStore::migrate)).
    pub fn new(pool: SqlitePool, clock: Arc<dyn Clock>, retention: Duration) -> Self {
        SqliteIdempotencyStore {
            pool,
            clock,
            retention,
        }
    }

    /// Runs `query`, a statement ending in `WHERE {OWNED}`, on `claim`'s record at `now_ns`:
    /// binds the claim's scope, key and token and the instant; `Lost` if no row changed.
    async fn on_owned(
        &self,
        claim: &Claim,
        query: Query<'_, Sqlite, SqliteArguments>,
        now_ns: i64,
    ) -> Result<(), IdempotencyError> {
        let changed = query
            .bind(scope_text(claim.scope())?)
            .bind(claim.key().as_str())
            .bind(i64::try_from(claim.token()).unwrap_or(i64::MAX))
            .bind(now_ns)
            .execute(&self.pool)
            .await
            .port(SQ)?
            .rows_affected();
        if changed == 1 {
            Ok(())
        } else {
            Err(IdempotencyError::Lost)
        }
    }

    /// The clock's now as a stored instant.
    fn now(&self) -> Result<i64, IdempotencyError> {
        stored(self.clock.now())
    }
}

/// The condition under which a claim still owns its record: its token, still in flight,
/// still retained. A claim past its lease that nobody took over still owns its record.
const OWNED: &str =
    "scope = ? AND key = ? AND token = ? AND outcome_status IS NULL AND retain_until_ns > ?";

/// `at` as a stored instant, or `Invalid` outside the years the store keeps.
fn stored(at: Timestamp) -> Result<i64, IdempotencyError> {
    nanos(at).map_err(|_| IdempotencyError::Invalid {
        reason: "the instant is outside what the store keeps (years 1678 to 2262)",
    })
}

/// A scope as its stored text (its JSON form, one text per scope).
fn scope_text(scope: &Scope) -> Result<String, IdempotencyError> {
    serde_json::to_string(scope).map_err(|e| IdempotencyError::Backend {
        backend: SQ.name(),
        source: Box::new(e),
    })
}

/// An `idempotency_keys` row as `begin` reads it:
/// `(fingerprint, lease_ns, outcome_status, outcome_body, retain_until_ns)`.
type RecordRow = (Vec<u8>, i64, Option<i64>, Option<Vec<u8>>, i64);

/// What a retained record answers to a `begin` with `fingerprint` at `now_ns`; `None`: the
/// key may be claimed (its claim's lease ran out).
fn answer(
    (stored_fp, lease_ns, status, body, _): RecordRow,
    fingerprint: &Fingerprint,
    now_ns: i64,
) -> Result<Option<BeginOutcome>, DbError> {
    if stored_fp.as_slice() != fingerprint.as_bytes() {
        return Ok(Some(BeginOutcome::Mismatch));
    }
    if let Some(status) = status {
        let outcome = StoredOutcome {
            status: from_db(status, "idempotency status")?,
            body: body.unwrap_or_default(),
        };
        return Ok(Some(BeginOutcome::Replay(outcome)));
    }
    if lease_ns > now_ns {
        let retry_after = span_nanos(now_ns, lease_ns);
        return Ok(Some(BeginOutcome::InFlight { retry_after }));
    }
    Ok(None) // its worker is presumed dead: take it over
}

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        if lease.is_zero() {
            return Err(IdempotencyError::Invalid {
                reason: "the claim lease is zero",
            });
        }
        let now = self.clock.now();
        let lease_expires_at = now
            .checked_add(lease)
            .map_err(|_| IdempotencyError::Invalid {
                reason: "the claim lease reaches past the largest timestamp",
            })?;
        let (now_ns, lease_ns) = (stored(now)?, stored(lease_expires_at)?);
        let scope_key = scope_text(scope)?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        let existing: Option<RecordRow> = sqlx::query_as(
            "SELECT fingerprint, lease_ns, outcome_status, outcome_body, retain_until_ns
             FROM idempotency_keys WHERE scope = ? AND key = ? AND retain_until_ns > ?",
        )
        .bind(&scope_key)
        .bind(key.as_str())
        .bind(now_ns)
        .fetch_optional(&mut *tx)
        .await
        .port(SQ)?;
        if let Some(row) = existing
            && let Some(outcome) = answer(row, fingerprint, now_ns).port(SQ)?
        {
            return Ok(outcome);
        }
        let (token,): (i64,) = sqlx::query_as(
            "UPDATE counters SET value = value + 1 WHERE name = 'idempotency_token'
             RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .port(SQ)?;
        let retain_until = nanos_after(now_ns, self.retention).max(lease_ns);
        sqlx::query(
            "INSERT INTO idempotency_keys
                 (scope, key, fingerprint, token, lease_ns, outcome_status, outcome_body,
                  retain_until_ns)
             VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)
             ON CONFLICT (scope, key) DO UPDATE
             SET fingerprint = excluded.fingerprint, token = excluded.token,
                 lease_ns = excluded.lease_ns, outcome_status = NULL, outcome_body = NULL,
                 retain_until_ns = excluded.retain_until_ns",
        )
        .bind(&scope_key)
        .bind(key.as_str())
        .bind(fingerprint.as_bytes().as_slice())
        .bind(token)
        .bind(lease_ns)
        .bind(retain_until)
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        tx.commit().await.port(SQ)?;
        Ok(BeginOutcome::Claimed(Claim::new(
            scope.clone(),
            key.clone(),
            *fingerprint,
            from_db(token, "idempotency token").port(SQ)?,
            lease_expires_at,
        )))
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let now_ns = self.now()?;
        let sql = format!(
            "UPDATE idempotency_keys SET outcome_status = ?, outcome_body = ?, retain_until_ns = ?
             WHERE {OWNED}"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(outcome.status))
            .bind(outcome.body)
            .bind(nanos_after(now_ns, self.retention));
        self.on_owned(claim, query, now_ns).await
    }

    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError> {
        let sql = format!("DELETE FROM idempotency_keys WHERE {OWNED}");
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        self.on_owned(claim, query, self.now()?).await
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError> {
        let now_ns = self.now()?;
        let removed = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN (
                 SELECT scope, key FROM idempotency_keys WHERE retain_until_ns <= ? LIMIT ?)",
        )
        .bind(now_ns)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .port(SQ)?
        .rows_affected();
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}
