//! Policies as data: how to retry, when things expire, who may enter, and how to wait.
//!
//! Pure and synchronous except for the [`retry`] executor, which waits through a [`Sleeper`]
//! so that schedules run in virtual time under test.

pub mod admission;
pub mod expiry;
pub mod retry;
pub mod sleep;

#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
pub use sleep::{ManualSleeper, Sleeper};

use std::time::Duration;

use crate::clock::Timestamp;

/// The time from `earlier` to `later`, zero if `later` is not after `earlier` (a clock that
/// stepped back never yields a negative wait).
pub(crate) fn span_between(earlier: Timestamp, later: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or(Duration::ZERO)
}

/// `at + by`, or the largest timestamp if that overflows (a retention of "forever").
pub(crate) fn add_saturating(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}
