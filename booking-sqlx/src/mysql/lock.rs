//! [`MySqlLockManager`]: leased locks with fencing tokens on MySQL / MariaDB.
//!
//! A lease is a row of `lock_leases` per key: the last fencing token granted for the key and
//! when its lease ends. Leases are measured on the manager's clock (not the server's), so they
//! expire exactly when the suite — or the application's clock — says.
//!
//! - **Acquiring** takes MySQL's named lock `GET_LOCK` on every key, in sorted order, on one
//!   connection: this serializes acquirers of a key (so a key's row is never inserted by two
//!   at once, which InnoDB answers with duplicate-key lock waits that can deadlock), and
//!   never deadlocks because every acquirer goes in the same order. A named lock not granted
//!   within [`MUTEX_WAIT`] (someone is stuck inside an acquisition) is `Busy`. Holding them, one
//!   transaction locks the key rows, refuses (`Busy`, first held key) if any lease is live,
//!   draws one token for all keys from the `lock` counter — one more than the largest of the
//!   counter and every key's last token, so tokens grow per key even across restores — and
//!   writes every key's row with a version check (`token < new AND expires_ns <= now`). Then
//!   the named locks are released (`RELEASE_ALL_LOCKS()`); if that cannot be done the
//!   connection is closed instead of going back to the pool, which frees them too.
//! - **Extending** and **releasing** are conditional updates on `token = ours`, in one
//!   transaction for all keys: a lease that ran out or was taken over matches nothing and is
//!   `Lost`, and a stale holder's release can never free the new holder's key. The token
//!   stays on the row after release, so the next holder's token is larger.
//! - **Waiting** for a held key retries with the caller's backoff on the manager's
//!   [`Sleeper`], until the bounded wait (measured on the clock) runs out: `Busy`.
//!
//! A guard dropped without `release` is not freed at once (there is no runtime to run the
//! release on); its lease ends at its expiry, as the port allows.

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
use sqlx::pool::PoolConnection;
use sqlx::{Connection, MySql, MySqlConnection, MySqlPool};

use super::MY;
use super::rows::marks;
use crate::error::PortDb;
use crate::lock_leases::{stored_instant, stored_lease_end, token_column};

/// The longest wait, in seconds, for another acquirer's named lock on a key: acquisitions
/// hold them for a few statements, so running out means something is stuck.
const MUTEX_WAIT: u32 = 5;

/// The named lock of a key: per database (two databases on one server do not share locks),
/// hashed to fit MySQL's 64-character limit on lock names.
const NAMED_LOCK: &str =
    "SELECT CAST(GET_LOCK(CONCAT('booking_lock:', SHA1(CONCAT(DATABASE(), '/', ?))), ?) AS SIGNED)";

/// Starts a transaction at `READ COMMITTED` on a connection.
const BEGIN: &str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION";

/// Leased locks in a MySQL database migrated by [`MIGRATOR`](super::MIGRATOR). Cloning is
/// cheap: clones share the pool.
#[derive(Clone)]
pub struct MySqlLockManager {
    shared: Arc<Shared>,
}

impl fmt::Debug for MySqlLockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlLockManager").finish_non_exhaustive()
    }
}

/// What the manager and its guards share.
struct Shared {
    pool: MySqlPool,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlLeases").finish_non_exhaustive()
    }
}

/// A pooled connection that may hold named locks: unless they were released cleanly it is
/// closed when dropped, which frees them, instead of going back to the pool.
struct Session {
    conn: PoolConnection<MySql>,
    clean: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.clean {
            self.conn.close_on_drop();
        }
    }
}

impl MySqlLockManager {
    /// Locks in `pool`'s database whose leases expire by `clock` and whose waits pause on
    /// `sleeper`.
    pub fn new(pool: MySqlPool, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        MySqlLockManager {
            shared: Arc::new(Shared {
                pool,
                clock,
                sleeper,
            }),
        }
    }
}

impl Shared {
    /// One attempt to take every key of `keys` (sorted) until `now + ttl`: the grants and
    /// the expiry, or `Busy` naming the first key held.
    async fn try_acquire(
        &self,
        keys: &[String],
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        let mut session = Session {
            conn: self.pool.acquire().await.port(MY)?,
            clean: false,
        };
        let granted = self.grant(&mut session.conn, keys, ttl).await;
        // Release the named locks whatever happened; on failure the session closes instead.
        let released: Option<i64> =
            sqlx::query_scalar("SELECT CAST(RELEASE_ALL_LOCKS() AS SIGNED)")
                .fetch_one(&mut *session.conn)
                .await
                .port(MY)?;
        session.clean = released.is_some();
        granted
    }

    /// Takes the named locks, then the lease rows, on `conn`.
    async fn grant(
        &self,
        conn: &mut MySqlConnection,
        keys: &[String],
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        for key in keys {
            let got: Option<i64> = sqlx::query_scalar(NAMED_LOCK)
                .bind(key)
                .bind(MUTEX_WAIT)
                .fetch_one(&mut *conn)
                .await
                .port(MY)?;
            if got != Some(1) {
                return Err(LockError::Busy { key: key.clone() });
            }
        }
        let now = self.clock.now();
        let (expires_at, until_ns) = stored_lease_end(now, ttl)?;
        let now_ns = stored_instant(now)?;
        let mut tx = conn.begin_with(BEGIN).await.port(MY)?;
        let sql = format!(
            "SELECT lock_key, token, expires_ns FROM lock_leases
             WHERE lock_key IN ({}) ORDER BY lock_key FOR UPDATE",
            marks(keys.len(), "?")
        );
        let mut query = sqlx::query_as::<_, (String, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(key);
        }
        let rows = query.fetch_all(&mut *tx).await.port(MY)?;
        if let Some(key) = keys.iter().find(|k| {
            rows.iter()
                .any(|(row, _, expires)| row == *k && *expires > now_ns)
        }) {
            return Err(LockError::Busy { key: key.clone() });
        }
        let floor = rows.iter().map(|(_, token, _)| *token).max().unwrap_or(0);
        let raw = sqlx::query(
            "UPDATE booking_counters SET last = LAST_INSERT_ID(GREATEST(last, ?) + 1)
             WHERE name = 'lock'",
        )
        .bind(floor)
        .execute(&mut *tx)
        .await
        .port(MY)?
        .last_insert_id();
        let token = FencingToken::new(raw);
        for key in keys {
            let existing = rows.iter().any(|(row, _, _)| row == key);
            let sql = if existing {
                "UPDATE lock_leases SET token = ?, expires_ns = ?
                 WHERE lock_key = ? AND token < ? AND expires_ns <= ?"
            } else {
                "INSERT INTO lock_leases (token, expires_ns, lock_key) VALUES (?, ?, ?)"
            };
            let mut write = sqlx::query(sql)
                .bind(token_column(token)?)
                .bind(until_ns)
                .bind(key);
            if existing {
                write = write.bind(token_column(token)?).bind(now_ns);
            }
            if write.execute(&mut *tx).await.port(MY)?.rows_affected() != 1 {
                return Err(LockError::Busy { key: key.clone() });
            }
        }
        tx.commit().await.port(MY)?;
        let grants = keys.iter().map(|k| (k.clone(), token)).collect();
        Ok((lease(grants), expires_at))
    }
}

#[async_trait]
impl LeaseHandle for Shared {
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError> {
        let now = self.clock.now();
        let (expires_at, until_ns) = stored_lease_end(now, ttl)?;
        let now_ns = stored_instant(now)?;
        let mut tx = self.pool.begin_with(BEGIN).await.port(MY)?;
        for (key, token) in lease.grants() {
            let moved = sqlx::query(
                "UPDATE lock_leases SET expires_ns = ?
                 WHERE lock_key = ? AND token = ? AND expires_ns > ?",
            )
            .bind(until_ns)
            .bind(key)
            .bind(token_column(*token)?)
            .bind(now_ns)
            .execute(&mut *tx)
            .await
            .port(MY)?
            .rows_affected();
            if moved != 1 {
                return Err(LockError::Lost { key: key.clone() });
            }
        }
        tx.commit().await.port(MY)?;
        Ok(expires_at)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LockError> {
        let now = stored_instant(self.clock.now())?;
        let mut tx = self.pool.begin_with(BEGIN).await.port(MY)?;
        let mut lost = None;
        for (key, token) in lease.grants() {
            let live: Option<i64> = sqlx::query_scalar(
                "SELECT expires_ns FROM lock_leases WHERE lock_key = ? AND token = ? FOR UPDATE",
            )
            .bind(key)
            .bind(token_column(*token)?)
            .fetch_optional(&mut *tx)
            .await
            .port(MY)?;
            if live.is_none_or(|expires| expires <= now) && lost.is_none() {
                lost = Some(key.clone());
            }
            // Freed for good: the row keeps its token, so the next holder's is larger.
            sqlx::query(
                "UPDATE lock_leases SET expires_ns = -9223372036854775808
                 WHERE lock_key = ? AND token = ?",
            )
            .bind(key)
            .bind(token_column(*token)?)
            .execute(&mut *tx)
            .await
            .port(MY)?;
        }
        tx.commit().await.port(MY)?;
        lost.map_or(Ok(()), |key| Err(LockError::Lost { key }))
    }

    fn release_detached(&self, _lease: &Lease) {
        // No runtime to run the release on: the lease ends at its expiry.
    }
}

#[async_trait]
impl LockManager for MySqlLockManager {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        let keys = normalize_keys(keys, options)?;
        let shared = &self.shared;
        let handle: Arc<dyn LeaseHandle> = Arc::<Shared>::clone(shared);
        acquire_polling(options, &*shared.clock, &*shared.sleeper, handle, |_| {
            shared.try_acquire(&keys, options.ttl)
        })
        .await
    }
}
