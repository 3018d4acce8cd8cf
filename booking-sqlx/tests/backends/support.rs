//! What the backends' test factories share: the server URL from the environment, the names
//! of per-test schemas and databases, and the rule for dropping those of old runs.
#![allow(dead_code)] // each backend uses the part it needs

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prefix of every per-test schema or database.
pub(crate) const PREFIX: &str = "booking_test_";

/// Per-test schemas and databases of runs older than this are dropped.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The server URL in `var`. Unset, the test fails: outside CI the build script has these
/// tests ignored when the variable is unset, so only a run under CI, or one that forces
/// ignored tests to run, gets here.
pub(crate) fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: set it to a test server's URL (unset, outside CI, these tests are ignored)")
    })
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh name for one test's schema or database: the prefix, the creation time in seconds
/// and a UUID, only digits, letters and underscores.
pub(crate) fn fresh_name() -> String {
    format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::now_v7().simple())
}

/// Whether `name` is a per-test name made more than [`STALE_AFTER`] ago.
pub(crate) fn is_stale(name: &str) -> bool {
    let cutoff = now_secs().saturating_sub(STALE_AFTER.as_secs());
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|created| created < cutoff)
}
