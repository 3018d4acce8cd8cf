//! booking-core's conformance sections on Redis: the lock, idempotency, waiting-room and
//! coupon ports, and the booking-store and service sections through the hot-stock gate in
//! front of the in-memory store (with the coupons on Redis). Each runs on the standalone
//! server (`BOOKING_TEST_REDIS_URL`) and on the cluster (`BOOKING_TEST_REDIS_CLUSTER_URLS`),
//! every test under a namespace of its own.

use std::sync::Arc;

use async_trait::async_trait;
use booking_core::clock::{Clock, ManualClock};
use booking_core::memory::{MemoryBookingStore, MemoryWalletStore};
use booking_core::policy::ManualSleeper;
use booking_core::ports::lock::{LockError, LockGuard, LockManager, LockOptions};
use booking_core::ports::store::BookingStore;
use booking_core::testkit::{Backend, BackendFactory, IDEMPOTENCY_RETENTION};
use booking_redis::{
    Namespace, RedisAdmissionQueue, RedisConnection, RedisCouponStore, RedisIdempotencyStore,
    RedisLockManager, RedisStockGate,
};

/// Every Redis port under `ns` on `conn`, on `clock`'s time; the store is the in-memory one
/// behind the gate, the wallet the in-memory one.
pub(crate) fn backend_on(conn: &RedisConnection, ns: &Namespace, clock: ManualClock) -> Backend {
    let gate = RedisStockGate::new(MemoryBookingStore::new(), conn.clone(), ns.clone());
    backend_with(conn, ns, clock, Arc::new(gate))
}

/// Every Redis port under `ns` on `conn`, on `clock`'s time, with `store` as the booking store
/// and the in-memory wallet.
pub(crate) fn backend_with(
    conn: &RedisConnection,
    ns: &Namespace,
    clock: ManualClock,
    store: Arc<dyn BookingStore>,
) -> Backend {
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    Backend {
        store,
        coupons: Arc::new(RedisCouponStore::new(conn.clone(), ns.clone())),
        wallet: Arc::new(MemoryWalletStore::new()),
        queue: Arc::new(RedisAdmissionQueue::new(conn.clone(), ns.clone())),
        idempotency: Arc::new(RedisIdempotencyStore::new(
            conn.clone(),
            ns.clone(),
            Arc::clone(&shared),
            IDEMPOTENCY_RETENTION,
        )),
        locks: Arc::new(RedisLockManager::new(
            conn.clone(),
            ns.clone(),
            shared,
            sleeper,
        )),
        clock,
    }
}

/// Where a section runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deployment {
    /// The standalone server.
    Standalone,
    /// The cluster.
    Cluster,
}

impl Deployment {
    /// The deployment's node URLs, if configured.
    fn nodes(self) -> Option<Vec<String>> {
        crate::support::nodes_in(match self {
            Deployment::Standalone => crate::support::STANDALONE_VAR,
            Deployment::Cluster => crate::support::CLUSTER_VAR,
        })
    }

    /// Deletes the keys a test wrote under `ns`.
    pub(crate) async fn drop(self, ns: &Namespace) {
        if let Some(nodes) = self.nodes() {
            crate::support::drop_namespace(&nodes, ns).await;
        }
    }

    /// A connection to the deployment and a fresh namespace.
    pub(crate) async fn connect(self) -> (RedisConnection, Namespace) {
        match self {
            Deployment::Standalone => {
                let (_, conn, ns) = crate::support::standalone().await;
                (conn, ns)
            }
            Deployment::Cluster => {
                let (_, conn, ns) = crate::support::cluster().await;
                (conn, ns)
            }
        }
    }
}

#[async_trait]
impl BackendFactory for Deployment {
    async fn backend(&self, clock: ManualClock) -> Backend {
        let (conn, ns) = self.connect().await;
        let mut backend = backend_on(&conn, &ns, clock);
        // The suite has no end-of-test hook: the test's keys go when its backend does.
        let cleanup = Arc::new(DropNamespace {
            nodes: self.nodes().unwrap_or_default(),
            ns,
        });
        backend.locks = Arc::new(CleaningLocks {
            locks: backend.locks,
            _cleanup: cleanup,
        });
        backend
    }
}

/// Deletes a namespace's keys when dropped (on a thread of its own: drops cannot wait).
#[derive(Debug)]
struct DropNamespace {
    nodes: Vec<String>,
    ns: Namespace,
}

impl Drop for DropNamespace {
    fn drop(&mut self) {
        let (nodes, ns) = (std::mem::take(&mut self.nodes), self.ns.clone());
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(booking_redis::delete_namespace(&nodes, &ns))
        })
        .join();
        if !matches!(deleted, Ok(Ok(_))) {
            println!("warning: a test's keys were not deleted ({deleted:?}); the next run will");
        }
    }
}

/// The backend's lock manager, carrying the cleanup of the test's namespace.
#[derive(Debug)]
struct CleaningLocks {
    locks: Arc<dyn LockManager>,
    _cleanup: Arc<DropNamespace>,
}

#[async_trait]
impl LockManager for CleaningLocks {
    async fn acquire(&self, keys: &[&str], options: &LockOptions) -> Result<LockGuard, LockError> {
        self.locks.acquire(keys, options).await
    }
}

/// The sections on the standalone server.
mod standalone {
    booking_core::conformance_sections!(
        #[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
        crate::sections::Deployment::Standalone;
        lock, idempotency, queue, coupon, store, service);
}

/// The sections on the cluster.
mod cluster {
    booking_core::conformance_sections!(
        #[cfg_attr(no_redis_cluster_url, ignore = "BOOKING_TEST_REDIS_CLUSTER_URLS is not set")]
        crate::sections::Deployment::Cluster;
        lock, idempotency, queue, coupon, store, service);
}
