//! Locks and idempotency records against the hand-written code they replace: a map of per-key
//! tokio mutexes, and a mutex-guarded map of request keys.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use booking_benches::{Summary, criterion, timed};
use booking_core::clock::SystemClock;
use booking_core::memory::{MemoryIdempotencyStore, MemoryLockManager};
use booking_core::policy::TokioSleeper;
use booking_core::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyKey, IdempotencyStore, Scope, StoredOutcome,
};
use booking_core::ports::lock::{LockManager, LockOptions};

const CONTENDERS: u64 = 8;

/// The hand-written record map: key to "in flight" (`None`) or the stored response.
type Responses = HashMap<String, Option<(u16, Vec<u8>)>>;

/// What a user writes for "one task per key at a time": a map of per-key async mutexes.
#[derive(Default)]
struct KeyedMutex {
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedMutex {
    async fn with<R>(&self, key: &str, f: impl FnOnce() -> R) -> R {
        let lock = Arc::clone(self.keys.lock().unwrap().entry(key.to_owned()).or_default());
        let _held = lock.lock().await;
        f()
    }
}

fn options() -> LockOptions {
    // Waiters wake on release; the backoff (1 ms doubling to 50 ms) only catches expiries.
    LockOptions::new(Duration::from_secs(30)).wait_up_to(Duration::from_secs(30))
}

fn main() {
    let mut c = criterion();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("lock");
    for (name, tasks) in [("uncontended", 1), ("contended_8", CONTENDERS)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let locks = MemoryLockManager::new(Arc::new(SystemClock), Arc::new(TokioSleeper));
                timed(&rt, iters, tasks, move || {
                    let locks = locks.clone();
                    async move {
                        let guard = locks.acquire(&["seat:1"], &options()).await.unwrap();
                        black_box(guard.token());
                        guard.release().await.unwrap();
                    }
                })
            })
        });
        g.bench_function(format!("{name}_raw"), |b| {
            b.iter_custom(|iters| {
                let locks = Arc::new(KeyedMutex::default());
                timed(&rt, iters, tasks, move || {
                    let locks = Arc::clone(&locks);
                    async move { locks.with("seat:1", || black_box(())).await }
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("idempotency");
    g.bench_function("begin_complete", |b| {
        b.iter_custom(|iters| {
            let store =
                MemoryIdempotencyStore::new(Arc::new(SystemClock), Duration::from_secs(3600));
            let scope = Scope::user("shop", "u1");
            let fp = Fingerprint::of_request("POST", "/payments", &serde_json::Value::Null);
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let key = IdempotencyKey::new(format!("req-{i}")).unwrap();
                    let outcome = store.begin(&scope, &key, &fp, Duration::from_secs(30));
                    let BeginOutcome::Claimed(claim) = outcome.await.unwrap() else {
                        unreachable!("fresh keys are always claimed")
                    };
                    let done = StoredOutcome {
                        status: 201,
                        body: b"{}".to_vec(),
                    };
                    store.complete(&claim, done).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("begin_complete_raw", |b| {
        // By hand: a mutex-guarded map from key to "in flight" or the stored response.
        b.iter_custom(|iters| {
            let seen: Mutex<Responses> = Mutex::default();
            let start = Instant::now();
            for i in 0..iters {
                let key = format!("shop/u1/req-{i}");
                let fresh = seen.lock().unwrap().insert(key.clone(), None).is_none();
                assert!(fresh);
                seen.lock()
                    .unwrap()
                    .insert(key, Some((201, b"{}".to_vec())));
            }
            start.elapsed()
        })
    });
    g.finish();

    let mut s = Summary::new("coordination");
    s.criterion_row(
        "lock acquire + release, uncontended",
        "lock",
        "uncontended",
        "uncontended_raw",
        "raw: per-key tokio::sync::Mutex in a HashMap (no TTL, no fencing)",
    );
    s.criterion_row(
        "lock acquire + release, 8 tasks on one key",
        "lock",
        "contended_8",
        "contended_8_raw",
        "per operation; raw: the same keyed tokio mutex",
    );
    s.criterion_row(
        "idempotency begin + complete",
        "idempotency",
        "begin_complete",
        "begin_complete_raw",
        "raw: Mutex<HashMap<String, Option<response>>>",
    );
    s.print();
}
