//! Waiting as a port, so backoff and lock waits run in virtual time under test.
//!
//! Code that waits (the [`retry`](crate::policy::retry) executor, a lock acquisition with a
//! bounded wait) takes a [`Sleeper`] instead of calling a runtime's `sleep` directly. In
//! production that is `TokioSleeper` (feature `tokio`); in tests [`ManualSleeper`] moves a
//! [`ManualClock`] forward instead of waiting and records every pause it was asked for.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::clock::ManualClock;

/// Something that can pause the current task for a while.
#[async_trait::async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug + 'static {
    /// Returns after `duration` has passed (on this sleeper's notion of time). A zero
    /// duration still gives other tasks a chance to run where the sleeper can.
    async fn sleep(&self, duration: Duration);
}

#[async_trait::async_trait]
impl<S: Sleeper + ?Sized> Sleeper for std::sync::Arc<S> {
    async fn sleep(&self, duration: Duration) {
        (**self).sleep(duration).await;
    }
}

/// Sleeps on the tokio timer. The timer counts whole milliseconds, so a pause shorter than
/// one yields to the scheduler instead of rounding up to a full millisecond: short lock
/// backoffs stay short.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
#[async_trait::async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        if duration < Duration::from_millis(1) {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(duration).await;
        }
    }
}

/// A sleeper for tests: returns at once after advancing a [`ManualClock`] by the requested
/// duration, and remembers each request so a test can assert the schedule that was followed.
#[derive(Debug, Clone)]
pub struct ManualSleeper {
    clock: ManualClock,
    slept: std::sync::Arc<Mutex<Vec<Duration>>>,
}

impl ManualSleeper {
    /// A sleeper that moves `clock` (clones of it see the same time).
    pub fn new(clock: ManualClock) -> Self {
        ManualSleeper {
            clock,
            slept: std::sync::Arc::default(),
        }
    }

    /// Every duration this sleeper (or a clone of it) was asked to sleep, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl Sleeper for ManualSleeper {
    async fn sleep(&self, duration: Duration) {
        self.slept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        self.clock.advance(duration);
        // Return to the executor once, as a real sleep would: a task looping on sleeps (a lock
        // waiter, a retry) must not keep its thread from the task it waits for.
        YieldOnce(false).await;
    }
}

/// A future that is pending once (waking itself at once) and then ready: the smallest yield to
/// the executor, whatever the runtime.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
