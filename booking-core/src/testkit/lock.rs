//! The [`LockManager`](crate::ports::lock::LockManager) suite: one holder per key, growing
//! fencing tokens, all-or-nothing multi-key leases, expiry and takeover, no deadlock.
//!
//! Leases are measured on the backend's clock, which the suite moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::Backend;
use crate::clock::Clock;
use crate::ports::fencing::FencedResource;
use crate::ports::lock::{LockError, LockManagerExt, LockOptions, LockWait, WithLockError};

const TTL: Duration = Duration::from_secs(10);

/// Options for the races: a lease far longer than any test, and a wait that backs off in
/// microseconds so contended loops run at full speed.
fn racing() -> LockOptions {
    let hour = Duration::from_secs(3_600);
    LockOptions::new(hour).with_wait(LockWait::Bounded {
        max_wait: hour,
        initial_backoff: Duration::from_micros(1),
        max_backoff: Duration::from_micros(100),
    })
}

/// A held key is busy for everyone else; the next holder's token is larger.
pub async fn lock_held_key_is_busy_and_tokens_grow(b: Backend) {
    let opts = LockOptions::new(TTL);
    let first = b.locks.acquire(&["seat:1"], &opts).await.unwrap();
    let busy = b.locks.acquire(&["seat:1"], &opts).await.unwrap_err();
    assert!(matches!(busy, LockError::Busy { key } if key == "seat:1"));
    let other = b.locks.acquire(&["seat:2"], &opts).await.unwrap();
    assert!(other.token() > first.token());
    let t1 = first.token();
    first.release().await.unwrap();
    let second = b.locks.acquire(&["seat:1"], &opts).await.unwrap();
    assert!(second.token() > t1);
    assert!(second.token() > other.token());
}

/// A holder that stalls past its lease is taken over; its writes to a fenced resource, its
/// extension and its release are refused, and its release does not free the new holder's key.
pub async fn lock_expired_holder_is_taken_over_and_fenced_out(b: Backend) {
    let opts = LockOptions::new(TTL);
    let seat = FencedResource::new("free");
    let mut stale = b.locks.acquire(&["seat:1"], &opts).await.unwrap();
    b.clock.advance(TTL);
    let fresh = b.locks.acquire(&["seat:1"], &opts).await.unwrap();
    assert!(fresh.token() > stale.token());
    seat.write(fresh.token(), |s| *s = "sold to B").unwrap();
    assert!(seat.write(stale.token(), |s| *s = "sold to A").is_err());
    assert_eq!(seat.read(|s| *s), "sold to B");
    assert!(matches!(
        stale.extend(TTL).await,
        Err(LockError::Lost { .. })
    ));
    assert!(matches!(stale.release().await, Err(LockError::Lost { .. })));
    assert!(matches!(
        b.locks.acquire(&["seat:1"], &opts).await,
        Err(LockError::Busy { .. })
    ));
    fresh.release().await.unwrap();
}

/// Extending moves the lease's end; a release after the end is reported lost.
pub async fn lock_extend_keeps_the_lease(b: Backend) {
    let opts = LockOptions::new(TTL);
    let mut guard = b.locks.acquire(&["k"], &opts).await.unwrap();
    b.clock.advance(Duration::from_secs(9));
    let until = guard.extend(TTL).await.unwrap();
    assert_eq!(until, guard.expires_at());
    assert_eq!(until, b.clock.now().checked_add(TTL).unwrap());
    b.clock.advance(Duration::from_secs(9));
    assert!(b.locks.acquire(&["k"], &opts).await.is_err(), "still held");
    b.clock.advance(Duration::from_secs(1));
    assert!(matches!(guard.release().await, Err(LockError::Lost { .. })));
    b.locks.acquire(&["k"], &opts).await.unwrap();
}

/// Several keys are taken all or none, in any order given, under one token.
pub async fn lock_many_keys_are_all_or_nothing(b: Backend) {
    let opts = LockOptions::new(TTL);
    let held = b.locks.acquire(&["b"], &opts).await.unwrap();
    let err = b.locks.acquire(&["c", "b", "a"], &opts).await.unwrap_err();
    assert!(matches!(err, LockError::Busy { key } if key == "b"));
    // Nothing was taken by the failed attempt.
    let ac = b.locks.acquire(&["a", "c"], &opts).await.unwrap();
    assert_eq!(ac.lease().token_for("c"), Some(ac.token()));
    assert_eq!(ac.lease().token_for("b"), None);
    held.release().await.unwrap();
    ac.release().await.unwrap();
    let all = b.locks.acquire(&["c", "b", "a", "b"], &opts).await.unwrap();
    let keys: Vec<_> = all.lease().grants().iter().map(|g| g.0.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert!(all.lease().grants().iter().all(|g| g.1 == all.token()));
}

/// A bounded wait shorter than the holder's lease gives up with `Busy`.
pub async fn lock_bounded_wait_gives_up_busy(b: Backend) {
    let held = b
        .locks
        .acquire(&["k"], &LockOptions::new(TTL))
        .await
        .unwrap();
    let opts = LockOptions::new(TTL).wait_up_to(Duration::from_millis(20));
    let err = b.locks.acquire(&["k"], &opts).await.unwrap_err();
    assert!(matches!(err, LockError::Busy { key } if key == "k"));
    held.release().await.unwrap();
}

/// Nonsense requests are typed errors that take nothing.
pub async fn lock_invalid_requests_are_typed(b: Backend) {
    let opts = LockOptions::new(TTL);
    for (keys, options) in [
        (&[][..], opts),
        (&["a", ""][..], opts),
        (&["a"][..], LockOptions::new(Duration::ZERO)),
    ] {
        assert!(matches!(
            b.locks.acquire(keys, &options).await,
            Err(LockError::Invalid { .. })
        ));
    }
    b.locks.acquire(&["a"], &opts).await.unwrap();
}

/// `with_lock` holds the keys for the whole of the work, and frees them after it, whatever
/// the work returned.
pub async fn lock_with_lock_encloses_the_work(b: Backend) {
    let opts = LockOptions::new(TTL);
    let locks = b.locks.clone();
    let result: Result<(), WithLockError<&str>> = b
        .locks
        .with_lock(&["k"], &opts, |_| async move {
            assert!(locks.acquire(&["k"], &opts).await.is_err());
            Err("declined")
        })
        .await;
    assert!(matches!(result, Err(WithLockError::Work("declined"))));
    let token = b
        .locks
        .with_lock(
            &["k"],
            &opts,
            |lease| async move { Ok::<_, ()>(lease.token()) },
        )
        .await
        .unwrap();
    assert!(token.get() > 0);
    b.locks.acquire(&["k"], &opts).await.unwrap();
}

/// Two tasks lock `[a, b]` and `[b, a]` thousands of times, waiting for each other: both
/// finish, and never hold the keys at once.
pub async fn lock_opposite_key_orders_never_deadlock(b: Backend) {
    let inside = Arc::new(AtomicBool::new(false));
    let run = |keys: [&'static str; 2]| {
        let (locks, inside) = (b.locks.clone(), Arc::clone(&inside));
        tokio::spawn(async move {
            let opts = racing();
            for _ in 0..2_000 {
                locks
                    .with_lock(&keys, &opts, |_| async {
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        tokio::task::yield_now().await;
                        inside.store(false, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    })
                    .await
                    .unwrap();
            }
        })
    };
    let (ab, ba) = (run(["a", "b"]), run(["b", "a"]));
    // The bound only turns a deadlock into a failure instead of a hung test.
    let both = tokio::time::timeout(Duration::from_secs(600), async {
        ab.await.unwrap();
        ba.await.unwrap();
    });
    both.await.expect("both tasks finish");
}

/// Parallel holders of one hot key are mutually exclusive, and each sees a larger token than
/// the holder before it.
pub async fn lock_parallel_holders_are_exclusive_with_growing_tokens(b: Backend) {
    let last_token = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (locks, last_token, count) =
                (b.locks.clone(), Arc::clone(&last_token), Arc::clone(&count));
            tokio::spawn(async move {
                let opts = racing();
                for _ in 0..500 {
                    let guard = locks.acquire(&["hot"], &opts).await.unwrap();
                    let token = guard.token().get();
                    // Under the lock, the previous holder's token is the largest seen.
                    assert!(last_token.swap(token, Ordering::SeqCst) < token);
                    tokio::task::yield_now().await;
                    count.fetch_add(1, Ordering::SeqCst);
                    guard.release().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), 2_000);
}
