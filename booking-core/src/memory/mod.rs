//! In-memory implementations of every port: correct under real parallelism within one
//! process, for tests and single-node use. They are the reference the conformance suite is
//! written against. The synchronous cores of the lock manager and the idempotency store are
//! checked with loom (`RUSTFLAGS="--cfg loom" cargo test -p booking-core --lib --release loom`).

mod coupon;
mod gateway;
mod idempotency;
mod lock;
mod queue;
mod store;
mod sync;
mod wallet;

pub use coupon::MemoryCouponStore;
pub use gateway::{FakeGateway, FakeGatewayStats, Fault, GatewayOp};
pub use idempotency::MemoryIdempotencyStore;
pub use lock::MemoryLockManager;
pub use queue::MemoryAdmissionQueue;
pub use store::MemoryBookingStore;
pub use wallet::MemoryWalletStore;

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
