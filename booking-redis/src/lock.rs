//! [`RedisLockManager`]: leased locks with fencing tokens on Redis.
//!
//! - **Acquire** is one script over the lock keys of one scope (their shared hash tag, see
//!   [`keys`](crate::keys)): if every key is free it mints the scope's next fencing token and
//!   sets each key to `"<token> <end>"` with a real-time `PX`; otherwise it changes nothing and
//!   names the first held key. That is `SET key owner NX PX ttl` for all keys at once, where a
//!   key whose stored lease ended on the caller's clock counts as absent.
//! - **Extend** is a compare-and-`PEXPIRE`: only if every key still carries the lease's token
//!   and its lease has not ended, the end moves (stored and real-time expiry alike).
//! - **Release** is a compare-and-delete of every key that still carries the token.
//!
//! Leases end on the manager's [`Clock`]: the scripts get `now` and the lease's end as
//! arguments and compare them with what the keys store. The real-time `PX` equals the TTL,
//! so Redis drops a key no earlier than its lease ends on a clock that runs at real speed; it
//! only collects keys of holders that vanished.
//!
//! The fencing token is minted in the acquire script from the scope's counter
//! (`{p/<scope>}:fence`): the larger of the last token + 1 and Redis's clock in microseconds.
//! Tokens therefore grow strictly per scope (so per key), and a Redis restarted without its
//! data, or a replica promoted without the last writes, still hands out tokens above every
//! token granted before (ADR 0007).
//!
//! Keys of one lease must share one scope: a `{…}` hash tag in every key
//! (`{event:42}:seat:7`), or none at all (the namespace's default scope). A request that mixes
//! scopes is [`LockError::Invalid`] before anything reaches Redis, never a `CROSSSLOT` from the
//! server. A bounded wait polls with backoff on the manager's [`Sleeper`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::policy::Sleeper;
use booking_core::ports::lock::{
    FencingToken, Lease, LockError, LockGuard, LockManager, LockOptions,
};

use crate::connection::RedisConnection;
use crate::error::{Port, RedisFailure};
use crate::keys::{LockKeys, Namespace, lock_keys};
use crate::port_rules::{LeaseHandle, acquire_polling, lease, lease_end, normalize_keys};
use crate::scripts::{LOCK_ACQUIRE, LOCK_EXTEND, LOCK_RELEASE, at, int, items, run, text};
use crate::time::{nanos, px};

/// How long a scope's fencing counter outlives its last grant. Tokens never run ahead of
/// Redis's clock, so a counter that lapsed after an idle hour is rebuilt from the clock alone.
const FENCE_KEEP: Duration = Duration::from_secs(3_600);

/// `at` as the scripts take it.
fn lock_instant(at: Timestamp) -> Result<String, LockError> {
    nanos(at).map_err(|_| LockError::Invalid {
        reason: "the lease is measured on a clock before 1970",
    })
}

/// What a [`LockGuard`] of this manager calls back: the connection, the namespace, the clock.
#[derive(Clone)]
struct Leases {
    conn: RedisConnection,
    ns: Namespace,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Leases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leases")
            .field("namespace", &self.ns)
            .finish_non_exhaustive()
    }
}

/// Leased locks with fencing tokens on standalone Redis or Redis Cluster; see the
/// [module docs](self). Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub struct RedisLockManager {
    leases: Arc<Leases>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for RedisLockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLockManager")
            .field("namespace", &self.leases.ns)
            .finish_non_exhaustive()
    }
}

impl RedisLockManager {
    /// Locks under `namespace` on `conn`, whose leases run on `clock` and whose bounded waits
    /// pause on `sleeper`.
    pub fn new(
        conn: RedisConnection,
        namespace: Namespace,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Self {
        RedisLockManager {
            leases: Arc::new(Leases {
                conn,
                ns: namespace,
                clock,
            }),
            sleeper,
        }
    }
}

/// The lease's keys, in its (sorted) order, and their Redis keys.
fn lease_keys(ns: &Namespace, lease: &Lease) -> Result<(Vec<String>, LockKeys), LockError> {
    let keys: Vec<String> = lease.grants().iter().map(|(k, _)| k.clone()).collect();
    let redis_keys = lock_keys(ns, &keys)?;
    Ok((keys, redis_keys))
}

/// The key at 1-based index `i` of `keys`, as a lost or busy key.
fn key_at(keys: &[String], i: i64) -> Result<String, LockError> {
    usize::try_from(i)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| keys.get(i))
        .cloned()
        .ok_or_else(|| RedisFailure::corrupt(format!("a lock script named key {i}")))
        .port()
}

impl Leases {
    /// One attempt at taking `keys` (sorted, deduped, one scope) at `now`.
    async fn try_acquire(
        &self,
        keys: &[String],
        redis_keys: &LockKeys,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        let expires_at = lease_end(now, ttl)?;
        let mut invocation = LOCK_ACQUIRE.key(&redis_keys.fence);
        invocation
            .key(&redis_keys.locks)
            .arg(lock_instant(now)?)
            .arg(lock_instant(expires_at)?)
            .arg(px(ttl))
            .arg(px(FENCE_KEEP));
        let answer = items(run(&invocation, &self.conn).await.port()?).port()?;
        match int(at(&answer, 0).port()?).port()? {
            1 => {
                let raw = text(at(&answer, 1).port()?).port()?;
                let token = raw
                    .parse::<u64>()
                    .map_err(|_| RedisFailure::corrupt(format!("fencing token {raw:?}")))
                    .port()?;
                let token = FencingToken::new(token);
                let grants = keys.iter().map(|k| (k.clone(), token)).collect();
                Ok((lease(grants), expires_at))
            }
            _ => Err(LockError::Busy {
                key: key_at(keys, int(at(&answer, 1).port()?).port()?)?,
            }),
        }
    }

    /// The first key of `lease` that the answer `lost` names, if any.
    fn lost(keys: &[String], lost: i64) -> Result<(), LockError> {
        if lost == 0 {
            return Ok(());
        }
        Err(LockError::Lost {
            key: key_at(keys, lost)?,
        })
    }
}

#[async_trait]
impl LeaseHandle for Leases {
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError> {
        let now = self.clock.now();
        let until = lease_end(now, ttl)?;
        let (keys, redis_keys) = lease_keys(&self.ns, lease)?;
        let mut invocation = LOCK_EXTEND.key(&redis_keys.locks);
        invocation
            .arg(lease.token().get())
            .arg(lock_instant(now)?)
            .arg(lock_instant(until)?)
            .arg(px(ttl));
        let lost = int(&run(&invocation, &self.conn).await.port()?).port()?;
        Self::lost(&keys, lost)?;
        Ok(until)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LockError> {
        let (keys, redis_keys) = lease_keys(&self.ns, lease)?;
        let mut invocation = LOCK_RELEASE.key(&redis_keys.locks);
        invocation
            .arg(lease.token().get())
            .arg(lock_instant(self.clock.now())?);
        let lost = int(&run(&invocation, &self.conn).await.port()?).port()?;
        Self::lost(&keys, lost)
    }

    fn release_detached(&self, lease: &Lease) {
        // Best effort: without a runtime the keys stay held until their lease ends.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (leases, lease) = (self.clone(), lease.clone());
            runtime.spawn(async move {
                let _ = leases.release(&lease).await;
            });
        }
    }
}

#[async_trait]
impl LockManager for RedisLockManager {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        let keys = normalize_keys(keys, options)?;
        let redis_keys = lock_keys(&self.leases.ns, &keys)?;
        let leases = &self.leases;
        let handle: Arc<dyn LeaseHandle> = Arc::<Leases>::clone(leases);
        acquire_polling(options, &*leases.clock, &*self.sleeper, handle, |now| {
            leases.try_acquire(&keys, &redis_keys, now, options.ttl)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_keys_from_one() {
        let keys = ["a".to_owned(), "b".to_owned()];
        assert_eq!(key_at(&keys, 2).unwrap(), "b");
        assert!(key_at(&keys, 0).is_err());
        assert!(key_at(&keys, 3).is_err());
        assert!(Leases::lost(&keys, 0).is_ok());
        assert!(matches!(Leases::lost(&keys, 1), Err(LockError::Lost { key }) if key == "a"));
    }
}
