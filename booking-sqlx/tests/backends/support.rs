//! What the backends' test factories share: the server URL from the environment, the names
//! of per-test schemas and databases, and the rule for dropping those of old runs.
#![allow(dead_code)] // each backend uses the part it needs

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prefix of every per-test schema or database.
pub(crate) const PREFIX: &str = "booking_test_";

/// Per-test schemas and databases of runs older than this are dropped.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Whether this run is CI, where a missing or unreachable server fails the test.
pub(crate) fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// The server URL in `var`, or `None` after printing `skipped: …` (outside CI; under CI an
/// unset variable fails the test).
pub(crate) fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(!ci(), "{var} must be set under CI");
            println!("skipped: {var} is not set");
            None
        }
    }
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
