//! [`PostgresIdempotencyStore`]: idempotency records with leased claims.
//!
//! `begin` is one statement: `INSERT … ON CONFLICT (scope, key) DO UPDATE … WHERE` the record
//! is past retention, or is a claim whose lease ran out made by the same request. PostgreSQL
//! takes the conflicting row's lock and re-checks that condition on its newest version, so
//! among any number of concurrent `begin`s at most one gets the row: at most one live claim.
//! When the statement claims nothing, the record is read to say why (mismatch, replay, in
//! flight); a record that changed in between so that a claim would now succeed (abandoned,
//! forgotten) sends `begin` round again.
//!
//! `complete` and `abandon` are one conditional statement each on the claim's token: a claim
//! that was taken over (another token) or forgotten (past retention) changes nothing and is
//! `Lost`. Claim tokens come from one sequence, so no two claims share one.
//!
//! Time is the store's [`Clock`], never the database's: leases and retention move with it.

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
use sqlx::PgPool;

use super::PG;
use crate::error::PortDb;
use crate::idempotency_rows::{
    RecordRow, answer, owned, stored_instant, stored_retention, token_column,
};

/// How often `begin` goes round when records keep changing under it before it gives up.
const BEGIN_ROUNDS: usize = 8;

/// [`IdempotencyStore`] on PostgreSQL (table `idempotency_keys`). Cloning is cheap: clones
/// share the pool.
#[derive(Clone)]
pub struct PostgresIdempotencyStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl fmt::Debug for PostgresIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresIdempotencyStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// A scope as its `(tenant, per_user, user_id)` columns.
fn scope_columns(scope: &Scope) -> (&str, bool, &str) {
    (
        scope.tenant_id(),
        scope.user_id().is_some(),
        scope.user_id().unwrap_or_default(),
    )
}

/// Binds `$1..=$4` to the record's scope and key.
macro_rules! bind_record {
    ($query:expr, $scope:expr, $key:expr) => {{
        let (tenant, per_user, user) = scope_columns($scope);
        $query
            .bind(tenant)
            .bind(per_user)
            .bind(user)
            .bind($key.as_str())
    }};
}

/// The `WHERE` that finds a record by `$1..=$4` (see [`bind_record!`]).
macro_rules! record_is {
    () => {
        "tenant = $1 AND per_user = $2 AND user_id = $3 AND key = $4"
    };
}

/// What a read of a record found.
enum Found {
    /// The record is gone, forgotten, or claimable: try to claim again.
    Claimable,
    /// The answer to give.
    Answer(BeginOutcome),
}

impl PostgresIdempotencyStore {
    /// Records kept for `retention` after completion, on `clock`'s time, in `pool`'s schema
    /// (which has the tables of [`MIGRATOR`](super::MIGRATOR)).
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>, retention: Duration) -> Self {
        PostgresIdempotencyStore {
            pool,
            clock,
            retention,
        }
    }

    /// Claims the record if it is new, forgotten, or a lapsed claim of the same request.
    async fn try_claim(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        [now, lease_expires, retain_until]: [i64; 3],
    ) -> Result<Option<u64>, IdempotencyError> {
        let token: Option<i64> = bind_record!(
            sqlx::query_scalar(
                "INSERT INTO idempotency_keys AS r (tenant, per_user, user_id, key, fingerprint,
                     token, lease_expires_ns, retain_until_ns)
                 VALUES ($1, $2, $3, $4, $5, nextval('idempotency_claim_tokens'), $6, $7)
                 ON CONFLICT (tenant, per_user, user_id, key) DO UPDATE SET
                     fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token,
                     lease_expires_ns = EXCLUDED.lease_expires_ns,
                     retain_until_ns = EXCLUDED.retain_until_ns, status = NULL, body = NULL
                 WHERE r.retain_until_ns <= $8
                    OR (r.status IS NULL AND r.lease_expires_ns <= $8
                        AND r.fingerprint = EXCLUDED.fingerprint)
                 RETURNING token"
            ),
            scope,
            key
        )
        .bind(fingerprint.as_bytes().as_slice())
        .bind(lease_expires)
        .bind(retain_until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .port(PG)?;
        token
            .map(|t| {
                u64::try_from(t).map_err(|_| IdempotencyError::Backend {
                    backend: PG.name(),
                    source: format!("claim token {t} is negative").into(),
                })
            })
            .transpose()
    }

    /// Reads the record to tell why it could not be claimed at `now`.
    async fn found(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: Timestamp,
    ) -> Result<Found, IdempotencyError> {
        let row: Option<RecordRow> = bind_record!(
            sqlx::query_as(concat!(
                "SELECT fingerprint, status, body, lease_expires_ns, retain_until_ns
                 FROM idempotency_keys WHERE ",
                record_is!()
            )),
            scope,
            key
        )
        .fetch_optional(&self.pool)
        .await
        .port(PG)?;
        Ok(match answer(row.as_ref(), fingerprint, now).port(PG)? {
            Some(outcome) => Found::Answer(outcome),
            None => Found::Claimable,
        })
    }

    /// Runs `sql` (a statement on the claim's record, `$5` its token, `$6` now, then `more`)
    /// and reports `Lost` unless it changed the record.
    async fn on_claim(
        &self,
        claim: &Claim,
        sql: &'static str,
        more: Option<(i32, &[u8], i64)>,
    ) -> Result<(), IdempotencyError> {
        let query = bind_record!(sqlx::query(sql), claim.scope(), claim.key())
            .bind(token_column(claim.token())?)
            .bind(stored_instant(self.clock.now())?);
        let query = match more {
            Some((status, body, retain_until)) => query.bind(status).bind(body).bind(retain_until),
            None => query,
        };
        owned(query.execute(&self.pool).await.port(PG)?.rows_affected())
    }
}

#[async_trait]
impl IdempotencyStore for PostgresIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        for _ in 0..BEGIN_ROUNDS {
            let now = self.clock.now();
            let terms = ClaimTerms::new(now, lease, self.retention)?;
            let times = [
                stored_instant(now)?,
                stored_instant(terms.lease_expires_at)?,
                stored_retention(terms.retain_until),
            ];
            if let Some(token) = self.try_claim(scope, key, fingerprint, times).await? {
                let claim = claim(
                    scope.clone(),
                    key.clone(),
                    *fingerprint,
                    token,
                    terms.lease_expires_at,
                );
                return Ok(BeginOutcome::Claimed(claim));
            }
            if let Found::Answer(outcome) = self.found(scope, key, fingerprint, now).await? {
                return Ok(outcome);
            }
        }
        Err(IdempotencyError::Backend {
            backend: PG.name(),
            source: "the record kept changing while it was being claimed".into(),
        })
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let retain_until = stored_retention(retained_until(self.clock.now(), self.retention));
        let sql = concat!(
            "UPDATE idempotency_keys SET status = $7, body = $8, retain_until_ns = $9 WHERE ",
            record_is!(),
            " AND token = $5 AND status IS NULL AND retain_until_ns > $6"
        );
        let more = (
            i32::from(outcome.status),
            outcome.body.as_slice(),
            retain_until,
        );
        self.on_claim(claim, sql, Some(more)).await
    }

    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError> {
        let sql = concat!(
            "DELETE FROM idempotency_keys WHERE ",
            record_is!(),
            " AND token = $5 AND status IS NULL AND retain_until_ns > $6"
        );
        self.on_claim(claim, sql, None).await
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError> {
        let now = stored_instant(self.clock.now())?;
        let purged = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (tenant, per_user, user_id, key) IN (
                 SELECT tenant, per_user, user_id, key FROM idempotency_keys
                 WHERE retain_until_ns <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
             AND retain_until_ns <= $1",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .port(PG)?
        .rows_affected();
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }
}
