//! The delays between attempts: pure, and reproducible from a seed.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{Jitter, RetryPolicy};

/// The schedule of delays of one retried operation.
///
/// [`next_delay`](Self::next_delay) yields `max_attempts - 1` delays, then `None`. The same
/// policy and seed always give the same schedule.
///
/// ```
/// use std::time::Duration;
/// use booking_core::policy::retry::{Backoff, RetryPolicy};
///
/// let mut backoff = Backoff::new(&RetryPolicy::payment(), 7);
/// assert_eq!(backoff.next_delay(), Some(Duration::from_secs(2)));
/// assert_eq!(backoff.next_delay(), Some(Duration::from_secs(4)));
/// assert_eq!(backoff.next_delay(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: SmallRng,
    retries: u32,
    previous: Duration,
}

impl Backoff {
    /// A fresh schedule for `policy`, randomised from `seed`.
    pub fn new(policy: &RetryPolicy, seed: u64) -> Self {
        Backoff {
            policy: policy.clone(),
            rng: SmallRng::seed_from_u64(seed),
            retries: 0,
            previous: policy.config().base_delay,
        }
    }

    /// The un-jittered delay before retry number `retry` (1 = the first retry):
    /// `base × (multiplier/100)^(retry-1)`, capped at `max_delay`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let c = self.policy.config();
        let max = u128::from(nanos(c.max_delay));
        let mut delay = u128::from(nanos(c.base_delay));
        let growth = u128::from(c.multiplier_percent);
        for _ in 1..retry {
            if delay >= max || delay == 0 || growth == 100 {
                break;
            }
            delay = delay.saturating_mul(growth) / 100;
        }
        // `max` came from a u64, so the minimum fits one.
        duration(u64::try_from(delay.min(max)).unwrap_or(u64::MAX))
    }

    /// The delay before the next retry, or `None` when the attempts are used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let c = self.policy.config();
        let next = self.retries.checked_add(1)?;
        if next >= c.max_attempts {
            return None;
        }
        self.retries = next;
        let ceiling = nanos(self.ceiling(next));
        let delay = match c.jitter {
            Jitter::None => ceiling,
            Jitter::Full => self.rng.random_range(0..=ceiling),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + self.rng.random_range(0..=ceiling - half)
            }
            Jitter::Decorrelated => {
                let base = nanos(c.base_delay);
                let high = nanos(self.previous).saturating_mul(3).max(base);
                self.rng.random_range(base..=high).min(nanos(c.max_delay))
            }
        };
        self.previous = duration(delay);
        Some(self.previous)
    }
}

/// Nanoseconds, saturating at about 584 years, far past any sane delay.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn duration(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::RetryPolicyConfig;
    use super::*;

    fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated),
        ]
    }

    prop_compose! {
        fn policy()(
            max_attempts in 1u32..12,
            base_ms in 0u64..5_000,
            extra_ms in 0u64..60_000,
            multiplier_percent in 100u32..400,
            jitter in jitter(),
        ) -> RetryPolicy {
            RetryPolicy::new(RetryPolicyConfig {
                max_attempts,
                base_delay: Duration::from_millis(base_ms),
                multiplier_percent,
                max_delay: Duration::from_millis(base_ms + extra_ms),
                jitter,
                deadline: None,
                retry_after_cap: Duration::ZERO,
            }).unwrap()
        }
    }

    proptest! {
        #[test]
        fn every_delay_stays_within_its_jitter_bounds(policy in policy(), seed: u64) {
            let c = policy.config().clone();
            let mut backoff = Backoff::new(&policy, seed);
            let mut count = 0;
            while let Some(delay) = backoff.next_delay() {
                count += 1;
                let ceiling = backoff.ceiling(count);
                prop_assert!(ceiling <= c.max_delay);
                prop_assert!(delay <= c.max_delay);
                match c.jitter {
                    Jitter::None => prop_assert_eq!(delay, ceiling),
                    Jitter::Full => prop_assert!(delay <= ceiling),
                    Jitter::Equal => prop_assert!(delay >= ceiling / 2 && delay <= ceiling),
                    Jitter::Decorrelated => prop_assert!(delay >= c.base_delay),
                }
            }
            prop_assert_eq!(count, c.max_attempts - 1);
        }

        #[test]
        fn ceilings_never_shrink(policy in policy()) {
            let backoff = Backoff::new(&policy, 0);
            for retry in 1..20 {
                prop_assert!(backoff.ceiling(retry) <= backoff.ceiling(retry + 1));
            }
        }

        #[test]
        fn a_seed_replays_the_same_schedule(policy in policy(), seed: u64) {
            let run = || {
                let mut b = Backoff::new(&policy, seed);
                std::iter::from_fn(|| b.next_delay()).collect::<Vec<_>>()
            };
            prop_assert_eq!(run(), run());
        }
    }

    #[test]
    fn huge_settings_saturate_instead_of_overflowing() {
        let policy = RetryPolicy::new(RetryPolicyConfig {
            max_attempts: u32::MAX,
            base_delay: Duration::from_secs(1),
            multiplier_percent: u32::MAX,
            max_delay: Duration::MAX,
            jitter: Jitter::Decorrelated,
            deadline: None,
            retry_after_cap: Duration::ZERO,
        })
        .unwrap();
        let mut backoff = Backoff::new(&policy, 1);
        for _ in 0..100 {
            assert!(backoff.next_delay().is_some());
        }
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_nanos(u64::MAX));
    }
}
