//! [`SqliteLockManager`]: leased locks with fencing tokens, as rows of the database file.
//!
//! An acquisition is one write transaction: if any of its keys has an unexpired lease it
//! fails `Busy` (naming the first such key in sorted order) and takes nothing; otherwise it
//! bumps the `lock_token` counter once and writes every key's lease with that token. Tokens
//! therefore grow strictly across all grants of all keys, in this process and every other
//! one using the file. Extend and release match the lease's token and deadline in their
//! own write transaction. A wait retries with exponential backoff on the manager's
//! [`Sleeper`]; leases are measured on its [`Clock`].
//!
//! The leases coordinate only the processes sharing this database file.

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
use sqlx::{SqliteConnection, SqlitePool};

use super::{SQ, begin_write};
use crate::codec::from_db;
use crate::error::PortDb;
use crate::lock_leases::{stored_instant, stored_lease_end, token_column};

/// What the manager and its guards share.
struct Leases {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for Leases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leases").finish_non_exhaustive()
    }
}

/// The first key of `lease` no longer held by it at `now_ns` (expired, or taken over).
async fn first_lost(
    conn: &mut SqliteConnection,
    lease: &Lease,
    now_ns: i64,
) -> Result<Option<String>, LockError> {
    for (key, token) in lease.grants() {
        let held: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM lock_leases WHERE key = ? AND token = ? AND expires_ns > ?",
        )
        .bind(key)
        .bind(token_column(*token)?)
        .bind(now_ns)
        .fetch_optional(&mut *conn)
        .await
        .port(SQ)?;
        if held.is_none() {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

impl Leases {
    /// Grants every key of `keys` (sorted, deduped) for `ttl`, or none of them.
    async fn try_acquire(
        &self,
        keys: &[String],
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        let now = self.clock.now();
        let now_ns = stored_instant(now)?;
        let (end, end_ns) = stored_lease_end(now, ttl)?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        for key in keys {
            let held: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM lock_leases WHERE key = ? AND expires_ns > ?")
                    .bind(key)
                    .bind(now_ns)
                    .fetch_optional(&mut *tx)
                    .await
                    .port(SQ)?;
            if held.is_some() {
                return Err(LockError::Busy { key: key.clone() });
            }
        }
        let (raw,): (i64,) = sqlx::query_as(
            "UPDATE counters SET value = value + 1 WHERE name = 'lock_token' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .port(SQ)?;
        for key in keys {
            sqlx::query(
                "INSERT INTO lock_leases (key, token, expires_ns) VALUES (?, ?, ?)
                 ON CONFLICT (key) DO UPDATE
                 SET token = excluded.token, expires_ns = excluded.expires_ns",
            )
            .bind(key)
            .bind(raw)
            .bind(end_ns)
            .execute(&mut *tx)
            .await
            .port(SQ)?;
        }
        tx.commit().await.port(SQ)?;
        let token = FencingToken::new(from_db(raw, "lock token").port(SQ)?);
        let grants = keys.iter().map(|k| (k.clone(), token)).collect();
        Ok((lease(grants), end))
    }
}

#[async_trait]
impl LeaseHandle for Leases {
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError> {
        let now = self.clock.now();
        let now_ns = stored_instant(now)?;
        let (end, end_ns) = stored_lease_end(now, ttl)?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        if let Some(key) = first_lost(&mut tx, lease, now_ns).await? {
            return Err(LockError::Lost { key });
        }
        for (key, token) in lease.grants() {
            sqlx::query("UPDATE lock_leases SET expires_ns = ? WHERE key = ? AND token = ?")
                .bind(end_ns)
                .bind(key)
                .bind(token_column(*token)?)
                .execute(&mut *tx)
                .await
                .port(SQ)?;
        }
        tx.commit().await.port(SQ)?;
        Ok(end)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LockError> {
        let now_ns = stored_instant(self.clock.now())?;
        let mut tx = begin_write(&self.pool).await.port(SQ)?;
        let lost = first_lost(&mut tx, lease, now_ns).await?;
        for (key, token) in lease.grants() {
            // Only this grant's rows: a key taken over since stays its new holder's.
            sqlx::query("DELETE FROM lock_leases WHERE key = ? AND token = ?")
                .bind(key)
                .bind(token_column(*token)?)
                .execute(&mut *tx)
                .await
                .port(SQ)?;
        }
        tx.commit().await.port(SQ)?;
        lost.map_or(Ok(()), |key| Err(LockError::Lost { key }))
    }

    fn release_detached(&self, lease: &Lease) {
        // Freeing the keys early needs a runtime to run the delete on; without one the lease
        // simply ends at its expiry, as the port allows.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let leases = Leases {
            pool: self.pool.clone(),
            clock: Arc::clone(&self.clock),
            sleeper: Arc::clone(&self.sleeper),
        };
        let lease = lease.clone();
        runtime.spawn(async move {
            // A late drop is not an error: the keys are free either way.
            let _ = leases.release(&lease).await;
        });
    }
}

/// A [`LockManager`] over the SQLite database of its pool (see the module docs). Clones
/// share the pool, clock and sleeper.
#[derive(Debug, Clone)]
pub struct SqliteLockManager {
    leases: Arc<Leases>,
}

impl SqliteLockManager {
    /// Locks in `pool`'s database (migrated by
    /// [`SqliteStore::migrate`](super::SqliteStore::migrate)) whose leases expire by `clock`
    /// and whose waits pause on `sleeper`.
    pub fn new(pool: SqlitePool, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        SqliteLockManager {
            leases: Arc::new(Leases {
                pool,
                clock,
                sleeper,
            }),
        }
    }
}

#[async_trait]
impl LockManager for SqliteLockManager {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        let keys = normalize_keys(keys, options)?;
        let leases = &self.leases;
        let handle: Arc<dyn LeaseHandle> = Arc::<Leases>::clone(leases);
        acquire_polling(options, &*leases.clock, &*leases.sleeper, handle, |_| {
            leases.try_acquire(&keys, options.ttl)
        })
        .await
    }
}
