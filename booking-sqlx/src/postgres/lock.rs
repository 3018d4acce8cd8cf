//! [`PostgresLockManager`]: leased locks with fencing tokens on PostgreSQL.
//!
//! Two mechanisms, each doing what it is good at:
//!
//! - **Advisory locks serialize** every change of a key's lease. Acquire, extend and release
//!   each run one short transaction that first takes `pg_advisory_xact_lock` on a 64-bit hash
//!   of each of its keys (`hashtextextended(key, oid of lock_leases)`: the table's oid keeps
//!   the locks of stores in different schemas apart), in ascending hash order, so two
//!   transactions never wait for each other in a cycle whatever keys they share or hashes
//!   collide. The transaction ends (and frees them) in milliseconds: they are never held for
//!   the lease itself. `lock_timeout` bounds the wait for them; running out is
//!   [`LockError::Busy`] (for acquire) like a held key.
//! - **Lease rows hold** the lock. `lock_leases` keeps per key the last grant's fencing
//!   token and `held_until_ns`, an instant of the manager's [`Clock`] (not the database's),
//!   so leases run out when the caller's clock says so. A key is free when `held_until_ns` is
//!   NULL (released) or past. Acquisition is one upsert of every key, conditional on each
//!   being free, checked for its row count: all keys or none (the transaction rolls back).
//!   The row survives its release, keeping the key's last token: a release or extension from
//!   an older holder names a token the row no longer has, and is `Lost`.
//!
//! Fencing tokens come from one sequence (`lock_fencing_tokens`, `CACHE 1`), drawn while the
//! keys' advisory locks are held: every grant of a key gets a larger token than the grant
//! before it, a multi-key lease gets one token for all its keys, and tokens grow across keys
//! too, as the reference manager's single counter does.
//!
//! What the database does not give: a lease is only as exclusive as the clocks of the
//! processes sharing the table agree (each compares `held_until_ns` with its own clock), and
//! a holder that stalls past its lease is not stopped; a store that checks fencing tokens
//! refuses its late writes. A bounded wait polls the rows with backoff on the manager's
//! [`Sleeper`]; a release does not wake waiters.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::policy::Sleeper;
use booking_core::ports::backend::lock::{LeaseHandle, acquire_polling, lease, normalize_keys};
use booking_core::ports::lock::{
    FencingToken, Lease, LockError, LockGuard, LockManager, LockOptions,
};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::PG;
use crate::error::{DbError, Failure, PortDb};
use crate::lock_leases::{stored_instant, stored_lease_end};

/// How long one acquisition, extension or release waits for another's short transaction on
/// the same keys before it gives up.
const SECTION_TIMEOUT: &str = "SET LOCAL lock_timeout = '1s'";

/// What a [`LockGuard`] of this manager calls back: the pool and the clock.
#[derive(Clone)]
struct Leases {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Leases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leases").finish_non_exhaustive()
    }
}

/// Leased locks on PostgreSQL (table `lock_leases`): advisory locks serialize changes of lease rows that expire
/// on the manager's clock (see the [`postgres`](crate::postgres) module docs and ADR 0003).
/// Cloning is cheap: clones share the pool.
#[derive(Clone)]
pub struct PostgresLockManager {
    leases: Arc<Leases>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for PostgresLockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLockManager")
            .finish_non_exhaustive()
    }
}

/// A driver failure: `busy` when the database refused for now (`lock_timeout`, deadlock),
/// the manager's backend error otherwise.
fn failure(err: sqlx::Error, busy: impl FnOnce() -> LockError) -> LockError {
    match DbError::Sql(err).classify(PG) {
        Failure::Busy(_) => busy(),
        Failure::Unique { table, .. } => LockError::Backend {
            backend: PG.name(),
            source: format!("unexpected unique violation on {table}").into(),
        },
        Failure::Other(source) => LockError::Backend {
            backend: PG.name(),
            source,
        },
    }
}

/// Opens the transaction that changes `keys`' leases: their advisory locks, in hash order.
async fn section(
    pool: &PgPool,
    keys: &[String],
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(SECTION_TIMEOUT).execute(&mut *tx).await?;
    // pg_advisory_xact_lock is volatile, so it runs after the sort: in ascending hash order.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(h) FROM (
             SELECT DISTINCT hashtextextended(k, 'lock_leases'::regclass::oid::bigint) AS h
             FROM unnest($1::text[]) AS k) AS hashes
         ORDER BY h",
    )
    .bind(keys)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// The first of `wanted` (sorted) that `got` lacks.
fn first_missing(wanted: &[String], got: &[String]) -> Option<String> {
    let got: HashSet<&str> = got.iter().map(String::as_str).collect();
    wanted.iter().find(|k| !got.contains(k.as_str())).cloned()
}

/// Sets `held_until_ns` (NULL: released) on every key of `lease` whose row still carries the
/// lease's token and has not run out at `now`; returns the keys changed.
async fn touch(
    conn: &mut PgConnection,
    lease: &Lease,
    now: i64,
    held_until: Option<i64>,
) -> Result<Vec<String>, sqlx::Error> {
    let (keys, tokens): (Vec<&str>, Vec<i64>) = lease
        .grants()
        .iter()
        .map(|(k, t)| (k.as_str(), i64::try_from(t.get()).unwrap_or(-1)))
        .unzip();
    sqlx::query_scalar(
        "UPDATE lock_leases AS l SET held_until_ns = $4
         FROM unnest($1::text[], $2::bigint[]) AS g(key, token)
         WHERE l.key = g.key AND l.token = g.token AND l.held_until_ns > $3
         RETURNING l.key",
    )
    .bind(keys)
    .bind(tokens)
    .bind(now)
    .bind(held_until)
    .fetch_all(conn)
    .await
}

impl Leases {
    /// One attempt at taking every key of `keys` (sorted, deduped) at `now`.
    async fn try_acquire(
        &self,
        keys: &[String],
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        let (expires_at, until_ns) = stored_lease_end(now, ttl)?;
        let now_ns = stored_instant(now)?;
        let first = || LockError::Busy {
            key: keys.first().cloned().unwrap_or_default(),
        };
        let mut tx = section(&self.pool, keys)
            .await
            .map_err(|e| failure(e, first))?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "WITH grant_token AS (SELECT nextval('lock_fencing_tokens') AS token)
             INSERT INTO lock_leases AS l (key, token, held_until_ns)
             SELECT k, grant_token.token, $2 FROM unnest($1::text[]) AS k, grant_token
             ON CONFLICT (key) DO UPDATE
                 SET token = EXCLUDED.token, held_until_ns = EXCLUDED.held_until_ns
                 WHERE l.held_until_ns IS NULL OR l.held_until_ns <= $3
             RETURNING key, token",
        )
        .bind(keys)
        .bind(until_ns)
        .bind(now_ns)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| failure(e, first))?;
        let granted: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
        if let Some(key) = first_missing(keys, &granted) {
            // Dropping the transaction rolls back the keys that were free: all or none.
            return Err(LockError::Busy { key });
        }
        tx.commit().await.port::<LockError>(PG)?;
        let token = rows.first().map_or(0, |(_, t)| *t);
        let token = FencingToken::new(u64::try_from(token).unwrap_or(0));
        let grants = keys.iter().map(|k| (k.clone(), token)).collect();
        Ok((lease(grants), expires_at))
    }

    /// Ends (`held_until` `None`) or moves every key of `lease`, all or none unless
    /// `partial`; `Lost` names the first key the lease no longer held.
    async fn change(
        &self,
        lease: &Lease,
        held_until: Option<i64>,
        partial: bool,
    ) -> Result<(), LockError> {
        let now = stored_instant(self.clock.now())?;
        let keys: Vec<String> = lease.grants().iter().map(|(k, _)| k.clone()).collect();
        let backend = |e| {
            failure(e, || LockError::Backend {
                backend: PG.name(),
                source: "the lease's keys stayed locked by other lock operations".into(),
            })
        };
        let mut tx = section(&self.pool, &keys).await.map_err(backend)?;
        let changed = touch(&mut tx, lease, now, held_until)
            .await
            .map_err(backend)?;
        let lost = first_missing(&keys, &changed);
        if lost.is_none() || partial {
            tx.commit().await.port::<LockError>(PG)?;
        }
        lost.map_or(Ok(()), |key| Err(LockError::Lost { key }))
    }
}

#[async_trait]
impl LeaseHandle for Leases {
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError> {
        let (until, until_ns) = stored_lease_end(self.clock.now(), ttl)?;
        self.change(lease, Some(until_ns), false).await?;
        Ok(until)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LockError> {
        // Frees the keys still held even if another ran out, as the port asks.
        self.change(lease, None, true).await
    }

    fn release_detached(&self, lease: &Lease) {
        // Best effort: without a runtime the lease simply ends at its expiry.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (leases, lease) = (self.clone(), lease.clone());
            runtime.spawn(async move {
                let _ = leases.release(&lease).await;
            });
        }
    }
}

impl PostgresLockManager {
    /// Locks in `pool`'s schema (which has the tables of [`MIGRATOR`](super::MIGRATOR)),
    /// whose leases run on `clock` and whose bounded waits pause on `sleeper`.
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        PostgresLockManager {
            leases: Arc::new(Leases { pool, clock }),
            sleeper,
        }
    }
}

#[async_trait]
impl LockManager for PostgresLockManager {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        let keys = normalize_keys(keys, options)?;
        let leases = &self.leases;
        let handle: Arc<dyn LeaseHandle> = Arc::<Leases>::clone(leases);
        acquire_polling(options, &*leases.clock, &*self.sleeper, handle, |now| {
            leases.try_acquire(&keys, now, options.ttl)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_missing_key_is_in_the_given_order() {
        let wanted = ["a", "b", "c"].map(String::from);
        assert_eq!(
            first_missing(&wanted, &["c".into(), "a".into()]),
            Some("b".into())
        );
        assert_eq!(first_missing(&wanted, &wanted), None);
    }
}
