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
use booking_core::clock::Clock;
use booking_core::ports::backend::idempotency::{ClaimTerms, claim, retained_until};
use booking_core::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqlitePool};

use super::{SQ, begin_write};
use crate::codec::from_db;
use crate::error::PortDb;
use crate::idempotency_rows::{
    RecordRow, answer, owned, scope_text, stored_instant, stored_retention, token_column,
};

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
            .bind(scope_text(claim.scope(), SQ)?)
            .bind(claim.key().as_str())
            .bind(token_column(claim.token())?)
            .bind(now_ns)
            .execute(&self.pool)
            .await
            .port(SQ)?
            .rows_affected();
        owned(changed)
    }

    /// The clock's now as a stored instant.
    fn now(&self) -> Result<i64, IdempotencyError> {
        stored_instant(self.clock.now())
    }
}

/// The condition under which a claim still owns its record: its token, still in flight,
/// still retained. A claim past its lease that nobody took over still owns its record.
const OWNED: &str =
    "scope = ? AND key = ? AND token = ? AND outcome_status IS NULL AND retain_until_ns > ?";

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        let now = self.clock.now();
        let terms = ClaimTerms::new(now, lease, self.retention)?;
        let scope_key = scope_text(scope, SQ)?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        let existing: Option<RecordRow> = sqlx::query_as(
            "SELECT fingerprint, lease_ns AS lease_expires_ns, outcome_status AS status,
                    outcome_body AS body, retain_until_ns
             FROM idempotency_keys WHERE scope = ? AND key = ?",
        )
        .bind(&scope_key)
        .bind(key.as_str())
        .fetch_optional(&mut *tx)
        .await
        .port(SQ)?;
        if let Some(outcome) = answer(existing.as_ref(), fingerprint, now).port(SQ)? {
            return Ok(outcome);
        }
        let (token,): (i64,) = sqlx::query_as(
            "UPDATE counters SET value = value + 1 WHERE name = 'idempotency_token'
             RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .port(SQ)?;
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
        .bind(stored_instant(terms.lease_expires_at)?)
        .bind(stored_retention(terms.retain_until))
        .execute(&mut *tx)
        .await
        .port(SQ)?;
        tx.commit().await.port(SQ)?;
        Ok(BeginOutcome::Claimed(claim(
            scope.clone(),
            key.clone(),
            *fingerprint,
            from_db(token, "idempotency token").port(SQ)?,
            terms.lease_expires_at,
        )))
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let now = self.clock.now();
        let now_ns = stored_instant(now)?;
        let sql = format!(
            "UPDATE idempotency_keys SET outcome_status = ?, outcome_body = ?, retain_until_ns = ?
             WHERE {OWNED}"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(outcome.status))
            .bind(outcome.body)
            .bind(stored_retention(retained_until(now, self.retention)));
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
