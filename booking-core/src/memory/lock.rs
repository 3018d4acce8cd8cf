//! [`MemoryLockManager`]: leased locks with fencing tokens, for tests and single-process use.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::policy::Sleeper;
use crate::ports::backend::lock::{Backoff, LeaseHandle, guard, lease, lease_end, normalize_keys};
use crate::ports::lock::{FencingToken, Lease, LockError, LockGuard, LockManager, LockOptions};

use super::sync::{Mutex, PoisonError};

/// One held key: which grant holds it and until when.
#[derive(Debug, Clone, Copy)]
struct Held {
    token: FencingToken,
    expires_at: Timestamp,
}

/// The lock state. Every operation takes `now` explicitly so it is a pure step that the loom
/// models can drive without a clock.
#[derive(Debug, Default)]
pub(crate) struct LockTable {
    held: HashMap<String, Held>,
    /// One counter for all keys: strictly increasing per key follows, and a multi-key lease
    /// gets one token for all its keys.
    last_token: u64,
    /// Tasks waiting for a key, woken when it is released (an expiry wakes no one: waiters
    /// also wake on their backoff timer).
    waiters: HashMap<String, Vec<Waker>>,
}

impl LockTable {
    /// Grants all `keys` (sorted, deduped) until `now + ttl`, or none of them.
    pub(crate) fn acquire(
        &mut self,
        keys: &[String],
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(Lease, Timestamp), LockError> {
        let expires_at = lease_end(now, ttl)?;
        if let Some(key) = keys
            .iter()
            .find(|k| self.held.get(*k).is_some_and(|h| h.expires_at > now))
        {
            return Err(LockError::Busy { key: key.clone() });
        }
        let raw = self.last_token.checked_add(1).ok_or(LockError::Invalid {
            reason: "fencing tokens are exhausted",
        })?;
        self.last_token = raw;
        let token = FencingToken::new(raw);
        for key in keys {
            self.held.insert(key.clone(), Held { token, expires_at });
        }
        let grants = keys.iter().map(|k| (k.clone(), token)).collect();
        Ok((lease(grants), expires_at))
    }

    /// Moves the expiry of every key of `lease` to `now + ttl` if none has run out.
    pub(crate) fn extend(
        &mut self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Timestamp, LockError> {
        let expires_at = lease_end(now, ttl)?;
        if let Some(key) = self.first_lost(lease, now) {
            return Err(LockError::Lost { key });
        }
        for (key, _) in lease.grants() {
            if let Some(held) = self.held.get_mut(key) {
                held.expires_at = expires_at;
            }
        }
        Ok(expires_at)
    }

    /// Frees every key still held by `lease`; reports `Lost` if any had run out.
    pub(crate) fn release(&mut self, lease: &Lease, now: Timestamp) -> Result<(), LockError> {
        let lost = self.first_lost(lease, now);
        for (key, token) in lease.grants() {
            if self.held.get(key).is_some_and(|h| h.token == *token) {
                self.held.remove(key);
                for waiter in self.waiters.remove(key).into_iter().flatten() {
                    waiter.wake();
                }
            }
        }
        lost.map_or(Ok(()), |key| Err(LockError::Lost { key }))
    }

    /// Whether `key` is free at `now`; if not, `waker` is woken when it is released.
    pub(crate) fn free_or_notify(&mut self, key: &str, now: Timestamp, waker: &Waker) -> bool {
        if self.held.get(key).is_none_or(|h| h.expires_at <= now) {
            return true;
        }
        let waiters = self.waiters.entry(key.to_owned()).or_default();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        false
    }

    fn first_lost(&self, lease: &Lease, now: Timestamp) -> Option<String> {
        lease
            .grants()
            .iter()
            .find(|(key, token)| {
                !self
                    .held
                    .get(key)
                    .is_some_and(|h| h.token == *token && h.expires_at > now)
            })
            .map(|(key, _)| key.clone())
    }
}

/// The lock table behind its (std or loom) mutex.
#[derive(Debug, Default)]
pub(crate) struct LockCore {
    table: Mutex<LockTable>,
}

impl LockCore {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut LockTable) -> R) -> R {
        f(&mut self.table.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[derive(Debug)]
struct Shared {
    core: LockCore,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl Shared {
    /// Waits until `key` is released or `timeout` completes, whichever is first. The check
    /// and the waker registration happen under the table's lock, as does a release's wake-up,
    /// so a release between the failed attempt and this wait is never missed.
    async fn released_or(
        &self,
        key: &str,
        mut timeout: Pin<&mut (dyn Future<Output = ()> + Send + '_)>,
    ) -> Wake {
        std::future::poll_fn(|cx| {
            let now = self.clock.now();
            if self.core.with(|t| t.free_or_notify(key, now, cx.waker())) {
                return Poll::Ready(Wake::Released);
            }
            timeout.as_mut().poll(cx).map(|()| Wake::TimedOut)
        })
        .await
    }
}

/// Why a waiter woke.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    /// The key it waited for was released (or expired): try again at once.
    Released,
    /// Its backoff timer fired.
    TimedOut,
}

#[async_trait::async_trait]
impl LeaseHandle for Shared {
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError> {
        let now = self.clock.now();
        self.core.with(|t| t.extend(lease, now, ttl))
    }

    async fn release(&self, lease: &Lease) -> Result<(), LockError> {
        let now = self.clock.now();
        self.core.with(|t| t.release(lease, now))
    }

    fn release_detached(&self, lease: &Lease) {
        let now = self.clock.now();
        // Dropped guard: freeing the keys is all that matters, a late drop is not an error.
        let _ = self.core.with(|t| t.release(lease, now));
    }
}

/// An in-process [`LockManager`]: correct across threads of one process, state lost on exit.
/// Clones share the same locks.
#[derive(Clone)]
pub struct MemoryLockManager {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryLockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLockManager").finish_non_exhaustive()
    }
}

impl MemoryLockManager {
    /// Locks whose leases expire by `clock` and whose waits pause on `sleeper`.
    pub fn new(clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        MemoryLockManager {
            shared: Arc::new(Shared {
                core: LockCore::default(),
                clock,
                sleeper,
            }),
        }
    }

    /// Locks on the system clock, waiting on the tokio timer.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn with_tokio() -> Self {
        MemoryLockManager::new(
            Arc::new(crate::clock::SystemClock),
            Arc::new(crate::policy::TokioSleeper),
        )
    }
}

#[async_trait::async_trait]
impl LockManager for MemoryLockManager {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        let keys = normalize_keys(keys, options)?;
        let shared = &self.shared;
        let mut backoff = Backoff::new(options.wait, shared.clock.now());
        // One backoff timer lives across wake-ups: a waiter woken by a release that another
        // waiter won goes back to waiting on the same timer instead of arming a new one.
        let mut timer: Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
        loop {
            let now = shared.clock.now();
            let busy_key = match shared.core.with(|t| t.acquire(&keys, now, options.ttl)) {
                Ok((lease, expires_at)) => {
                    let handle: Arc<dyn LeaseHandle> = Arc::<Shared>::clone(shared);
                    return guard(lease, expires_at, handle, options).await;
                }
                Err(LockError::Busy { key }) => key,
                Err(other) => return Err(other),
            };
            let Some(pause) = backoff.pause(now) else {
                return Err(LockError::Busy { key: busy_key });
            };
            let armed = timer.get_or_insert_with(|| shared.sleeper.sleep(pause));
            if shared.released_or(&busy_key, armed.as_mut()).await == Wake::TimedOut {
                timer = None;
                backoff.grow();
            }
        }
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    //! What this lock manager does beyond the port's contract (wake-ups, backoff, dropped
    //! guards, the watchdog); the contract itself is checked by the conformance suite
    //! (`testkit::lock`).
    use super::*;
    use crate::clock::{ManualClock, SystemClock};
    use crate::memory::NeverSleeper;
    use crate::policy::ManualSleeper;
    use crate::ports::lock::LockWait;

    const TTL: Duration = Duration::from_secs(10);

    fn manual() -> (ManualClock, ManualSleeper, MemoryLockManager) {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let sleeper = ManualSleeper::new(clock.clone());
        let locks = MemoryLockManager::new(Arc::new(clock.clone()), Arc::new(sleeper.clone()));
        (clock, sleeper, locks)
    }

    #[tokio::test]
    async fn a_bounded_wait_backs_off_until_the_lease_ends() {
        let (_, sleeper, locks) = manual();
        let _held = locks.acquire(&["k"], &LockOptions::new(TTL)).await.unwrap();
        let wait = LockWait::Bounded {
            max_wait: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
        };
        let got = locks
            .acquire(&["k"], &LockOptions::new(TTL).with_wait(wait))
            .await
            .unwrap();
        assert!(got.token() > _held.token());
        let secs: Vec<u64> = sleeper.slept().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 4]);
    }

    #[tokio::test]
    async fn a_release_wakes_a_waiter_at_once() {
        let locks = MemoryLockManager::new(Arc::new(SystemClock), Arc::new(NeverSleeper));
        let held = locks.acquire(&["k"], &LockOptions::new(TTL)).await.unwrap();
        let waiter = {
            let locks = locks.clone();
            let opts = LockOptions::new(TTL).wait_up_to(Duration::from_secs(3600));
            tokio::spawn(async move { locks.acquire(&["k"], &opts).await.map(|g| g.token()) })
        };
        tokio::task::yield_now().await;
        held.release().await.unwrap();
        // The timeout only turns a lost wake-up into a failure instead of a hung test.
        let woken = tokio::time::timeout(Duration::from_secs(60), waiter).await;
        assert!(woken.unwrap().unwrap().unwrap() > FencingToken::new(1));
    }

    /// The sleeper is asked for exactly the allowed wait, no more.
    #[tokio::test]
    async fn a_bounded_wait_sleeps_exactly_its_max_wait() {
        let (_, sleeper, locks) = manual();
        let _held = locks.acquire(&["k"], &LockOptions::new(TTL)).await.unwrap();
        let opts = LockOptions::new(TTL).wait_up_to(Duration::from_secs(2));
        let err = locks.acquire(&["k"], &opts).await.unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }));
        assert_eq!(
            sleeper.slept().iter().sum::<Duration>(),
            Duration::from_secs(2)
        );
    }

    /// This manager frees a dropped guard's keys at once (the port only promises it at
    /// the lease's end).
    #[tokio::test]
    async fn a_dropped_guard_frees_its_keys() {
        let (_, _, locks) = manual();
        let opts = LockOptions::new(TTL);
        drop(locks.acquire(&["k"], &opts).await.unwrap());
        locks.acquire(&["k"], &opts).await.unwrap();
    }

    #[tokio::test]
    async fn a_watchdog_without_the_runtime_support_is_refused() {
        let (_, _, locks) = manual();
        let opts = LockOptions::new(TTL).with_watchdog();
        #[cfg(not(feature = "tokio"))]
        assert!(matches!(
            locks.acquire(&["k"], &opts).await,
            Err(LockError::WatchdogUnavailable)
        ));
        #[cfg(feature = "tokio")]
        locks
            .acquire(&["k"], &opts)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        // Either way nothing stays held.
        locks.acquire(&["k"], &LockOptions::new(TTL)).await.unwrap();
    }

    /// Reads tokio's (pausable) clock, so leases expire in the runtime's virtual time.
    #[cfg(feature = "tokio")]
    #[derive(Debug)]
    struct TokioClock(tokio::time::Instant);

    #[cfg(feature = "tokio")]
    impl Clock for TokioClock {
        fn now(&self) -> Timestamp {
            crate::policy::add_saturating(Timestamp::UNIX_EPOCH, self.0.elapsed())
        }
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn the_watchdog_keeps_a_lease_alive_while_the_guard_lives() {
        let clock = Arc::new(TokioClock(tokio::time::Instant::now()));
        let locks = MemoryLockManager::new(clock, Arc::new(crate::policy::TokioSleeper));
        let ttl = Duration::from_secs(3);
        let guard = locks
            .acquire(&["k"], &LockOptions::new(ttl).with_watchdog())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(locks.acquire(&["k"], &LockOptions::new(ttl)).await.is_err());
        guard.release().await.unwrap();
        locks.acquire(&["k"], &LockOptions::new(ttl)).await.unwrap();
    }
}
