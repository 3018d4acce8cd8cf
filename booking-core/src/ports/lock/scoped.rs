//! Lock-then-work as one call, so the lock scope always encloses the transaction.

use std::future::Future;

use super::{Lease, LockError, LockManager, LockOptions};

/// Why [`LockManagerExt::with_lock`] returned no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WithLockError<E> {
    /// The lock could not be taken; the work did not run.
    #[error(transparent)]
    Lock(LockError),
    /// The work ran under the lock and failed with its own error.
    #[error("work under the lock failed: {0}")]
    Work(#[source] E),
}

/// Sugar over any [`LockManager`] (including `dyn LockManager`).
pub trait LockManagerExt: LockManager {
    /// Takes `keys`, runs `work` with the [`Lease`] (carry its token into every write), then
    /// releases the keys, whatever `work` returned.
    ///
    /// Because the guard is taken before `work` starts and released only after it finishes,
    /// a transaction run inside `work` commits while the lock is still held; the opposite
    /// order (release, then commit) cannot be written with this helper.
    ///
    /// If the lease turns out to have expired by release time, the result of `work` is still
    /// returned (a fenced store accepted its writes, so they were not stale) and a warning is
    /// logged; make the protected store fenced for that guarantee.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use std::sync::Arc;
    /// use booking_core::clock::{ManualClock, Timestamp};
    /// use booking_core::memory::MemoryLockManager;
    /// use booking_core::policy::ManualSleeper;
    /// use booking_core::ports::lock::{LockManagerExt, LockOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
    /// let sleeper = ManualSleeper::new(clock.clone());
    /// let locks = MemoryLockManager::new(Arc::new(clock), Arc::new(sleeper));
    /// let opts = LockOptions::new(Duration::from_secs(10));
    /// let token = locks
    ///     .with_lock(&["order:42"], &opts, |lease| async move {
    ///         // One gateway call per order at a time; every write carries lease.token().
    ///         Ok::<_, std::convert::Infallible>(lease.token())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert!(token.get() > 0);
    /// # });
    /// ```
    fn with_lock<'a, T, E, F, Fut>(
        &'a self,
        keys: &'a [&'a str],
        options: &'a LockOptions,
        work: F,
    ) -> impl Future<Output = Result<T, WithLockError<E>>> + Send + 'a
    where
        F: FnOnce(Lease) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
        T: Send + 'a,
        E: Send + 'a,
    {
        async move {
            let guard = self
                .acquire(keys, options)
                .await
                .map_err(WithLockError::Lock)?;
            let outcome = work(guard.lease().clone()).await;
            let token = guard.token();
            if let Err(error) = guard.release().await {
                tracing::warn!(%error, %token, "lease ended before the work under it finished");
            }
            outcome.map_err(WithLockError::Work)
        }
    }
}

impl<L: LockManager + ?Sized> LockManagerExt for L {}
