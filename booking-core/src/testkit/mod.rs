//! The conformance suite: behaviour every backend must show, written once.
//!
//! Each suite is a module of `pub async fn name(backend: Backend)` tests over the ports. A
//! backend crate provides a [`BackendFactory`] that builds a fresh, isolated [`Backend`] (its
//! own schema, database or key prefix) and runs every suite with one macro call:
//!
//! ```ignore
//! booking_core::conformance_tests!(my_backend::TestFactory::from_env());
//! ```
//!
//! The macro expands to one `#[test]` per suite function; each runs on its own two-thread
//! tokio runtime, so the races inside the suites run truly in parallel. A factory that cannot
//! reach its server returns `None` outside CI (the test prints `skipped: …` and passes) and
//! fails under CI.
//!
//! [`MemoryBackend`] is the in-memory reference; booking-core runs the whole suite on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::{ManualClock, Timestamp};
use crate::memory::{
    MemoryAdmissionQueue, MemoryBookingStore, MemoryCouponStore, MemoryIdempotencyStore,
    MemoryLockManager, MemoryWalletStore,
};
use crate::policy::ManualSleeper;
use crate::ports::coupon::CouponStore;
use crate::ports::idempotency::IdempotencyStore;
use crate::ports::lock::LockManager;
use crate::ports::queue::AdmissionQueue;
use crate::ports::store::BookingStore;
use crate::ports::wallet::WalletStore;

pub mod concurrency;
pub mod coupon;
pub mod fixtures;
pub mod gateway;
pub mod idempotency;
pub mod lock;
pub mod queue;
pub mod service;
pub mod store;
pub mod store_listing;
pub mod store_orders;
pub mod store_upkeep;
pub mod wallet;

/// One backend's implementation of every port, fresh and empty.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Inventory, orders, payments, outbox.
    pub store: Arc<dyn BookingStore>,
    /// Coupon campaigns.
    pub coupons: Arc<dyn CouponStore>,
    /// Wallets.
    pub wallet: Arc<dyn WalletStore>,
    /// The waiting room.
    pub queue: Arc<dyn AdmissionQueue>,
    /// Idempotency keys.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Locks.
    pub locks: Arc<dyn LockManager>,
    /// The clock the suite moves; time-dependent parts of the backend must read it (stores
    /// take `now` as an argument; locks and idempotency keys are built on it). The
    /// idempotency store keeps records for [`IDEMPOTENCY_RETENTION`].
    pub clock: ManualClock,
}

/// Builds a fresh [`Backend`] per test.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    /// A new, empty backend reading time from `clock`, or `None` when the backend's server
    /// is not configured and this is not CI (print one `skipped: …` line before returning).
    async fn backend(&self, clock: ManualClock) -> Option<Backend>;
}

/// The in-memory backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

#[async_trait]
impl BackendFactory for MemoryBackend {
    async fn backend(&self, clock: ManualClock) -> Option<Backend> {
        let shared: Arc<dyn crate::clock::Clock> = Arc::new(clock.clone());
        let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
        Some(Backend {
            store: Arc::new(MemoryBookingStore::new()),
            coupons: Arc::new(MemoryCouponStore::new()),
            wallet: Arc::new(MemoryWalletStore::new()),
            queue: Arc::new(MemoryAdmissionQueue::new()),
            idempotency: Arc::new(MemoryIdempotencyStore::new(
                Arc::clone(&shared),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(MemoryLockManager::new(shared, sleeper)),
            clock,
        })
    }
}

/// How long a backend's idempotency store must keep records for the suite: a factory builds
/// its [`IdempotencyStore`] with this retention.
pub const IDEMPOTENCY_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The instant every suite test starts at.
pub fn start_time() -> Timestamp {
    // 2027-01-15T00:00:00Z, a fixed instant so failures replay exactly.
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A suite test, boxed so the macro can pass any of them to [`run`].
pub type SuiteFn = fn(Backend) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs one suite test on a fresh backend from `factory`, on a two-thread tokio runtime.
///
/// # Panics
/// If the runtime cannot be built, or the test fails (that is how a test reports failure).
#[allow(clippy::expect_used)] // a test harness reports failure by panicking
pub fn run<F: BackendFactory>(factory: &F, name: &str, test: SuiteFn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime for the conformance test");
    runtime.block_on(async {
        let Some(backend) = factory.backend(ManualClock::new(start_time())).await else {
            return;
        };
        tracing::debug!(test = name, "conformance test");
        test(backend).await;
    });
}

/// Expands to one `#[test]` per listed suite function, each run on a fresh backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_suite {
    ($factory:expr; $module:ident: $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::run(&$factory, stringify!($name), |backend| {
                    ::std::boxed::Box::pin($crate::testkit::$module::$name(backend))
                });
            }
        )+
    };
}

/// Runs the whole conformance suite against the backends `$factory` builds.
///
/// Invoke it at the top level of an integration test file; it defines one `#[test]` per case,
/// grouped in modules named after the suites.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__store_suite!($factory);
        $crate::__service_suite!($factory);
        $crate::__coupon_suite!($factory);
        $crate::__wallet_suite!($factory);
        $crate::__queue_suite!($factory);
        $crate::__idempotency_suite!($factory);
        $crate::__lock_suite!($factory);
    };
}

/// Runs only the [`BookingStore`] suite (modules `store`, `store_orders`, `store_upkeep`,
/// `store_listing`) against the backends `$factory` builds.
///
/// For a backend that implements the booking store and not (yet) the other ports: its
/// factory fills the other [`Backend`] fields with the in-memory ports, and this macro runs
/// the cases that exercise the store alone. Invoke it at the top level of an integration
/// test file, like [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::__store_suite!($factory);
    };
}
