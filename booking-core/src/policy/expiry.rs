//! When holds and payment windows end, how far a hold may be extended, and how the sweeper
//! paces itself: [`ExpiryPolicy`], pure functions of timestamps.
//!
//! Availability never waits for the sweeper: a hold past its expiry is free on the next read
//! ([`ExpiryPolicy::is_expired`]). The sweeper only tidies, and only once a deadline is older
//! than the grace period ([`ExpiryPolicy::sweep_cutoff`]), so a node whose clock runs a little
//! ahead does not expire what another node is still confirming.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Expiry settings as written in configuration (durations as `"10m"`, `"30s"`). Validated
/// into an [`ExpiryPolicy`] by [`ExpiryPolicy::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryPolicyConfig {
    /// How long a hold lasts from when it is placed or extended.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub hold_ttl: Duration,
    /// The most a hold can live from when it was first placed, extensions included, so an
    /// abandoned or malicious client cannot keep stock off sale forever.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub max_hold_lifetime: Duration,
    /// How long a started payment may take to be confirmed.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub payment_confirm_window: Duration,
    /// How long past a deadline the sweeper waits before acting on it (clock skew margin).
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub grace_period: Duration,
    /// How often the sweeper runs.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub sweep_interval: Duration,
    /// The most items one sweep handles, so one run never holds a long transaction.
    pub sweep_batch_size: u32,
}

impl Default for ExpiryPolicyConfig {
    /// Holds of 10 min (at most 30 min with extensions), a 10 min confirm window, 30 s grace,
    /// sweeps of up to 500 items every minute.
    fn default() -> Self {
        ExpiryPolicyConfig {
            hold_ttl: Duration::from_secs(10 * 60),
            max_hold_lifetime: Duration::from_secs(30 * 60),
            payment_confirm_window: Duration::from_secs(10 * 60),
            grace_period: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(60),
            sweep_batch_size: 500,
        }
    }
}

/// An [`ExpiryPolicyConfig`] that makes no sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryConfigError {
    /// `hold_ttl` is zero: every hold would be born expired.
    #[error("hold_ttl must be greater than zero")]
    ZeroHoldTtl,
    /// `max_hold_lifetime` is shorter than `hold_ttl`.
    #[error("max_hold_lifetime must be at least hold_ttl")]
    LifetimeBelowTtl,
    /// `payment_confirm_window` is zero.
    #[error("payment_confirm_window must be greater than zero")]
    ZeroConfirmWindow,
    /// `sweep_interval` is zero: the sweeper would spin.
    #[error("sweep_interval must be greater than zero")]
    ZeroSweepInterval,
    /// `sweep_batch_size` is zero: the sweeper would never expire anything.
    #[error("sweep_batch_size must be greater than zero")]
    ZeroBatchSize,
}

/// Why a deadline could not be computed or a hold not extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// The hold already expired: it cannot be extended, only placed again.
    #[error("the hold expired at {expired_at}")]
    HoldExpired {
        /// When it expired.
        expired_at: Timestamp,
    },
    /// The hold has reached its maximum lifetime: it cannot be extended further.
    #[error("the hold cannot live past {cap}")]
    LifetimeReached {
        /// The latest expiry the hold may have.
        cap: Timestamp,
    },
    /// The deadline falls outside the representable time range.
    #[error("the deadline is out of the representable time range")]
    OutOfRange,
}

/// A validated expiry policy. The default is [`ExpiryPolicyConfig::default`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ExpiryPolicyConfig", into = "ExpiryPolicyConfig")]
pub struct ExpiryPolicy {
    config: ExpiryPolicyConfig,
}

impl ExpiryPolicy {
    /// Checks `config`.
    ///
    /// # Errors
    /// [`ExpiryConfigError`] naming the first nonsensical field.
    pub fn new(config: ExpiryPolicyConfig) -> Result<Self, ExpiryConfigError> {
        if config.hold_ttl.is_zero() {
            return Err(ExpiryConfigError::ZeroHoldTtl);
        }
        if config.max_hold_lifetime < config.hold_ttl {
            return Err(ExpiryConfigError::LifetimeBelowTtl);
        }
        if config.payment_confirm_window.is_zero() {
            return Err(ExpiryConfigError::ZeroConfirmWindow);
        }
        if config.sweep_interval.is_zero() {
            return Err(ExpiryConfigError::ZeroSweepInterval);
        }
        if config.sweep_batch_size == 0 {
            return Err(ExpiryConfigError::ZeroBatchSize);
        }
        Ok(ExpiryPolicy { config })
    }

    /// The checked configuration.
    pub fn config(&self) -> &ExpiryPolicyConfig {
        &self.config
    }

    /// When a hold placed at `held_at` expires.
    ///
    /// # Errors
    /// [`ExpiryError::OutOfRange`] if that is past the largest timestamp.
    pub fn hold_expires_at(&self, held_at: Timestamp) -> Result<Timestamp, ExpiryError> {
        add(held_at, self.config.hold_ttl)
    }

    /// The new expiry of a hold placed at `held_at`, now expiring at `expires_at`, extended
    /// at `now`: a full TTL from now, but never past `held_at + max_hold_lifetime`.
    ///
    /// # Errors
    /// [`ExpiryError::HoldExpired`] if `now` is at or past `expires_at`;
    /// [`ExpiryError::LifetimeReached`] if the extension would not move the expiry forward.
    pub fn extend_hold(
        &self,
        held_at: Timestamp,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Timestamp, ExpiryError> {
        if self.is_expired(expires_at, now) {
            return Err(ExpiryError::HoldExpired {
                expired_at: expires_at,
            });
        }
        let cap = add(held_at, self.config.max_hold_lifetime)?;
        let wanted = add(now, self.config.hold_ttl)?.min(cap);
        if wanted <= expires_at {
            return Err(ExpiryError::LifetimeReached { cap });
        }
        Ok(wanted)
    }

    /// When a payment started at `started_at` must be confirmed by.
    ///
    /// # Errors
    /// [`ExpiryError::OutOfRange`] if that is past the largest timestamp.
    pub fn confirm_deadline(&self, started_at: Timestamp) -> Result<Timestamp, ExpiryError> {
        add(started_at, self.config.payment_confirm_window)
    }

    /// Whether something due at `deadline` has expired at `now` (for reads: no grace).
    pub fn is_expired(&self, deadline: Timestamp, now: Timestamp) -> bool {
        now >= deadline
    }

    /// The sweeper at `now` may expire what was due at or before this instant (`now` minus
    /// the grace period).
    pub fn sweep_cutoff(&self, now: Timestamp) -> Timestamp {
        now.checked_sub(self.config.grace_period)
            .unwrap_or(Timestamp::MIN)
    }
}

fn add(at: Timestamp, by: Duration) -> Result<Timestamp, ExpiryError> {
    at.checked_add(by).map_err(|_| ExpiryError::OutOfRange)
}

impl TryFrom<ExpiryPolicyConfig> for ExpiryPolicy {
    type Error = ExpiryConfigError;

    fn try_from(config: ExpiryPolicyConfig) -> Result<Self, ExpiryConfigError> {
        ExpiryPolicy::new(config)
    }
}

impl From<ExpiryPolicy> for ExpiryPolicyConfig {
    fn from(policy: ExpiryPolicy) -> Self {
        policy.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn at(minutes: u64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(MIN * u32::try_from(minutes).unwrap())
            .unwrap()
    }

    #[test]
    fn holds_expire_after_the_ttl_and_are_free_on_read() {
        let policy = ExpiryPolicy::default();
        let expires = policy.hold_expires_at(at(0)).unwrap();
        assert_eq!(expires, at(10));
        assert!(!policy.is_expired(
            expires,
            at(10).checked_sub(Duration::from_nanos(1)).unwrap()
        ));
        assert!(policy.is_expired(expires, at(10)));
        assert_eq!(policy.confirm_deadline(at(3)).unwrap(), at(13));
    }

    #[test]
    fn extensions_stop_at_the_maximum_lifetime() {
        let policy = ExpiryPolicy::default();
        assert_eq!(policy.extend_hold(at(0), at(10), at(9)).unwrap(), at(19));
        assert_eq!(policy.extend_hold(at(0), at(19), at(18)).unwrap(), at(28));
        assert_eq!(policy.extend_hold(at(0), at(28), at(27)).unwrap(), at(30));
        assert_eq!(
            policy.extend_hold(at(0), at(30), at(29)),
            Err(ExpiryError::LifetimeReached { cap: at(30) })
        );
        assert_eq!(
            policy.extend_hold(at(0), at(10), at(10)),
            Err(ExpiryError::HoldExpired { expired_at: at(10) })
        );
    }

    #[test]
    fn the_sweeper_waits_out_the_grace_period() {
        let policy = ExpiryPolicy::default();
        let cutoff = policy.sweep_cutoff(at(10));
        assert_eq!(cutoff, at(10).checked_sub(Duration::from_secs(30)).unwrap());
        assert_eq!(policy.sweep_cutoff(Timestamp::MIN), Timestamp::MIN);
    }

    #[test]
    fn deadlines_past_the_end_of_time_are_errors() {
        let policy = ExpiryPolicy::default();
        assert_eq!(
            policy.hold_expires_at(Timestamp::MAX),
            Err(ExpiryError::OutOfRange)
        );
    }

    #[test]
    fn nonsense_configs_are_typed_errors() {
        let bad = |f: fn(&mut ExpiryPolicyConfig)| {
            let mut c = ExpiryPolicyConfig::default();
            f(&mut c);
            ExpiryPolicy::new(c).unwrap_err()
        };
        assert_eq!(
            bad(|c| c.hold_ttl = Duration::ZERO),
            ExpiryConfigError::ZeroHoldTtl
        );
        assert_eq!(
            bad(|c| c.max_hold_lifetime = MIN),
            ExpiryConfigError::LifetimeBelowTtl
        );
        assert_eq!(
            bad(|c| c.payment_confirm_window = Duration::ZERO),
            ExpiryConfigError::ZeroConfirmWindow
        );
        assert_eq!(
            bad(|c| c.sweep_interval = Duration::ZERO),
            ExpiryConfigError::ZeroSweepInterval
        );
        assert_eq!(
            bad(|c| c.sweep_batch_size = 0),
            ExpiryConfigError::ZeroBatchSize
        );
    }

    #[test]
    fn configs_read_as_friendly_text_and_are_checked() {
        let policy: ExpiryPolicy = serde_json::from_str(
            r#"{"hold_ttl":"5m","max_hold_lifetime":"15m","payment_confirm_window":"10m",
                "grace_period":"30s","sweep_interval":"1m","sweep_batch_size":100}"#,
        )
        .unwrap();
        assert_eq!(policy.config().hold_ttl, 5 * MIN);
        let back = serde_json::to_string(&policy).unwrap();
        assert!(back.contains(r#""hold_ttl":"5m""#), "{back}");
        assert!(serde_json::from_str::<ExpiryPolicy>(&back.replace("100", "0")).is_err());
    }
}
