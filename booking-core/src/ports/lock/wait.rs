//! The wait every [`LockManager`](super::LockManager) applies to held keys: the lease's end,
//! the bounded wait's backoff schedule, and the polling loop of managers that cannot be told
//! when a key is released (the SQL ones).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::policy::{Sleeper, span_between};

use super::{Lease, LeaseHandle, LockError, LockGuard, LockOptions, LockWait};

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
                return LockGuard::new(lease, expires_at, handle).arm(options).await;
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
}
