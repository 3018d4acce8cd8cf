//! What Redis Cluster asks of lock keys — the keys of one lease share a `{…}` hash tag (one
//! slot, one script); a request over two scopes is a typed error before anything reaches
//! Redis, never a `CROSSSLOT` from the server — and booking-core's watchdog keeping a Redis
//! lease alive in real time. Checked on both deployments.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{ManualClock, SystemClock};
use booking_core::policy::{ManualSleeper, TokioSleeper};
use booking_core::ports::lock::{LockError, LockManager, LockOptions};
use booking_core::testkit::start_time;
use booking_redis::RedisLockManager;

use crate::sections::Deployment;

async fn leases_cover_one_scope(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let clock = ManualClock::new(start_time());
    let locks = RedisLockManager::new(
        conn,
        ns.clone(),
        Arc::new(clock.clone()),
        Arc::new(ManualSleeper::new(clock.clone())),
    );
    let opts = LockOptions::new(Duration::from_secs(10));

    let both = locks
        .acquire(&["{event:1}:seat:2", "{event:1}:seat:1"], &opts)
        .await
        .unwrap();
    assert_eq!(both.lease().grants().len(), 2);

    for mixed in [
        &["{event:1}:seat:3", "{event:2}:seat:1"][..],
        &["{event:1}:seat:3", "seat:9"][..],
    ] {
        let err = locks.acquire(mixed, &opts).await.unwrap_err();
        assert!(
            matches!(err, LockError::Invalid { .. }),
            "{mixed:?}: {err:?}"
        );
    }
    // The refused requests took nothing.
    let other = locks.acquire(&["{event:2}:seat:1"], &opts).await.unwrap();
    let third = locks.acquire(&["{event:1}:seat:3"], &opts).await.unwrap();
    let plain = locks.acquire(&["seat:9"], &opts).await.unwrap();
    // Tokens grow within a scope, across its keys.
    assert!(third.token() > both.token());
    // A held key of one scope does not hold the same name in another.
    let same_name = locks.acquire(&["{event:2}:seat:2"], &opts).await.unwrap();
    assert!(matches!(
        locks.acquire(&["{event:1}:seat:1"], &opts).await,
        Err(LockError::Busy { key }) if key == "{event:1}:seat:1"
    ));
    for guard in [both, other, third, plain, same_name] {
        guard.release().await.unwrap();
    }
    deployment.drop(&ns).await;
}

/// A guard with a watchdog outlives its TTL several times over (real time, the system clock):
/// the lease is extended every third of it, so nobody else gets the key until the release.
async fn a_watchdog_keeps_the_lease(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let locks = RedisLockManager::new(
        conn,
        ns.clone(),
        Arc::new(SystemClock),
        Arc::new(TokioSleeper),
    );
    // A TTL long enough that a loaded machine's pauses do not outlast it, short enough that
    // the wait below spans it several times.
    let ttl = Duration::from_secs(2);
    let guard = locks
        .acquire(&["watched"], &LockOptions::new(ttl).with_watchdog())
        .await
        .unwrap();
    let first_end = guard.expires_at();
    tokio::time::sleep(ttl * 3).await;
    assert!(matches!(
        locks.acquire(&["watched"], &LockOptions::new(ttl)).await,
        Err(LockError::Busy { .. })
    ));
    assert!(guard.expires_at() > first_end, "the watchdog moved the end");
    guard.release().await.unwrap();
    locks
        .acquire(&["watched"], &LockOptions::new(ttl))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    deployment.drop(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn standalone_a_watchdog_keeps_the_lease() {
    a_watchdog_keeps_the_lease(Deployment::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_redis_cluster_url,
    ignore = "BOOKING_TEST_REDIS_CLUSTER_URLS is not set"
)]
async fn cluster_a_watchdog_keeps_the_lease() {
    a_watchdog_keeps_the_lease(Deployment::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn standalone_leases_cover_one_scope() {
    leases_cover_one_scope(Deployment::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_redis_cluster_url,
    ignore = "BOOKING_TEST_REDIS_CLUSTER_URLS is not set"
)]
async fn cluster_leases_cover_one_scope() {
    leases_cover_one_scope(Deployment::Cluster).await;
}
