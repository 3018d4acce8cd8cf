//! How long Toss calls may take, and whether a retry policy fits the ten-minute confirm window.

use std::time::Duration;

use booking_core::policy::retry::RetryPolicy;

use crate::TossError;
use crate::gateway::IN_FLIGHT_DEADLINE;

/// Toss voids an authenticated payment not confirmed within this long.
pub const CONFIRM_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long a confirm may take, retries and the final look-up included, for
/// [`Timeouts::check_confirm_budget`]: half the window, so a slow confirm still lands well
/// inside it.
pub const CONFIRM_BUDGET: Duration = Duration::from_secs(5 * 60);

/// Timeouts of Toss calls.
///
/// Toss publishes no numbers. The defaults follow what merchants report: connections fail
/// fast (5 s), while a confirm or cancel waits on card networks and gets 60 s, because a short
/// read timeout turns approved payments into unknown outcomes. A look-up waits 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (TCP and TLS).
    pub connect: Duration,
    /// A whole confirm or cancel, connection included.
    pub post: Duration,
    /// A whole look-up, connection included.
    pub get: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            post: Duration::from_secs(60),
            get: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// The longest a confirm can take through [`TossGateway`](crate::TossGateway) under
    /// `policy`: every attempt at the POST timeout plus the time a request reported in flight
    /// is resent ([`IN_FLIGHT_DEADLINE`]), the longest wait between attempts, and one look-up
    /// to settle an unknown outcome at the end.
    pub fn worst_case_confirm(&self, policy: &RetryPolicy) -> Duration {
        let config = policy.config();
        let retries = config.max_attempts.saturating_sub(1);
        let longest_wait = config.max_delay.max(config.retry_after_cap);
        let attempt = self.post.saturating_add(IN_FLIGHT_DEADLINE);
        let attempts = attempt
            .saturating_mul(config.max_attempts)
            .saturating_add(longest_wait.saturating_mul(retries));
        let bounded = match config.deadline {
            // No wait ends past the deadline, so the last attempt starts before it.
            Some(deadline) => attempts.min(deadline.saturating_add(attempt)),
            None => attempts,
        };
        bounded.saturating_add(self.get)
    }

    /// Checks that a confirm under `policy` ends within [`CONFIRM_BUDGET`]; returns its worst
    /// case.
    ///
    /// # Errors
    /// [`TossError::Config`] saying how long it could take.
    pub fn check_confirm_budget(&self, policy: &RetryPolicy) -> Result<Duration, TossError> {
        let worst = self.worst_case_confirm(policy);
        if worst > CONFIRM_BUDGET {
            return Err(TossError::Config(format!(
                "a confirm could take {}s under this retry policy and these timeouts; Toss voids \
                 a payment {}s after authentication, so keep it under {}s",
                worst.as_secs(),
                CONFIRM_WINDOW.as_secs(),
                CONFIRM_BUDGET.as_secs()
            )));
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_stay_well_inside_the_window() {
        let worst = Timeouts::default()
            .check_confirm_budget(&RetryPolicy::payment())
            .unwrap();
        // 3 × (60 s + 5 s) + 2 × 10 s + 30 s.
        assert_eq!(worst, Duration::from_secs(245));
    }

    #[test]
    fn a_policy_that_could_outlast_the_window_is_refused() {
        let mut config = RetryPolicy::payment().config().clone();
        config.max_attempts = 10;
        let patient = RetryPolicy::new(config.clone()).unwrap();
        assert!(Timeouts::default().check_confirm_budget(&patient).is_err());
        config.deadline = Some(Duration::from_secs(60));
        let bounded = RetryPolicy::new(config).unwrap();
        assert_eq!(
            Timeouts::default().worst_case_confirm(&bounded),
            Duration::from_secs(155)
        );
    }
}
