//! Time-slot admission (`per_cycle` arrivals per cycle from the opening, by arrival sequence
//! alone) on both deployments.

use std::time::Duration;

use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::policy::admission::TimeSlotAdmission;
use booking_core::ports::queue::{AdmissionQueue, QueueStatus};
use booking_core::testkit::start_time;
use booking_redis::RedisAdmissionQueue;

use crate::sections::Deployment;

fn at(s: u64) -> Timestamp {
    start_time().checked_add(Duration::from_secs(s)).unwrap()
}

async fn fifty_per_ten_seconds(deployment: Deployment) {
    let (conn, ns) = deployment.connect().await;
    let queue = RedisAdmissionQueue::new(conn, ns.clone());
    let event = EventId::new();
    let mut line: Vec<AdmissionToken> = Vec::new();
    for _ in 0..120 {
        line.push(queue.join(event, UserId::new(), at(0)).await.unwrap().token);
    }
    let slots = TimeSlotAdmission::new(at(0), 50, Duration::from_secs(10)).unwrap();
    let ttl = Duration::from_secs(60);
    let mut admitted = Vec::new();
    for (second, expected) in [(0, 50), (5, 0), (10, 50), (25, 20), (40, 0)] {
        let batch = queue
            .admit_due(event, &slots, ttl, at(second), 1_000)
            .await
            .unwrap();
        assert_eq!(batch.len(), expected, "at {second} s");
        for admission in &batch {
            assert_eq!(admission.expires_at, at(second).checked_add(ttl).unwrap());
        }
        admitted.extend(batch.into_iter().map(|a| a.token));
    }
    assert_eq!(admitted, line, "admitted in arrival order, each once");
    assert_eq!(queue.waiting_len(event).await.unwrap(), 0);

    // A limit caps one call; the rest of the slot comes with the next.
    let late = EventId::new();
    for _ in 0..10 {
        queue.join(late, UserId::new(), at(0)).await.unwrap();
    }
    let first = queue.admit_due(late, &slots, ttl, at(0), 4).await.unwrap();
    let rest = queue
        .admit_due(late, &slots, ttl, at(0), 100)
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (4, 6));
    assert!(matches!(
        queue.status(rest[5].token, at(1)).await.unwrap(),
        QueueStatus::Admitted { .. }
    ));
    deployment.drop(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn standalone_time_slots_admit_fifty_per_ten_seconds() {
    fifty_per_ten_seconds(Deployment::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_redis_cluster_url,
    ignore = "BOOKING_TEST_REDIS_CLUSTER_URLS is not set"
)]
async fn cluster_time_slots_admit_fifty_per_ten_seconds() {
    fifty_per_ten_seconds(Deployment::Cluster).await;
}
