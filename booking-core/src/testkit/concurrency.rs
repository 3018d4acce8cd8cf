//! Running suite work as real parallel tasks: many at once, or two released together.
//!
//! Public so that a backend's own tests (and an application's) can write races the way the
//! suite does.
#![allow(clippy::expect_used)] // a test helper reports a panicked task by panicking

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `n` copies of `task` (given its index) as parallel tokio tasks and collects their
/// results in spawn order.
///
/// # Panics
/// If a task panics (a failed assertion inside it).
pub async fn in_parallel<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("a suite task panicked"));
    }
    results
}

/// Runs `a` and `b` as parallel tokio tasks released together: each waits (briefly, spinning)
/// at a start line until the other reaches it, so neither is done before the other has begun.
/// On a multi-thread runtime the two then really run at the same time.
///
/// # Panics
/// If a task panics.
pub async fn race<A, B>(
    a: impl Future<Output = A> + Send + 'static,
    b: impl Future<Output = B> + Send + 'static,
) -> (A, B)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let line = Arc::new(AtomicUsize::new(0));
    let start = |line: Arc<AtomicUsize>| async move {
        line.fetch_add(1, Ordering::SeqCst);
        // Bounded, so two tasks sharing one worker thread still finish.
        for _ in 0..100_000 {
            if line.load(Ordering::SeqCst) >= 2 {
                break;
            }
            std::hint::spin_loop();
        }
    };
    let (go_a, go_b) = (start(Arc::clone(&line)), start(line));
    let a = tokio::spawn(async move {
        go_a.await;
        a.await
    });
    let b = tokio::spawn(async move {
        go_b.await;
        b.await
    });
    (
        a.await.expect("a suite task panicked"),
        b.await.expect("a suite task panicked"),
    )
}
