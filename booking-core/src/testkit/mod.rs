//! The conformance suite: behaviour every backend must show, written once.
//!
//! A backend crate runs the suite from an integration test with one macro call over a
//! [`BackendFactory`], which builds a fresh, isolated [`Backend`] per test (its own schema,
//! database or key prefix):
//!
//! ```no_run
//! // In `tests/conformance.rs` of a backend crate, with its own factory.
//! booking_core::conformance_tests!(booking_core::testkit::MemoryBackend);
//! ```
//!
//! [`conformance_tests!`](crate::conformance_tests) expands to one `#[test]` per case of every
//! section; [`conformance_sections!`](crate::conformance_sections) to the cases of the sections
//! it names, for a backend that implements only some ports (a Redis crate: `lock`,
//! `idempotency`, `queue`, `coupon`). Each test runs on its own two-thread tokio runtime, so the
//! races inside the suite run truly in parallel. [`MemoryBackend`] is the in-memory reference;
//! booking-core runs the whole suite on it. [`fixtures`] and [`concurrency`] are the building
//! blocks of the suite, for a backend's own tests too.
//!
//! # Backends on a server: ignored with their reason, never passed silently
//!
//! A test that did nothing must not count as passed. A backend whose tests need a server reads
//! its URL from the environment (`BOOKING_TEST_POSTGRES_URL`, `BOOKING_TEST_REDIS_URL`, …) and
//! has a build script set a cfg when the URL is unset, which the tests turn into
//! `#[ignore = "reason"]`: `cargo test` then reports them as ignored and prints the reason
//! beside each. Under CI (`CI` set) the cfg is never set, so an unset or unreachable server
//! fails the tests instead. The backend crate's `build.rs`:
//!
//! ```no_run
//! fn main() {
//!     println!("cargo::rustc-check-cfg=cfg(no_redis_url)");
//!     println!("cargo::rerun-if-env-changed=BOOKING_TEST_REDIS_URL");
//!     println!("cargo::rerun-if-env-changed=CI");
//!     if std::env::var_os("BOOKING_TEST_REDIS_URL").is_none() && std::env::var_os("CI").is_none() {
//!         println!("cargo::rustc-cfg=no_redis_url");
//!     }
//! }
//! ```
//!
//! and its test, with the attribute put on every generated case:
//!
//! ```no_run
//! # #![allow(unexpected_cfgs)]
//! # use booking_core::testkit::MemoryBackend as RedisFactory;
//! booking_core::conformance_sections!(
//!     #[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
//!     RedisFactory; lock, idempotency, queue, coupon
//! );
//! ```
//!
//! The factory itself panics when the URL is unset (a test forced to run with `--ignored`
//! then fails, saying why) or when the server does not answer. booking-sqlx does exactly
//! this for PostgreSQL and MySQL.
// The build-script example above is a whole `build.rs`: its `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

mod macros;

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
pub mod fixtures;
pub mod gateway;

// The suite's cases, reached by the macros; their docs live in the source.
#[doc(hidden)]
pub mod coupon;
#[doc(hidden)]
pub mod idempotency;
#[doc(hidden)]
pub mod lock;
#[doc(hidden)]
pub mod queue;
#[doc(hidden)]
pub mod service;
#[doc(hidden)]
pub mod store;
#[doc(hidden)]
pub mod store_listing;
#[doc(hidden)]
pub mod store_orders;
#[doc(hidden)]
pub mod store_outbox;
#[doc(hidden)]
pub mod store_races;
#[doc(hidden)]
pub mod store_refund;
#[doc(hidden)]
pub mod store_upkeep;
#[doc(hidden)]
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

impl Backend {
    /// Every port in memory, on `clock`'s time: what [`MemoryBackend`] builds, and the start
    /// of a backend that implements only some ports (replace those fields:
    /// `Backend { locks, ..Backend::in_memory(clock) }`).
    pub fn in_memory(clock: ManualClock) -> Backend {
        let shared: Arc<dyn crate::clock::Clock> = Arc::new(clock.clone());
        let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
        Backend {
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
        }
    }
}

/// Builds a fresh [`Backend`] per test.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    /// A new, empty backend reading time from `clock`.
    ///
    /// # Panics
    /// When the backend's server is not configured or does not answer: the test fails, saying
    /// why. (Keep such tests ignored where the server is not configured: see the module docs.)
    async fn backend(&self, clock: ManualClock) -> Backend;
}

/// The in-memory backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

#[async_trait]
impl BackendFactory for MemoryBackend {
    async fn backend(&self, clock: ManualClock) -> Backend {
        Backend::in_memory(clock)
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

/// A suite test, boxed so the macros can pass any of them to [`run`].
#[doc(hidden)]
pub type SuiteFn = fn(Backend) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs one suite test on a fresh backend from `factory`, on a two-thread tokio runtime.
///
/// # Panics
/// If the runtime cannot be built, or the test fails (that is how a test reports failure).
#[doc(hidden)]
#[allow(clippy::expect_used)] // a test harness reports failure by panicking
pub fn run<F: BackendFactory>(factory: &F, name: &str, test: SuiteFn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime for the conformance test");
    runtime.block_on(async {
        let backend = factory.backend(ManualClock::new(start_time())).await;
        tracing::debug!(test = name, "conformance test");
        test(backend).await;
    });
}
