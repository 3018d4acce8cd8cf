//! Instants and durations as the scripts take them.
//!
//! Deadlines are the caller's: every script gets `now` (and any deadline) as an argument
//! from the port's [`Clock`](booking_core::clock::Clock) or the caller, never from Redis's
//! clock, so leases, retention and admissions move with the clock the application (or a
//! test) runs on. Instants travel as decimal nanoseconds since the Unix epoch and are
//! compared exactly in Lua (Lua's numbers are doubles, exact only to 2^53). Sorted sets score
//! instants in whole microseconds, which doubles hold exactly until the year 2255; the scripts
//! use those scores only to find candidates and re-check the exact instant.
//!
//! Real-time expiry (`PX`, `PEXPIRE`) is only a garbage-collection bound, set no shorter than
//! the logical lifetime: a key Redis drops has already ended on any clock that runs at real
//! speed.

use std::time::Duration;

use booking_core::clock::Timestamp;

/// The longest real-time expiry set on a key: 100 years, far inside Redis's limits.
const MAX_PX_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// An instant Redis cannot hold: before 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BeforeEpoch;

/// `at` as the decimal nanoseconds the scripts compare.
pub(crate) fn nanos(at: Timestamp) -> Result<String, BeforeEpoch> {
    let ns = at.as_nanosecond();
    if ns < 0 {
        return Err(BeforeEpoch);
    }
    Ok(ns.to_string())
}

/// `text` (decimal nanoseconds as stored) as an instant.
pub(crate) fn instant(text: &str) -> Option<Timestamp> {
    let ns: i128 = text.parse().ok()?;
    Timestamp::from_nanosecond(ns).ok()
}

/// The sorted-set score of a deadline: whole microseconds, rounded up (a score never says a
/// deadline passed before it did).
pub(crate) fn score_up(at: Timestamp) -> String {
    let ns = at.as_nanosecond().max(0);
    ns.div_euclid(1_000)
        .saturating_add(i128::from(ns.rem_euclid(1_000) > 0))
        .to_string()
}

/// The sorted-set score of `now`: whole microseconds, rounded down, so that every member
/// scored at or below it is due at `now`.
pub(crate) fn score_down(now: Timestamp) -> String {
    now.as_nanosecond().max(0).div_euclid(1_000).to_string()
}

/// A real-time expiry in milliseconds no shorter than `span`: rounded up, at least 1 ms,
/// at most 100 years.
pub(crate) fn px(span: Duration) -> u64 {
    let ms = span.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_PX_MS)
}

/// The real-time expiry of something that lasts until `until` on a clock now at `now`.
pub(crate) fn px_until(now: Timestamp, until: Timestamp) -> u64 {
    px(Duration::try_from(until.duration_since(now)).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: i128) -> Timestamp {
        Timestamp::from_nanosecond(ns).unwrap()
    }

    #[test]
    fn instants_round_trip_exactly_and_refuse_the_past_before_1970() {
        let t = at(1_800_000_000_123_456_789);
        assert_eq!(nanos(t).unwrap(), "1800000000123456789");
        assert_eq!(instant(&nanos(t).unwrap()), Some(t));
        assert_eq!(nanos(at(-1)), Err(BeforeEpoch));
        assert!(nanos(Timestamp::MAX).is_ok());
        assert_eq!(instant("x"), None);
    }

    #[test]
    fn scores_never_say_a_deadline_passed_early() {
        assert_eq!(score_up(at(1_001)), "2");
        assert_eq!(score_up(at(1_000)), "1");
        assert_eq!(score_down(at(1_999)), "1");
    }

    #[test]
    fn expiries_are_never_shorter_than_the_span() {
        assert_eq!(px(Duration::from_nanos(1)), 1);
        assert_eq!(px(Duration::from_micros(1_500)), 2);
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::MAX), MAX_PX_MS);
        assert_eq!(px_until(at(0), at(3_000_000)), 3);
        assert_eq!(px_until(at(5), at(0)), 1);
    }
}
