//! [`TimeSlotAdmission`]: a waiting room with no server-side state.
//!
//! When every buyer gets an arrival sequence number (from a counter: an atomic increment in
//! Redis or a database sequence), their entry time follows from it alone:
//! `opens_at + (sequence / per_cycle) × cycle`. Buyers 0..per_cycle enter at `opens_at`, the
//! next `per_cycle` one cycle later, and so on. Any node can answer "may this buyer enter
//! now?" without asking anyone, which is what a sale under load needs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Why a [`TimeSlotAdmission`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionPolicyError {
    /// `per_cycle` was zero: nobody would ever enter.
    #[error("capacity per cycle must be at least 1")]
    ZeroCapacity,
    /// `cycle` was zero: everyone would enter at once, which is no admission control.
    #[error("cycle length must be positive")]
    ZeroCycle,
}

/// Entry times computed from arrival order: `per_cycle` buyers enter every `cycle`.
///
/// ```
/// use std::time::Duration;
/// use booking_core::clock::Timestamp;
/// use booking_core::policy::admission::TimeSlotAdmission;
///
/// let opens = Timestamp::from_second(1_000)?;
/// let slots = TimeSlotAdmission::new(opens, 50, Duration::from_secs(10))?;
/// assert_eq!(slots.entry_time(0), opens);
/// assert_eq!(slots.entry_time(49), opens);
/// assert_eq!(slots.entry_time(50).as_second(), 1_010);
/// assert!(!slots.may_enter(120, Timestamp::from_second(1_015)?));
/// assert!(slots.may_enter(120, Timestamp::from_second(1_020)?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TimeSlotConfig", into = "TimeSlotConfig")]
pub struct TimeSlotAdmission {
    opens_at: Timestamp,
    per_cycle: u32,
    cycle: Duration,
}

/// The serialized form of [`TimeSlotAdmission`], validated on the way in.
#[derive(Serialize, Deserialize)]
struct TimeSlotConfig {
    opens_at: Timestamp,
    per_cycle: u32,
    cycle_ms: u64,
}

impl TryFrom<TimeSlotConfig> for TimeSlotAdmission {
    type Error = AdmissionPolicyError;

    fn try_from(c: TimeSlotConfig) -> Result<Self, Self::Error> {
        TimeSlotAdmission::new(c.opens_at, c.per_cycle, Duration::from_millis(c.cycle_ms))
    }
}

impl From<TimeSlotAdmission> for TimeSlotConfig {
    fn from(p: TimeSlotAdmission) -> Self {
        TimeSlotConfig {
            opens_at: p.opens_at,
            per_cycle: p.per_cycle,
            cycle_ms: u64::try_from(p.cycle.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl TimeSlotAdmission {
    /// `per_cycle` buyers enter every `cycle`, starting at `opens_at`.
    pub fn new(
        opens_at: Timestamp,
        per_cycle: u32,
        cycle: Duration,
    ) -> Result<Self, AdmissionPolicyError> {
        if per_cycle == 0 {
            return Err(AdmissionPolicyError::ZeroCapacity);
        }
        if cycle.is_zero() {
            return Err(AdmissionPolicyError::ZeroCycle);
        }
        Ok(TimeSlotAdmission {
            opens_at,
            per_cycle,
            cycle,
        })
    }

    /// The 0-based cycle in which the buyer with arrival `sequence` enters.
    pub fn cycle_of(&self, sequence: u64) -> u64 {
        sequence
            .checked_div(u64::from(self.per_cycle))
            .unwrap_or(u64::MAX)
    }

    /// When the buyer with 0-based arrival `sequence` may enter. Saturates at the largest
    /// representable instant for absurd sequences rather than failing.
    pub fn entry_time(&self, sequence: u64) -> Timestamp {
        let cycles = u32::try_from(self.cycle_of(sequence)).unwrap_or(u32::MAX);
        self.cycle
            .checked_mul(cycles)
            .and_then(|wait| self.opens_at.checked_add(wait).ok())
            .unwrap_or(Timestamp::MAX)
    }

    /// Whether the buyer with arrival `sequence` may enter at `now`.
    pub fn may_enter(&self, sequence: u64, now: Timestamp) -> bool {
        now >= self.entry_time(sequence)
    }

    /// How long the buyer with arrival `sequence` still has to wait at `now` (zero if they may
    /// enter).
    pub fn wait(&self, sequence: u64, now: Timestamp) -> Duration {
        let entry = self.entry_time(sequence);
        if now >= entry {
            return Duration::ZERO;
        }
        now.duration_until(entry).unsigned_abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn nonsense_configs_are_refused() {
        assert_eq!(
            TimeSlotAdmission::new(at(0), 0, Duration::from_secs(1)),
            Err(AdmissionPolicyError::ZeroCapacity)
        );
        assert_eq!(
            TimeSlotAdmission::new(at(0), 1, Duration::ZERO),
            Err(AdmissionPolicyError::ZeroCycle)
        );
        let bad = r#"{"opens_at":"2026-11-23T10:00:00Z","per_cycle":0,"cycle_ms":1000}"#;
        assert!(serde_json::from_str::<TimeSlotAdmission>(bad).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let p = TimeSlotAdmission::new(at(1_000), 50, Duration::from_secs(10)).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<TimeSlotAdmission>(&json).unwrap(), p);
    }

    #[test]
    fn huge_sequences_saturate_instead_of_panicking() {
        let p = TimeSlotAdmission::new(at(0), 1, Duration::from_secs(3_600)).unwrap();
        assert_eq!(p.entry_time(u64::MAX), Timestamp::MAX);
        assert!(!p.may_enter(u64::MAX, at(10_000_000)));
    }

    #[test]
    fn wait_counts_down_to_zero() {
        let p = TimeSlotAdmission::new(at(100), 10, Duration::from_secs(5)).unwrap();
        assert_eq!(p.wait(25, at(100)), Duration::from_secs(10));
        assert_eq!(p.wait(25, at(107)), Duration::from_secs(3));
        assert_eq!(p.wait(25, at(110)), Duration::ZERO);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Exactly `per_cycle` arrivals share each entry time, and later arrivals never enter
        /// earlier than earlier ones.
        #[test]
        fn slots_are_fair_and_full(per_cycle in 1_u32..200, seq in 0_u64..1_000_000) {
            let p = TimeSlotAdmission::new(at(0), per_cycle, Duration::from_secs(7)).unwrap();
            prop_assert!(p.entry_time(seq) <= p.entry_time(seq + 1));
            let first_of_cycle = p.cycle_of(seq) * u64::from(per_cycle);
            prop_assert_eq!(p.entry_time(first_of_cycle), p.entry_time(seq));
            let next_cycle = first_of_cycle + u64::from(per_cycle);
            prop_assert!(p.entry_time(next_cycle) > p.entry_time(seq));
            prop_assert!(p.may_enter(seq, p.entry_time(seq)));
        }
    }
}
