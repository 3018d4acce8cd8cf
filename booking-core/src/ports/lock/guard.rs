//! The guard a [`LockManager`](super::LockManager) hands out, and what it needs from its
//! backend to extend and release the lease.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Timestamp;

use super::{FencingToken, LockError, LockOptions};
use crate::ports::backend::lock::LeaseHandle;

/// Which keys a lease holds and the fencing token each was granted. Cheap to clone: pass it
/// into the work done under the lock so every write can carry its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    grants: Arc<[(String, FencingToken)]>,
}

impl Lease {
    /// A lease over `grants` (key, token), sorted by key. Backends build this on acquisition,
    /// through [`backend::lock::lease`](crate::ports::backend::lock::lease).
    pub(crate) fn new(mut grants: Vec<(String, FencingToken)>) -> Self {
        grants.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Lease {
            grants: grants.into(),
        }
    }

    /// The keys and their tokens, sorted by key.
    pub fn grants(&self) -> &[(String, FencingToken)] {
        &self.grants
    }

    /// The token of the lease's first key: *the* token of a single-key lease. For a
    /// multi-key lease use [`token_for`](Self::token_for) with the key that guards the resource.
    pub fn token(&self) -> FencingToken {
        // A lease always has at least one key (normalize_keys refuses an empty set); the
        // zero token, which no grant uses, is only a defensive fallback.
        self.grants
            .first()
            .map_or(FencingToken::new(0), |(_, token)| *token)
    }

    /// The token granted for `key`, if this lease holds it.
    pub fn token_for(&self, key: &str) -> Option<FencingToken> {
        self.grants
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, token)| *token)
    }
}

/// A held lease. Release it with [`release`](Self::release) (dropping it releases on a
/// best-effort basis); prefer [`LockManagerExt::with_lock`](super::LockManagerExt::with_lock),
/// which does both for you.
pub struct LockGuard {
    lease: Lease,
    expires_at: Arc<Mutex<Timestamp>>,
    handle: Arc<dyn LeaseHandle>,
    released: bool,
    #[cfg(feature = "tokio")]
    watchdog: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lease", &self.lease)
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    /// A guard over `lease`, valid until `expires_at`, extended and released through
    /// `handle`; [`arm`](Self::arm) it next. Backends do both through
    /// [`backend::lock::guard`](crate::ports::backend::lock::guard).
    pub(crate) fn new(lease: Lease, expires_at: Timestamp, handle: Arc<dyn LeaseHandle>) -> Self {
        LockGuard {
            lease,
            expires_at: Arc::new(Mutex::new(expires_at)),
            handle,
            released: false,
            #[cfg(feature = "tokio")]
            watchdog: None,
        }
    }

    /// Starts the watchdog if `options` ask for one.
    ///
    /// # Errors
    /// [`LockError::WatchdogUnavailable`] without the `tokio` feature or outside a tokio
    /// runtime; the lease is released before returning it.
    pub(crate) async fn arm(self, options: &LockOptions) -> Result<Self, LockError> {
        if !options.watchdog {
            return Ok(self);
        }
        #[cfg(feature = "tokio")]
        {
            let mut guard = self;
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                guard.watchdog = Some(runtime.spawn(watch(
                    guard.lease.clone(),
                    Arc::clone(&guard.expires_at),
                    Arc::clone(&guard.handle),
                    options.ttl,
                )));
                return Ok(guard);
            }
            // Nothing was done under the lease yet, so losing it here cannot hurt anyone.
            let _ = guard.release().await;
            Err(LockError::WatchdogUnavailable)
        }
        #[cfg(not(feature = "tokio"))]
        {
            let _ = self.release().await;
            Err(LockError::WatchdogUnavailable)
        }
    }

    /// The keys and tokens held.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The fencing token of a single-key guard (see [`Lease::token`]).
    pub fn token(&self) -> FencingToken {
        self.lease.token()
    }

    /// When the lease runs out unless extended (the watchdog moves this forward).
    pub fn expires_at(&self) -> Timestamp {
        *self
            .expires_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Pushes the expiry to `ttl` from now.
    ///
    /// # Errors
    /// [`LockError::Lost`] if the lease already ran out: stop the work it protected.
    pub async fn extend(&mut self, ttl: Duration) -> Result<Timestamp, LockError> {
        let at = self.handle.extend(&self.lease, ttl).await?;
        *self
            .expires_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = at;
        Ok(at)
    }

    /// Releases the keys.
    ///
    /// # Errors
    /// [`LockError::Lost`] if the lease ran out before the release.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop_watchdog();
        self.released = true;
        self.handle.release(&self.lease).await
    }

    fn stop_watchdog(&mut self) {
        #[cfg(feature = "tokio")]
        if let Some(task) = self.watchdog.take() {
            task.abort();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_watchdog();
        if !self.released {
            self.handle.release_detached(&self.lease);
        }
    }
}

/// Extends the lease every third of its TTL until an extension fails (lease lost) or the task
/// is aborted by the guard.
#[cfg(feature = "tokio")]
async fn watch(
    lease: Lease,
    expires_at: Arc<Mutex<Timestamp>>,
    handle: Arc<dyn LeaseHandle>,
    ttl: Duration,
) {
    let period = (ttl / 3).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(period).await;
        match handle.extend(&lease, ttl).await {
            Ok(at) => *expires_at.lock().unwrap_or_else(PoisonError::into_inner) = at,
            Err(error) => {
                tracing::warn!(%error, token = %lease.token(), "lock watchdog stopped: lease lost");
                return;
            }
        }
    }
}
