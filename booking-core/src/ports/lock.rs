//! Leased locks with fencing tokens: the [`LockManager`] port.
//!
//! Most of booking-core's correctness comes from compare-and-set in the store, not from locks
//! (see `docs/locks.md`). A lock is for what one atomic store operation cannot cover:
//! serialising work around an external side effect, flows across stores, per-user
//! serialisation of a "charge" button.
//!
//! A lock here is a *lease*: it expires after its TTL whether or not its holder is still
//! working, because a holder can pause (GC, swap, a stalled network) and a lock that never
//! expires turns one crash into an outage. An expired lease is the reason every guard carries a
//! [`FencingToken`]: a store that remembers the largest token it has seen for a resource
//! refuses a write from an older holder (see [`fencing`](crate::ports::fencing)).
//!
//! Take the lock through [`LockManagerExt::with_lock`]: the guard is acquired first, the work
//! (your transaction) runs inside, and the lease is released after it, so the lock scope always
//! encloses the transaction.

mod guard;
mod scoped;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use guard::{Lease, LockGuard};
pub use scoped::{LockManagerExt, WithLockError};

/// A number that grows strictly with each grant of a lock key, across all holders.
///
/// Attach it to every write made under the lock; a fenced store refuses a token smaller than
/// the largest it has already accepted for that resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FencingToken(u64);

impl FencingToken {
    /// Wraps a raw token (as read back from a store).
    pub const fn new(raw: u64) -> Self {
        FencingToken(raw)
    }

    /// The raw number, for storing beside the fenced resource.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How long [`LockManager::acquire`] may wait for keys held by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Fail with [`LockError::Busy`] at once if any key is held.
    NoWait,
    /// Retry with exponential backoff (starting at `initial_backoff`, doubling, capped at
    /// `max_backoff`) until `max_wait` has passed, then fail with [`LockError::Busy`].
    Bounded {
        /// The longest total wait.
        max_wait: Duration,
        /// The first pause between attempts.
        initial_backoff: Duration,
        /// The longest pause between attempts.
        max_backoff: Duration,
    },
}

/// How to take a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// How long the lease lasts unless extended. Must be greater than zero.
    pub ttl: Duration,
    /// Whether and how long to wait for a held key.
    pub wait: LockWait,
    /// Keep extending the lease (every third of `ttl`) while the guard lives. Needs the
    /// `tokio` feature and a running tokio runtime; without them acquisition fails with
    /// [`LockError::WatchdogUnavailable`] rather than silently not extending.
    pub watchdog: bool,
}

impl LockOptions {
    /// A lease of `ttl`, no waiting, no watchdog.
    pub const fn new(ttl: Duration) -> Self {
        LockOptions {
            ttl,
            wait: LockWait::NoWait,
            watchdog: false,
        }
    }

    /// Waits up to `max_wait` for held keys, backing off from 1 ms up to 50 ms.
    #[must_use]
    pub const fn wait_up_to(mut self, max_wait: Duration) -> Self {
        self.wait = LockWait::Bounded {
            max_wait,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(50),
        };
        self
    }

    /// Sets the wait strategy.
    #[must_use]
    pub const fn with_wait(mut self, wait: LockWait) -> Self {
        self.wait = wait;
        self
    }

    /// Turns the lease-extending watchdog on.
    #[must_use]
    pub const fn with_watchdog(mut self) -> Self {
        self.watchdog = true;
        self
    }
}

impl Default for LockOptions {
    /// A 30 s lease, no waiting, no watchdog.
    fn default() -> Self {
        LockOptions::new(Duration::from_secs(30))
    }
}

/// Why a lock operation failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// `key` is held by someone else and the wait allowed by the options ran out.
    /// Try again later, or tell the user the resource is busy.
    #[error("lock key {key:?} is held by another holder")]
    Busy {
        /// The first key found held.
        key: String,
    },
    /// The lease on `key` ran out (or was taken over) before this release or extension.
    /// Work done under it may have raced another holder: fenced stores will have refused
    /// its stale writes; anything unfenced must be checked.
    #[error("the lease on lock key {key:?} was lost before it was released or extended")]
    Lost {
        /// The first key found lost.
        key: String,
    },
    /// The request cannot be served as asked: no keys, an empty key, a zero TTL. Fix the call.
    #[error("invalid lock request: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A watchdog was asked for without the `tokio` feature or outside a tokio runtime.
    #[error("a lock watchdog needs the `tokio` feature and a running tokio runtime")]
    WatchdogUnavailable,
    /// The lock backend failed; the lock state is unknown, retrying may help.
    #[error("lock backend {backend} failed: {source}")]
    Backend {
        /// Which backend (e.g. `"redis"`).
        backend: &'static str,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// A lock service handing out leases with fencing tokens.
///
/// Implementations must guarantee, for each key: at most one unexpired lease at any instant;
/// fencing tokens strictly increasing across grants; an acquisition of several keys takes
/// all of them or none. Callers pass keys in any order;
/// [`normalize_keys`](crate::ports::backend::lock::normalize_keys) sorts and dedupes them so
/// that implementations that take keys one by one never deadlock.
#[async_trait::async_trait]
pub trait LockManager: Send + Sync + fmt::Debug + 'static {
    /// Takes every key in `keys` under one lease, or none of them.
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError>;
}

#[async_trait::async_trait]
impl<L: LockManager + ?Sized> LockManager for std::sync::Arc<L> {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        (**self).acquire(keys, options).await
    }
}
