//! Retrying failed calls: a [`RetryPolicy`] (data), a [`RetryClassifier`] (which errors are
//! worth another try), a shared [`RetryBudget`] (so retries cannot multiply an outage) and the
//! [`Retrier`] that runs an operation under all three.
//!
//! The one rule that matters with money: an error whose outcome is unknown (a timeout after
//! the request was sent) is [`RetryDecision::Reconcile`], never a retry. Find out what
//! happened (look the payment up) before doing anything again. See `docs/retry.md`.
//!
//! ```
//! use booking_core::policy::retry::{Jitter, RetryPolicy, RetryPolicyConfig};
//!
//! let config: RetryPolicyConfig = serde_json::from_str(r#"{
//!     "max_attempts": 4, "base_delay": "200ms", "multiplier_percent": 200,
//!     "max_delay": "5s", "jitter": "full", "deadline": "20s", "retry_after_cap": "30s"
//! }"#).unwrap();
//! let policy = RetryPolicy::new(config).unwrap();
//! assert_eq!(policy.config().jitter, Jitter::Full);
//! ```

mod budget;
mod executor;
mod schedule;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use budget::{RetryBudget, RetryBudgetConfig};
pub use executor::{
    GaveUp, Retrier, RetryClassifier, RetryDecision, RetryError, classify_http_status,
};
pub use schedule::Backoff;

/// How a delay is randomised, to keep many clients from retrying in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly the exponential delay: predictable, and synchronised across clients.
    None,
    /// Uniform in `[0, d]`: the least contention, sometimes almost no wait.
    Full,
    /// Uniform in `[d/2, d]`: always waits at least half.
    Equal,
    /// Uniform in `[base, 3 × previous delay]`, capped at `max_delay`: spreads well and
    /// does not need the attempt number.
    Decorrelated,
}

/// A retry policy as written in configuration. Durations are human-friendly strings
/// (`"2s"`, `"500ms"`, `"1m 30s"`); unknown fields are refused so typos do not pass silently.
/// Validated into a [`RetryPolicy`] by [`RetryPolicy::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicyConfig {
    /// Attempts in total, the first included. At least 1 (1 = never retry).
    pub max_attempts: u32,
    /// The delay before the first retry.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub base_delay: Duration,
    /// Growth of the delay per retry in percent: 100 keeps it constant, 200 doubles it,
    /// 150 grows it by half. At least 100. An integer, so schedules are exact.
    pub multiplier_percent: u32,
    /// The longest delay between two attempts. At least `base_delay`.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub max_delay: Duration,
    /// How delays are randomised.
    pub jitter: Jitter,
    /// Give up rather than wait past this much time after the first attempt started.
    #[serde(
        default,
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional"
    )]
    pub deadline: Option<Duration>,
    /// A server's `Retry-After` is honoured up to this; asked to wait longer, the retrier
    /// gives up instead of retrying early. Zero: never retry when a wait is requested.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub retry_after_cap: Duration,
}

/// A [`RetryPolicyConfig`] that makes no sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryConfigError {
    /// `max_attempts` is 0: there must be at least the first attempt.
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// `multiplier_percent` below 100 would shrink delays.
    #[error("multiplier_percent must be at least 100, got {0}")]
    ShrinkingMultiplier(u32),
    /// `max_delay` is below `base_delay`.
    #[error("max_delay must be at least base_delay")]
    MaxDelayBelowBase,
    /// A deadline of zero leaves no time for any retry; leave it out instead.
    #[error("deadline must be greater than zero (omit it for no deadline)")]
    ZeroDeadline,
    /// A retry budget over a zero-length window.
    #[error("a retry budget window must be greater than zero")]
    ZeroBudgetWindow,
}

/// A validated retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RetryPolicyConfig", into = "RetryPolicyConfig")]
pub struct RetryPolicy {
    config: RetryPolicyConfig,
}

impl RetryPolicy {
    /// Checks `config`.
    ///
    /// # Errors
    /// [`RetryConfigError`] naming the first nonsensical field.
    pub fn new(config: RetryPolicyConfig) -> Result<Self, RetryConfigError> {
        if config.max_attempts == 0 {
            return Err(RetryConfigError::ZeroAttempts);
        }
        if config.multiplier_percent < 100 {
            return Err(RetryConfigError::ShrinkingMultiplier(
                config.multiplier_percent,
            ));
        }
        if config.max_delay < config.base_delay {
            return Err(RetryConfigError::MaxDelayBelowBase);
        }
        if config.deadline == Some(Duration::ZERO) {
            return Err(RetryConfigError::ZeroDeadline);
        }
        Ok(RetryPolicy { config })
    }

    /// The payment-gateway preset: 3 attempts in all, 2 s then 4 s apart (×2, no jitter,
    /// capped at 8 s), a server's `Retry-After` honoured up to 10 s. Pair it with a classifier
    /// that stops on client errors and reconciles unknown outcomes, such as one built on
    /// [`classify_http_status`].
    pub fn payment() -> Self {
        RetryPolicy {
            config: RetryPolicyConfig {
                max_attempts: 3,
                base_delay: Duration::from_secs(2),
                multiplier_percent: 200,
                max_delay: Duration::from_secs(8),
                jitter: Jitter::None,
                deadline: None,
                retry_after_cap: Duration::from_secs(10),
            },
        }
    }

    /// Never retry: one attempt.
    pub fn never() -> Self {
        RetryPolicy {
            config: RetryPolicyConfig {
                max_attempts: 1,
                base_delay: Duration::ZERO,
                multiplier_percent: 100,
                max_delay: Duration::ZERO,
                jitter: Jitter::None,
                deadline: None,
                retry_after_cap: Duration::ZERO,
            },
        }
    }

    /// The checked configuration.
    pub fn config(&self) -> &RetryPolicyConfig {
        &self.config
    }
}

impl TryFrom<RetryPolicyConfig> for RetryPolicy {
    type Error = RetryConfigError;

    fn try_from(config: RetryPolicyConfig) -> Result<Self, RetryConfigError> {
        RetryPolicy::new(config)
    }
}

impl From<RetryPolicy> for RetryPolicyConfig {
    fn from(policy: RetryPolicy) -> Self {
        policy.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_through_friendly_config() {
        let json = serde_json::to_string(&RetryPolicy::payment()).unwrap();
        assert!(json.contains(r#""base_delay":"2s""#), "{json}");
        let back: RetryPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, RetryPolicy::payment());
    }

    #[test]
    fn nonsense_configs_are_typed_errors() {
        let good = RetryPolicy::payment().config().clone();
        let bad = |f: fn(&mut RetryPolicyConfig)| {
            let mut c = good.clone();
            f(&mut c);
            RetryPolicy::new(c).unwrap_err()
        };
        assert_eq!(bad(|c| c.max_attempts = 0), RetryConfigError::ZeroAttempts);
        assert_eq!(
            bad(|c| c.multiplier_percent = 99),
            RetryConfigError::ShrinkingMultiplier(99)
        );
        assert_eq!(
            bad(|c| c.max_delay = Duration::from_secs(1)),
            RetryConfigError::MaxDelayBelowBase
        );
        assert_eq!(
            bad(|c| c.deadline = Some(Duration::ZERO)),
            RetryConfigError::ZeroDeadline
        );
        let typo = r#"{"max_attempts":3,"base_delay":"1s","multiplier_percent":200,
            "max_delay":"1s","jitter":"none","retry_after_cap":"1s","max_attempt":3}"#;
        assert!(serde_json::from_str::<RetryPolicy>(typo).is_err());
        let invalid = r#"{"max_attempts":0,"base_delay":"1s","multiplier_percent":200,
            "max_delay":"1s","jitter":"none","retry_after_cap":"1s"}"#;
        assert!(serde_json::from_str::<RetryPolicy>(invalid).is_err());
    }
}
