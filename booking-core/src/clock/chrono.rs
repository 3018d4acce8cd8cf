//! Interop with `chrono` (feature `chrono`): conversions between [`Timestamp`] and
//! `chrono::DateTime<Utc>`, and the [`Clock`] port for code that keeps time with chrono.
//!
//! booking-core's public time type is jiff's [`Timestamp`] (see
//! `docs/adr/0010-public-time-type.md`). Both types are foreign to this crate, so the
//! conversions are functions rather than `From`/`TryFrom` impls:
//!
//! | direction | function | can fail |
//! |---|---|---|
//! | `Timestamp` → `DateTime<Utc>` | [`to_chrono`] | never: chrono's range holds jiff's |
//! | `DateTime<Utc>` → `Timestamp` | [`from_chrono`] | [`OutOfRange`] outside years -9999..=9999 |
//!
//! Both keep nanoseconds. A chrono leap second (`23:59:60.x`, which jiff does not model) reads
//! as the last nanosecond of the second before it, so the order of instants is kept.
//!
//! ```
//! use booking_core::clock::chrono::{ChronoClock, ClockChronoExt, from_chrono, to_chrono};
//! use booking_core::clock::{Clock, Timestamp};
//! use chrono::{DateTime, Utc};
//!
//! let at = Timestamp::from_second(1_800_000_000)?;
//! let dt: DateTime<Utc> = to_chrono(at);
//! assert_eq!(dt.timestamp(), 1_800_000_000);
//! assert_eq!(from_chrono(dt)?, at);
//!
//! // A chrono time source as the Clock port, and the port read back as chrono.
//! let clock = ChronoClock::new(move || dt);
//! assert_eq!(clock.now(), at);
//! assert_eq!(clock.now_chrono(), dt);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use ::chrono::{DateTime, Utc};

use super::{Clock, Timestamp};

/// Nanoseconds in a second.
const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// A chrono instant outside [`Timestamp`]'s range (years -9999 to 9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{at} is outside the range of booking-core's Timestamp (years -9999 to 9999)")]
pub struct OutOfRange {
    /// The instant that does not fit.
    pub at: DateTime<Utc>,
}

/// `at` as a chrono UTC date-time, to the nanosecond. Never fails: every [`Timestamp`] lies
/// within chrono's range.
pub fn to_chrono(at: Timestamp) -> DateTime<Utc> {
    let (mut seconds, mut nanos) = (at.as_second(), at.subsec_nanosecond());
    // jiff gives a negative fraction with negative seconds; chrono wants it in 0..1e9.
    if nanos < 0 {
        seconds -= 1;
        nanos += NANOS_PER_SECOND;
    }
    let nanos = u32::try_from(nanos).unwrap_or_default();
    // Timestamp's seconds span years -9999..=9999, well inside chrono's ±262,143 years, so
    // the fallback is never taken.
    DateTime::from_timestamp(seconds, nanos).unwrap_or(if seconds < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `at` as a [`Timestamp`], to the nanosecond.
///
/// # Errors
/// [`OutOfRange`] for an instant before `-009999-01-02T01:59:59Z` or after
/// `9999-12-30T22:00:00.999999999Z` (jiff's range).
pub fn from_chrono(at: DateTime<Utc>) -> Result<Timestamp, OutOfRange> {
    let seconds = at.timestamp();
    // A leap second carries 1e9.. nanoseconds: the last nanosecond of its second.
    let nanos = at.timestamp_subsec_nanos().min(999_999_999);
    let nanos = i32::try_from(nanos).map_err(|_| OutOfRange { at })?;
    Timestamp::new(seconds, nanos).map_err(|_| OutOfRange { at })
}

/// A chrono time source as the [`Clock`] port: `ChronoClock::new(chrono::Utc::now)` in
/// production (chrono's `clock` feature), or any closure in tests.
///
/// An instant outside [`Timestamp`]'s range (a source gone wrong by thousands of years) reads
/// as [`Timestamp::MIN`] or [`Timestamp::MAX`], the nearest instant there is.
pub struct ChronoClock<F> {
    source: F,
}

impl<F> ChronoClock<F>
where
    F: Fn() -> DateTime<Utc> + Send + Sync + 'static,
{
    /// The clock reading `source`.
    pub const fn new(source: F) -> Self {
        ChronoClock { source }
    }
}

impl<F> fmt::Debug for ChronoClock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChronoClock").finish_non_exhaustive()
    }
}

impl<F> Clock for ChronoClock<F>
where
    F: Fn() -> DateTime<Utc> + Send + Sync + 'static,
{
    fn now(&self) -> Timestamp {
        let at = (self.source)();
        from_chrono(at).unwrap_or(if at.timestamp() < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    }
}

/// Reads any [`Clock`] as chrono, for code on the chrono side of the port.
pub trait ClockChronoExt: Clock {
    /// [`Clock::now`] as a chrono UTC date-time.
    fn now_chrono(&self) -> DateTime<Utc> {
        to_chrono(self.now())
    }
}

impl<C: Clock + ?Sized> ClockChronoExt for C {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use ::chrono::{NaiveDate, TimeDelta};

    use super::*;
    use crate::clock::ManualClock;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp::new(seconds, nanos).unwrap()
    }

    #[test]
    fn instants_round_trip_to_the_nanosecond() {
        let cases = [
            Timestamp::UNIX_EPOCH,
            ts(1_800_000_000, 123_456_789),
            ts(-1, -1),
            ts(-1_000_000_000, -999_999_999),
            ts(0, -1),
            Timestamp::MIN,
            Timestamp::MAX,
        ];
        for at in cases {
            let dt = to_chrono(at);
            let nanos = i128::from(dt.timestamp()) * 1_000_000_000
                + i128::from(dt.timestamp_subsec_nanos());
            assert_eq!(nanos, at.as_nanosecond(), "{at}");
            assert_eq!(from_chrono(dt), Ok(at), "{at}");
            // The same calendar reading (the two print years beyond 9999 BCE differently).
            if at != Timestamp::MIN {
                let text = dt.to_rfc3339_opts(::chrono::SecondsFormat::AutoSi, true);
                assert_eq!(text, at.to_string(), "{at}");
            }
        }
    }

    #[test]
    fn one_nanosecond_before_the_epoch_is_the_last_of_1969() {
        let dt = to_chrono(ts(0, -1));
        assert_eq!(
            (dt.timestamp(), dt.timestamp_subsec_nanos()),
            (-1, 999_999_999)
        );
    }

    #[test]
    fn instants_beyond_jiffs_range_are_refused_with_the_instant() {
        let after = to_chrono(Timestamp::MAX) + TimeDelta::nanoseconds(1);
        assert_eq!(from_chrono(after), Err(OutOfRange { at: after }));
        let before = to_chrono(Timestamp::MIN) - TimeDelta::nanoseconds(1);
        assert_eq!(from_chrono(before), Err(OutOfRange { at: before }));
        for far in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            let err = from_chrono(far).unwrap_err();
            assert_eq!(err.at, far);
            assert!(err.to_string().contains("outside the range"), "{err}");
        }
    }

    #[test]
    fn a_leap_second_reads_as_the_end_of_the_second_before() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        let at = from_chrono(leap).unwrap();
        assert_eq!(at.to_string(), "2016-12-31T23:59:59.999999999Z");
        let next = from_chrono(leap + TimeDelta::seconds(1)).unwrap();
        assert!(at < next);
    }

    #[test]
    fn ordering_is_kept_both_ways() {
        let times = [
            Timestamp::MIN,
            ts(-5, -5),
            ts(0, -1),
            ts(0, 0),
            ts(7, 1),
            Timestamp::MAX,
        ];
        for pair in times.windows(2) {
            assert!(to_chrono(pair[0]) < to_chrono(pair[1]));
        }
    }

    #[test]
    fn a_chrono_source_drives_the_clock_port() {
        let start = to_chrono(ts(1_800_000_000, 0));
        let offset = Arc::new(std::sync::Mutex::new(TimeDelta::zero()));
        let shared = offset.clone();
        let clock: Arc<dyn Clock> =
            Arc::new(ChronoClock::new(move || start + *shared.lock().unwrap()));
        assert_eq!(clock.now(), ts(1_800_000_000, 0));
        *offset.lock().unwrap() = TimeDelta::milliseconds(1_500);
        assert_eq!(clock.now(), ts(1_800_000_001, 500_000_000));
        // A source thousands of years off saturates rather than failing the port.
        let far = ChronoClock::new(|| DateTime::<Utc>::MAX_UTC);
        assert_eq!(far.now(), Timestamp::MAX);
        let early = ChronoClock::new(|| DateTime::<Utc>::MIN_UTC);
        assert_eq!(early.now(), Timestamp::MIN);
        assert_eq!(format!("{far:?}"), "ChronoClock { .. }");
    }

    #[test]
    fn any_clock_reads_as_chrono() {
        let clock = ManualClock::new(ts(1_800_000_000, 0));
        clock.advance(Duration::from_nanos(1));
        assert_eq!(clock.now_chrono(), to_chrono(ts(1_800_000_000, 1)));
        let shared: Arc<dyn Clock> = Arc::new(clock);
        assert_eq!(shared.now_chrono().timestamp_subsec_nanos(), 1);
    }
}
