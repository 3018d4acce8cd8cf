//! loom models of the in-memory primitives: every interleaving of a few threads is explored.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p booking-core --lib --release loom`.

use std::sync::Arc as StdArc;
use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use loom::thread;

use crate::clock::{ManualClock, Timestamp};
use crate::policy::ManualSleeper;
use crate::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyKey, IdempotencyStore, Scope,
};
use crate::ports::lock::{LockManager, LockOptions};

use super::{MemoryIdempotencyStore, MemoryLockManager, NeverSleeper};

fn lock_manager(clock: &ManualClock) -> MemoryLockManager {
    MemoryLockManager::new(
        StdArc::new(clock.clone()),
        StdArc::new(ManualSleeper::new(clock.clone())),
    )
}

#[test]
fn loom_lock_is_mutually_exclusive_with_monotonic_tokens() {
    loom::model(|| {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let locks = lock_manager(&clock);
        let inside = Arc::new(AtomicBool::new(false));
        let last_token = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (locks, inside, last_token) =
                    (locks.clone(), Arc::clone(&inside), Arc::clone(&last_token));
                thread::spawn(move || {
                    let opts = LockOptions::new(Duration::from_secs(10));
                    let Ok(guard) = loom::future::block_on(locks.acquire(&["k"], &opts)) else {
                        return;
                    };
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    let token = guard.token().get();
                    assert!(last_token.swap(token, Ordering::SeqCst) < token);
                    inside.store(false, Ordering::SeqCst);
                    loom::future::block_on(guard.release()).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn loom_takeover_after_expiry_gets_a_larger_token() {
    loom::model(|| {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let locks = lock_manager(&clock);
        let opts = LockOptions::new(Duration::from_secs(10));
        let first = loom::future::block_on(locks.acquire(&["k"], &opts)).unwrap();
        let first_token = first.token();
        clock.advance(Duration::from_secs(10));
        let taker = {
            let locks = locks.clone();
            thread::spawn(move || {
                let opts = LockOptions::new(Duration::from_secs(10));
                loom::future::block_on(locks.acquire(&["k"], &opts)).map(|g| g.token())
            })
        };
        // The stale holder's release races the takeover; it must never free the new lease
        // nor report success.
        assert!(loom::future::block_on(first.release()).is_err());
        let second = taker.join().unwrap().unwrap();
        assert!(second > first_token);
    });
}

#[test]
fn loom_a_release_always_wakes_a_waiter() {
    loom::model(|| {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let locks = MemoryLockManager::new(StdArc::new(clock), StdArc::new(NeverSleeper));
        let opts = LockOptions::new(Duration::from_secs(10));
        let held = loom::future::block_on(locks.acquire(&["k"], &opts)).unwrap();
        let waiter = {
            let locks = locks.clone();
            thread::spawn(move || {
                let opts =
                    LockOptions::new(Duration::from_secs(10)).wait_up_to(Duration::from_secs(60));
                loom::future::block_on(locks.acquire(&["k"], &opts)).map(|g| g.token())
            })
        };
        loom::future::block_on(held.release()).unwrap();
        assert!(waiter.join().unwrap().is_ok());
    });
}

#[test]
fn loom_exactly_one_concurrent_begin_claims() {
    loom::model(|| {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let store = MemoryIdempotencyStore::new(StdArc::new(clock), Duration::from_secs(3600));
        let claims = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (store, claims) = (store.clone(), Arc::clone(&claims));
                thread::spawn(move || {
                    let key = IdempotencyKey::new("k").unwrap();
                    let fp = Fingerprint::of_request("POST", "/p", &serde_json::Value::Null);
                    let outcome = loom::future::block_on(store.begin(
                        &Scope::tenant("t"),
                        &key,
                        &fp,
                        Duration::from_secs(30),
                    ))
                    .unwrap();
                    match outcome {
                        BeginOutcome::Claimed(_) => {
                            claims.fetch_add(1, Ordering::SeqCst);
                        }
                        BeginOutcome::InFlight { .. } => {}
                        other => panic!("unexpected {other:?}"),
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(claims.load(Ordering::SeqCst), 1);
    });
}
