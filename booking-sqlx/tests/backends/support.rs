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

/// Runs its task once, when dropped: how a test's schema or database is dropped when the
/// test ends. The task runs to the end on a thread of its own (with its own runtime), so the
/// drop also works inside the test's runtime.
pub(crate) struct Teardown(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Teardown {
    /// Runs `task` to the end on drop; a failure is printed, not raised (the test is over).
    pub(crate) fn new<F>(task: impl FnOnce() -> F + Send + 'static) -> Teardown
    where
        F: std::future::Future<Output = Result<(), String>>,
    {
        Teardown(std::sync::Mutex::new(Some(Box::new(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let done = match runtime {
                Ok(runtime) => runtime.block_on(task()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = done {
                eprintln!("dropping a test schema failed (swept after an hour): {e}");
            }
        }))))
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let task = match self.0.get_mut() {
            Ok(task) => task.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            // A panic on that thread is reported there; the test's outcome stands.
            let _ = std::thread::spawn(task).join();
        }
    }
}

impl std::fmt::Debug for Teardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Teardown")
    }
}

/// A backend's lock manager that also owns the test's [`Teardown`]: the last port of a
/// conformance backend to be dropped, so the schema goes when the case's backend does.
#[derive(Debug)]
pub(crate) struct LastPort {
    /// The real lock manager (dropped before the teardown runs).
    pub(crate) inner: std::sync::Arc<dyn booking_core::ports::lock::LockManager>,
    /// Drops the schema or database.
    pub(crate) teardown: Teardown,
}

#[async_trait::async_trait]
impl booking_core::ports::lock::LockManager for LastPort {
    async fn acquire(
        &self,
        keys: &[&str],
        options: &booking_core::ports::lock::LockOptions,
    ) -> Result<booking_core::ports::lock::LockGuard, booking_core::ports::lock::LockError> {
        self.inner.acquire(keys, options).await
    }
}

/// `backend` whose schema or database `teardown` drops once the case is done with it.
pub(crate) fn dropped_after(
    mut backend: booking_core::testkit::Backend,
    teardown: Teardown,
) -> booking_core::testkit::Backend {
    backend.locks = std::sync::Arc::new(LastPort {
        inner: backend.locks,
        teardown,
    });
    backend
}
