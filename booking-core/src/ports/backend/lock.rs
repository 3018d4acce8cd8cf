//! For implementors of [`LockManager`]: the one order keys are taken in, the lease's end, the
//! bounded wait's backoff schedule and the polling loop of managers that cannot be told when
//! a key is released (the SQL ones), and the guard a manager hands out with the
//! [`LeaseHandle`] it extends and releases through.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::policy::{Sleeper, span_between};

#[cfg(doc)]
use crate::ports::lock::LockManager;
use crate::ports::lock::{FencingToken, Lease, LockError, LockGuard, LockOptions, LockWait};

/// Sorts and dedupes `keys` and checks the request, so every implementation takes keys in one
/// global order.
///
/// # Errors
/// [`LockError::Invalid`] for no keys, an empty key, a zero TTL or a bounded wait whose
/// backoff cannot grow past zero (it would spin).
pub fn normalize_keys(keys: &[&str], options: &LockOptions) -> Result<Vec<String>, LockError> {
    if keys.is_empty() {
        return Err(LockError::Invalid {
            reason: "no keys to lock",
        });
    }
    if keys.iter().any(|k| k.is_empty()) {
        return Err(LockError::Invalid {
            reason: "a lock key is empty",
        });
    }
    if options.ttl.is_zero() {
        return Err(LockError::Invalid {
            reason: "the lease TTL is zero",
        });
    }
    if let LockWait::Bounded { max_backoff, .. } = options.wait
        && max_backoff.is_zero()
    {
        return Err(LockError::Invalid {
            reason: "a bounded wait needs a max_backoff greater than zero",
        });
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// The lease a manager grants: `grants` (key, fencing token), kept sorted by key.
pub fn lease(grants: Vec<(String, FencingToken)>) -> Lease {
    Lease::new(grants)
}

/// The guard a manager hands out for `lease`, valid until `expires_at`, extended and released
/// through `handle`; with its watchdog started if `options` ask for one.
///
/// # Errors
/// [`LockError::WatchdogUnavailable`] if `options` ask for a watchdog without the `tokio`
/// feature or outside a tokio runtime; the lease is released before returning it.
pub async fn guard(
    lease: Lease,
    expires_at: Timestamp,
    handle: Arc<dyn LeaseHandle>,
    options: &LockOptions,
) -> Result<LockGuard, LockError> {
    LockGuard::new(lease, expires_at, handle).arm(options).await
}

/// What a [`LockGuard`] asks of the backend that granted it.
#[async_trait::async_trait]
pub trait LeaseHandle: Send + Sync + fmt::Debug + 'static {
    /// Pushes the lease's expiry to `ttl` from now and returns the new expiry.
    ///
    /// # Errors
    /// [`LockError::Lost`] if the lease already ran out or was taken over.
    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Timestamp, LockError>;

    /// Gives the keys up.
    ///
    /// # Errors
    /// [`LockError::Lost`] if the lease ran out before this call (the keys are free anyway).
    async fn release(&self, lease: &Lease) -> Result<(), LockError>;

    /// Best-effort release for a guard dropped without [`LockGuard::release`]. May do
    /// nothing, in which case the lease ends at its expiry.
    fn release_detached(&self, lease: &Lease);
}

/// The shortest pause: keeps a zero backoff from spinning on a clock that does not move.
const MIN_PAUSE: Duration = Duration::from_micros(1);

/// When a lease granted or extended at `now` for `ttl` ends; [`LockError::Invalid`] past the
/// largest timestamp.
pub fn lease_end(now: Timestamp, ttl: Duration) -> Result<Timestamp, LockError> {
    now.checked_add(ttl).map_err(|_| LockError::Invalid {
        reason: "the lease TTL reaches past the largest timestamp",
    })
}

/// The schedule of one acquisition's wait for held keys, as [`LockWait`] describes it:
/// exponential backoff from `initial_backoff`, capped at `max_backoff`, until `max_wait` has
/// passed since the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    wait: LockWait,
    started: Timestamp,
    next: Duration,
}

impl Backoff {
    /// The schedule of an acquisition whose first attempt was at `started`.
    pub fn new(wait: LockWait, started: Timestamp) -> Self {
        let next = match wait {
            LockWait::NoWait => Duration::ZERO,
            LockWait::Bounded {
                initial_backoff, ..
            } => initial_backoff,
        };
        Backoff {
            wait,
            started,
            next,
        }
    }

    /// After an attempt found a key held at `now`: how long to pause before the next attempt
    /// (never zero, never past the end of the wait), or `None` to give up with
    /// [`LockError::Busy`] (no wait allowed, or `max_wait` has passed).
    pub fn pause(&self, now: Timestamp) -> Option<Duration> {
        let LockWait::Bounded { max_wait, .. } = self.wait else {
            return None;
        };
        let left = max_wait
            .checked_sub(span_between(self.started, now))
            .filter(|d| !d.is_zero())?;
        Some(self.next.min(left).max(MIN_PAUSE))
    }

    /// A pause ran its full length: the next one is twice as long, up to `max_backoff`.
    pub fn grow(&mut self) {
        if let LockWait::Bounded { max_backoff, .. } = self.wait {
            self.next = self.next.saturating_mul(2).min(max_backoff);
        }
    }
}

/// Takes a lease by polling: runs `attempt` (given the clock's now) until it grants the keys,
/// pausing on `sleeper` between attempts that find a key held as [`Backoff`] schedules, then
/// arms the guard (with `handle` for its extensions and release). Any error other than
/// [`LockError::Busy`] ends the wait at once; a wait that runs out returns the last `Busy`.
pub async fn acquire_polling<F, Fut>(
    options: &LockOptions,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
    handle: Arc<dyn LeaseHandle>,
    mut attempt: F,
) -> Result<LockGuard, LockError>
where
    F: FnMut(Timestamp) -> Fut + Send,
    Fut: Future<Output = Result<(Lease, Timestamp), LockError>> + Send,
{
    let mut backoff = Backoff::new(options.wait, clock.now());
    loop {
        let busy = match attempt(clock.now()).await {
            Ok((lease, expires_at)) => {
                return guard(lease, expires_at, handle, options).await;
            }
            Err(busy @ LockError::Busy { .. }) => busy,
            Err(other) => return Err(other),
        };
        let Some(pause) = backoff.pause(clock.now()) else {
            return Err(busy);
        };
        sleeper.sleep(pause).await;
        backoff.grow();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn at(ms: u64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(MS * u32::try_from(ms).unwrap())
            .unwrap()
    }

    #[test]
    fn no_wait_gives_up_at_once() {
        assert_eq!(Backoff::new(LockWait::NoWait, at(0)).pause(at(0)), None);
    }

    #[test]
    fn a_bounded_wait_doubles_up_to_its_cap_and_ends_on_time() {
        let wait = LockWait::Bounded {
            max_wait: MS * 10,
            initial_backoff: MS * 2,
            max_backoff: MS * 5,
        };
        let mut backoff = Backoff::new(wait, at(0));
        assert_eq!(backoff.pause(at(0)), Some(MS * 2));
        backoff.grow();
        assert_eq!(backoff.pause(at(2)), Some(MS * 4));
        backoff.grow();
        assert_eq!(
            backoff.pause(at(6)),
            Some(MS * 4),
            "never past the end of the wait"
        );
        assert_eq!(backoff.pause(at(8)), Some(MS * 2));
        assert_eq!(backoff.pause(at(10)), None);
    }

    #[test]
    fn a_zero_backoff_still_pauses() {
        let wait = LockWait::Bounded {
            max_wait: MS,
            initial_backoff: Duration::ZERO,
            max_backoff: MS,
        };
        assert_eq!(Backoff::new(wait, at(0)).pause(at(0)), Some(MIN_PAUSE));
    }

    #[test]
    fn leases_end_within_the_clock() {
        assert_eq!(lease_end(at(0), MS).unwrap(), at(1));
        assert!(matches!(
            lease_end(Timestamp::MAX, MS),
            Err(LockError::Invalid { .. })
        ));
    }

    #[test]
    fn keys_are_sorted_and_deduped() {
        let opts = LockOptions::default();
        assert_eq!(
            normalize_keys(&["b", "a", "b"], &opts).unwrap(),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn nonsense_requests_are_typed_errors() {
        let opts = LockOptions::default();
        assert!(matches!(
            normalize_keys(&[], &opts),
            Err(LockError::Invalid { .. })
        ));
        assert!(matches!(
            normalize_keys(&["a", ""], &opts),
            Err(LockError::Invalid { .. })
        ));
        assert!(matches!(
            normalize_keys(&["a"], &LockOptions::new(Duration::ZERO)),
            Err(LockError::Invalid { .. })
        ));
        let spinning = LockOptions::default().with_wait(LockWait::Bounded {
            max_wait: Duration::from_secs(1),
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        });
        assert!(matches!(
            normalize_keys(&["a"], &spinning),
            Err(LockError::Invalid { .. })
        ));
    }
}
