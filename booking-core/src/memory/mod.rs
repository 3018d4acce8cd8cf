//! In-memory implementations of the ports: correct under real parallelism within one
//! process, for tests and single-node use. Their synchronous cores are checked with loom
//! (`RUSTFLAGS="--cfg loom" cargo test -p booking-core --lib --release loom`).

mod idempotency;
mod lock;
mod sync;

pub use idempotency::MemoryIdempotencyStore;
pub use lock::MemoryLockManager;

#[cfg(test)]
#[cfg(loom)]
mod loom_models;

/// A backoff timer that never fires, for tests in which only a release may wake a lock
/// waiter: a lost wake-up then shows as a hang (a deadlock under loom).
#[cfg(test)]
#[derive(Debug)]
struct NeverSleeper;

#[cfg(test)]
#[async_trait::async_trait]
impl crate::policy::Sleeper for NeverSleeper {
    async fn sleep(&self, _: std::time::Duration) {
        std::future::pending::<()>().await;
    }
}
