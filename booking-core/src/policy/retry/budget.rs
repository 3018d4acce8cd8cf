//! A cap on retries shared by every caller of one dependency, so that when it fails for
//! everyone, retries do not multiply its load.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::policy::add_saturating;

use super::RetryConfigError;

/// How many retries a [`RetryBudget`] allows per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudgetConfig {
    /// Retries allowed per 100 calls in the window (20 = retries add at most 20 % load).
    pub retry_percent: u32,
    /// Retries always allowed per window, however few calls were made, so that a quiet
    /// service can still retry.
    pub min_retries_per_window: u32,
    /// The accounting window; counts start from zero in each.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub window: Duration,
}

impl Default for RetryBudgetConfig {
    /// 20 % of calls plus 10 retries, per 10 s.
    fn default() -> Self {
        RetryBudgetConfig {
            retry_percent: 20,
            min_retries_per_window: 10,
            window: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    calls: u64,
    retries: u64,
}

/// Retries limited to a fraction of calls plus a floor, per time window. Thread-safe; share
/// one (in an `Arc`) among all callers of the same dependency.
pub struct RetryBudget {
    config: RetryBudgetConfig,
    clock: Arc<dyn Clock>,
    window: Mutex<Window>,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RetryBudget {
    /// A budget counting on `clock`.
    ///
    /// # Errors
    /// [`RetryConfigError::ZeroBudgetWindow`] for a zero window.
    pub fn new(config: RetryBudgetConfig, clock: Arc<dyn Clock>) -> Result<Self, RetryConfigError> {
        if config.window.is_zero() {
            return Err(RetryConfigError::ZeroBudgetWindow);
        }
        let started = clock.now();
        Ok(RetryBudget {
            config,
            clock,
            window: Mutex::new(Window {
                started,
                calls: 0,
                retries: 0,
            }),
        })
    }

    /// Counts a first attempt (not a retry).
    pub fn record_call(&self) {
        self.with_window(|w| w.calls = w.calls.saturating_add(1));
    }

    /// Takes one retry from the budget; `false` if it is spent for this window.
    pub fn try_spend_retry(&self) -> bool {
        let percent = u64::from(self.config.retry_percent);
        let floor = u64::from(self.config.min_retries_per_window);
        self.with_window(|w| {
            let allowed = floor.saturating_add(w.calls.saturating_mul(percent) / 100);
            if w.retries < allowed {
                w.retries += 1;
                true
            } else {
                false
            }
        })
    }

    fn with_window<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        let now = self.clock.now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= add_saturating(w.started, self.config.window) || now < w.started {
            *w = Window {
                started: now,
                calls: 0,
                retries: 0,
            };
        }
        f(&mut w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn budget(clock: &ManualClock) -> RetryBudget {
        let config = RetryBudgetConfig {
            retry_percent: 10,
            min_retries_per_window: 2,
            window: Duration::from_secs(10),
        };
        RetryBudget::new(config, Arc::new(clock.clone())).unwrap()
    }

    #[test]
    fn retries_are_capped_at_the_floor_plus_a_fraction_of_calls() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let budget = budget(&clock);
        assert!(budget.try_spend_retry());
        assert!(budget.try_spend_retry());
        assert!(!budget.try_spend_retry(), "the floor is spent");
        for _ in 0..20 {
            budget.record_call();
        }
        assert!(budget.try_spend_retry());
        assert!(budget.try_spend_retry());
        assert!(!budget.try_spend_retry(), "10 % of 20 calls is spent too");
        clock.advance(Duration::from_secs(10));
        assert!(budget.try_spend_retry(), "a new window starts afresh");
    }

    #[test]
    fn a_zero_window_is_refused() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let config = RetryBudgetConfig {
            window: Duration::ZERO,
            ..RetryBudgetConfig::default()
        };
        assert_eq!(
            RetryBudget::new(config, Arc::new(clock)).unwrap_err(),
            RetryConfigError::ZeroBudgetWindow
        );
    }

    #[test]
    fn the_budget_holds_under_parallel_callers() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let budget = Arc::new(budget(&clock));
        let spent: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..100).filter(|_| budget.try_spend_retry()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(spent, 2);
    }
}
