//! The delays between attempts: pure, and reproducible from a seed.

use std::time::Duration;

use num_bigint::BigUint;
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
    /// `base × (multiplier/100)^(retry-1)`, capped at `max_delay`. Exact: the product is
    /// rounded down to the nanosecond once, not at each retry, so the 9th delay of 333 ms
    /// growing by 150 % is 8.534425781 s, not a few nanoseconds less.
    ///
    /// ```
    /// use std::time::Duration;
    /// use booking_core::policy::retry::{Backoff, Jitter, RetryPolicy, RetryPolicyConfig};
    ///
    /// let policy = RetryPolicy::new(RetryPolicyConfig {
    ///     max_attempts: 10,
    ///     base_delay: Duration::from_millis(333),
    ///     multiplier_percent: 150,
    ///     max_delay: Duration::from_secs(60),
    ///     jitter: Jitter::None,
    ///     deadline: None,
    ///     retry_after_cap: Duration::ZERO,
    /// })?;
    /// let backoff = Backoff::new(&policy, 0);
    /// assert_eq!(backoff.ceiling(9), Duration::from_nanos(8_534_425_781));
    /// # Ok::<(), booking_core::policy::retry::RetryConfigError>(())
    /// ```
    pub fn ceiling(&self, retry: u32) -> Duration {
        let c = self.policy.config();
        duration(exponential(
            nanos(c.base_delay),
            c.multiplier_percent,
            retry.saturating_sub(1),
            nanos(c.max_delay),
        ))
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

/// `base × (percent / 100)^steps` rounded down, or `max` when that is at least `max`.
///
/// The numerator `base × percent^steps` and the denominator `100^steps` are kept whole and
/// divided once. They outgrow any fixed-width integer long before the delay is long (from
/// 200 ms, 110 % passes `u128` at the 15th step, at 0.84 s), hence big integers. The loop stops at the
/// cap, which a multiplier above 100 % reaches within 6,400 steps whatever `steps` says:
/// `1.01^100 >= 2`, so 6,400 steps multiply by at least `2^64`, more than `max / base`.
fn exponential(base: u64, percent: u32, steps: u32, max: u64) -> u64 {
    if base == 0 || percent <= 100 {
        return base.min(max);
    }
    let mut numerator = BigUint::from(base);
    let mut denominator = BigUint::from(1_u32);
    for _ in 0..steps {
        if numerator >= &denominator * max {
            return max;
        }
        numerator *= percent;
        denominator *= 100_u32;
    }
    // A quotient too large for a u64 is past the cap, since `max` fits one.
    u64::try_from(numerator / denominator).map_or(max, |delay| delay.min(max))
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
            max_attempts in 1u32..40,
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
            let mut previous = c.base_delay;
            while let Some(delay) = backoff.next_delay() {
                count += 1;
                let ceiling = backoff.ceiling(count);
                prop_assert!(ceiling <= c.max_delay);
                prop_assert!(delay <= c.max_delay);
                match c.jitter {
                    Jitter::None => prop_assert_eq!(delay, ceiling),
                    Jitter::Full => prop_assert!(delay <= ceiling),
                    Jitter::Equal => prop_assert!(delay >= ceiling / 2 && delay <= ceiling),
                    Jitter::Decorrelated => {
                        let high = (previous * 3).max(c.base_delay).min(c.max_delay);
                        prop_assert!(delay >= c.base_delay && delay <= high);
                    }
                }
                previous = delay;
            }
            prop_assert_eq!(count, c.max_attempts - 1);
        }

        /// The definition of rounding down, checked on whole numbers: below the cap,
        /// `d × 100^(n-1) <= base × multiplier^(n-1) < (d + 1) × 100^(n-1)`.
        #[test]
        fn every_ceiling_is_the_exact_delay_rounded_down(policy in policy(), retry in 1u32..80) {
            let c = policy.config().clone();
            let delay = BigUint::from(nanos(Backoff::new(&policy, 0).ceiling(retry)));
            let max = BigUint::from(nanos(c.max_delay));
            let product = BigUint::from(nanos(c.base_delay)) * BigUint::from(c.multiplier_percent).pow(retry - 1);
            let scale = BigUint::from(100_u32).pow(retry - 1);
            if delay < max {
                prop_assert!(&delay * &scale <= product);
                prop_assert!(product < (delay + 1_u32) * scale);
            } else {
                prop_assert_eq!(&delay, &max);
                prop_assert!(product >= max * scale);
            }
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

    /// A schedule without jitter from `base` growing by `percent`, capped at `max`.
    fn ceilings(base: Duration, percent: u32, max: Duration) -> Backoff {
        let policy = RetryPolicy::new(RetryPolicyConfig {
            max_attempts: u32::MAX,
            base_delay: base,
            multiplier_percent: percent,
            max_delay: max,
            jitter: Jitter::None,
            deadline: None,
            retry_after_cap: Duration::ZERO,
        })
        .unwrap();
        Backoff::new(&policy, 0)
    }

    fn nanos_of(backoff: &Backoff, retries: impl IntoIterator<Item = u32>) -> Vec<u64> {
        retries
            .into_iter()
            .map(|n| nanos(backoff.ceiling(n)))
            .collect()
    }

    #[test]
    fn delays_are_rounded_once_not_at_every_retry() {
        // 333 ms × 1.5^(n-1). Rounding at each retry would give 8_534_425_780 at the 9th and
        // fall further behind after it (…670, …005, …007).
        let backoff = ceilings(Duration::from_millis(333), 150, Duration::from_secs(3_600));
        assert_eq!(
            nanos_of(&backoff, 1..=12),
            [
                333_000_000,
                499_500_000,
                749_250_000,
                1_123_875_000,
                1_685_812_500,
                2_528_718_750,
                3_793_078_125,
                5_689_617_187,
                8_534_425_781,
                12_801_638_671,
                19_202_458_007,
                28_803_687_011,
            ]
        );
        // From 1 ns, rounding at each retry would never leave 1 ns.
        let backoff = ceilings(Duration::from_nanos(1), 150, Duration::from_secs(1));
        assert_eq!(
            nanos_of(&backoff, 1..=15),
            [1, 1, 2, 3, 5, 7, 11, 17, 25, 38, 57, 86, 129, 194, 291]
        );
    }

    #[test]
    fn long_slow_schedules_stay_exact_past_fixed_width_integers() {
        // 110^39 × 200,000,000 is past u128; rounding per step would be 59 ns short at the 40th.
        let backoff = ceilings(Duration::from_millis(200), 110, Duration::from_secs(60));
        assert_eq!(
            nanos_of(&backoff, [30, 35, 40, 41]),
            [3_172_618_594, 5_109_533_972, 8_228_955_557, 9_051_851_113]
        );
        let backoff = ceilings(Duration::from_nanos(3), 101, Duration::from_secs(60));
        assert_eq!(nanos_of(&backoff, [29, 30, 100, 1_000]), [3, 4, 8, 62_254]);
    }

    #[test]
    fn a_distant_cap_is_reached_exactly_and_held() {
        // 1 ns × 1.01^(n-1) first passes u64::MAX nanoseconds at n = 4,460.
        let backoff = ceilings(Duration::from_nanos(1), 101, Duration::MAX);
        assert_eq!(
            nanos_of(&backoff, [4_459, 4_460, u32::MAX]),
            [18_394_344_799_681_060_672, u64::MAX, u64::MAX]
        );
    }
}
