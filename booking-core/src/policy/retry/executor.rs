//! Running an operation under a retry policy.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::policy::{Sleeper, add_saturating, span_between};

use super::{Backoff, RetryBudget, RetryPolicy};

/// What to do about one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// A transient failure (connection refused before sending, 503): try again on schedule.
    Retry,
    /// The server said when to come back (`Retry-After`): try again after that long.
    RetryAfter(Duration),
    /// A final answer (card declined, 400, 404): retrying cannot change it.
    Stop,
    /// The request may or may not have taken effect (timeout after sending, connection
    /// reset mid-response). Never send it again as a new request: look up what happened.
    Reconcile,
}

/// Maps an error to a [`RetryDecision`]. Any `Fn(&E) -> RetryDecision` is one.
pub trait RetryClassifier<E>: Send + Sync {
    /// Classifies `error`.
    fn classify(&self, error: &E) -> RetryDecision;
}

impl<E, F: Fn(&E) -> RetryDecision + Send + Sync> RetryClassifier<E> for F {
    fn classify(&self, error: &E) -> RetryDecision {
        self(error)
    }
}

/// The usual reading of an HTTP status for a request that carries an idempotency key (so a
/// resend cannot act twice): 408, 425, 429 and 5xx retry (honouring `retry_after` if given),
/// other 4xx stop, anything else stops. A request *without* such a key must map timeouts and
/// 5xx to [`RetryDecision::Reconcile`] itself.
pub fn classify_http_status(status: u16, retry_after: Option<Duration>) -> RetryDecision {
    let transient = matches!(status, 408 | 425 | 429 | 500..=599);
    match (transient, retry_after) {
        (true, Some(wait)) => RetryDecision::RetryAfter(wait),
        (true, None) => RetryDecision::Retry,
        (false, _) => RetryDecision::Stop,
    }
}

/// Why the retrier stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaveUp {
    /// The classifier called the error final.
    Stop,
    /// The outcome is unknown: reconcile before anything else.
    Reconcile,
    /// Every attempt the policy allows was made.
    AttemptsExhausted,
    /// The next wait would end past the policy's deadline.
    DeadlineExceeded,
    /// The server asked for a longer wait than the policy's cap.
    RetryAfterTooLong {
        /// The wait asked for.
        requested: Duration,
    },
    /// The shared retry budget is spent: the dependency is failing for many callers.
    BudgetExhausted,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GaveUp::Stop => f.write_str("the error is final"),
            GaveUp::Reconcile => f.write_str("the outcome is unknown and must be reconciled"),
            GaveUp::AttemptsExhausted => f.write_str("no attempts left"),
            GaveUp::DeadlineExceeded => f.write_str("the deadline would pass"),
            GaveUp::RetryAfterTooLong { requested } => {
                write!(f, "the server asked to wait {requested:?}, past the cap")
            }
            GaveUp::BudgetExhausted => f.write_str("the retry budget is spent"),
        }
    }
}

/// The last error of a retried operation, with how many attempts were made and why the
/// retrier gave up.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} attempt(s): {reason}")]
pub struct RetryError<E> {
    /// The last attempt's error.
    #[source]
    pub error: E,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// Why no further attempt was made.
    pub reason: GaveUp,
}

impl<E> RetryError<E> {
    /// Whether the caller must find out what happened before acting again.
    pub fn needs_reconcile(&self) -> bool {
        self.reason == GaveUp::Reconcile
    }
}

/// Runs operations under a [`RetryPolicy`], waiting on a [`Sleeper`], timing deadlines on a
/// [`Clock`], optionally drawing on a shared [`RetryBudget`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    budget: Option<Arc<RetryBudget>>,
    seed: u64,
    runs: Arc<AtomicU64>,
}

impl Retrier {
    /// A retrier whose jitter is seeded from the clock.
    pub fn new(policy: RetryPolicy, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        let nanos = clock.now().as_nanosecond();
        let seed = u64::try_from(nanos.rem_euclid(i128::from(u64::MAX))).unwrap_or(0);
        Retrier {
            policy,
            clock,
            sleeper,
            budget: None,
            seed,
            runs: Arc::default(),
        }
    }

    /// Seeds the jitter, so a test replays the same delays. Each run draws a distinct
    /// sequence derived from the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Spends retries from `budget` (and counts each run as a call on it).
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The policy followed.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Calls `operation` with the attempt number (1-based) until it succeeds or a rule says
    /// stop; logs a `tracing` event for each failed attempt.
    ///
    /// # Errors
    /// [`RetryError`] with the last error, the attempts made and why it gave up; check
    /// [`RetryError::needs_reconcile`] before acting on it.
    pub async fn retry<T, E, Op, Fut>(
        &self,
        classifier: &(impl RetryClassifier<E> + ?Sized),
        mut operation: Op,
    ) -> Result<T, RetryError<E>>
    where
        Op: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        let config = self.policy.config();
        let started = self.clock.now();
        let deadline = config.deadline.map(|d| add_saturating(started, d));
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let mut backoff = Backoff::new(&self.policy, self.seed.wrapping_add(run));
        if let Some(budget) = &self.budget {
            budget.record_call();
        }
        let mut attempt = 1_u32;
        loop {
            let error = match operation(attempt).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let decision = classifier.classify(&error);
            let delay = match self.next_wait(decision, &mut backoff, deadline) {
                Ok(delay) => delay,
                Err(reason) => {
                    tracing::warn!(attempt, %error, %reason, "giving up");
                    return Err(RetryError {
                        error,
                        attempts: attempt,
                        reason,
                    });
                }
            };
            tracing::debug!(attempt, %error, ?decision, ?delay, "attempt failed, retrying");
            self.sleeper.sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// How long to wait before the next attempt, or why there is none.
    fn next_wait(
        &self,
        decision: RetryDecision,
        backoff: &mut Backoff,
        deadline: Option<Timestamp>,
    ) -> Result<Duration, GaveUp> {
        let scheduled = match decision {
            RetryDecision::Stop => return Err(GaveUp::Stop),
            RetryDecision::Reconcile => return Err(GaveUp::Reconcile),
            RetryDecision::Retry | RetryDecision::RetryAfter(_) => backoff.next_delay(),
        };
        let scheduled = scheduled.ok_or(GaveUp::AttemptsExhausted)?;
        let delay = match decision {
            RetryDecision::RetryAfter(requested)
                if requested > self.policy.config().retry_after_cap =>
            {
                return Err(GaveUp::RetryAfterTooLong { requested });
            }
            RetryDecision::RetryAfter(requested) => requested,
            _ => scheduled,
        };
        if let Some(deadline) = deadline {
            let now = self.clock.now();
            if now >= deadline || span_between(now, deadline) < delay {
                return Err(GaveUp::DeadlineExceeded);
            }
        }
        if let Some(budget) = &self.budget
            && !budget.try_spend_retry()
        {
            return Err(GaveUp::BudgetExhausted);
        }
        Ok(delay)
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::super::{Jitter, RetryBudgetConfig};
    use super::*;
    use crate::clock::{ManualClock, Timestamp};
    use crate::policy::ManualSleeper;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Failure {
        Transient,
        Declined,
        TimedOut,
        SlowDown(u64),
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    fn classify(e: &Failure) -> RetryDecision {
        match e {
            Failure::Transient => RetryDecision::Retry,
            Failure::Declined => RetryDecision::Stop,
            Failure::TimedOut => RetryDecision::Reconcile,
            Failure::SlowDown(secs) => RetryDecision::RetryAfter(Duration::from_secs(*secs)),
        }
    }

    fn retrier(policy: RetryPolicy) -> (ManualSleeper, Retrier) {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let sleeper = ManualSleeper::new(clock.clone());
        let retrier = Retrier::new(policy, Arc::new(clock), Arc::new(sleeper.clone()));
        (sleeper, retrier)
    }

    /// Fails with `failures` in order, then succeeds with the attempt number.
    async fn run(retrier: &Retrier, failures: &[Failure]) -> Result<u32, RetryError<Failure>> {
        retrier
            .retry(&classify, |attempt| {
                let step = usize::try_from(attempt - 1).unwrap();
                let result = failures.get(step).map_or(Ok(attempt), |f| Err(*f));
                async move { result }
            })
            .await
    }

    fn secs(sleeper: &ManualSleeper) -> Vec<u64> {
        sleeper.slept().iter().map(Duration::as_secs).collect()
    }

    #[tokio::test]
    async fn the_payment_preset_retries_transient_errors_2s_then_4s() {
        let (sleeper, retrier) = retrier(RetryPolicy::payment());
        let ok = run(&retrier, &[Failure::Transient, Failure::Transient]).await;
        assert_eq!(ok.unwrap(), 3);
        assert_eq!(secs(&sleeper), [2, 4]);
        let err = run(&retrier, &[Failure::Transient; 3]).await.unwrap_err();
        assert_eq!((err.attempts, err.reason), (3, GaveUp::AttemptsExhausted));
    }

    #[tokio::test]
    async fn final_errors_stop_and_unknown_outcomes_are_never_retried() {
        let (sleeper, retrier) = retrier(RetryPolicy::payment());
        let err = run(&retrier, &[Failure::Declined]).await.unwrap_err();
        assert_eq!((err.attempts, err.reason), (1, GaveUp::Stop));
        let err = run(&retrier, &[Failure::Transient, Failure::TimedOut])
            .await
            .unwrap_err();
        assert_eq!((err.attempts, err.reason), (2, GaveUp::Reconcile));
        assert!(err.needs_reconcile());
        assert_eq!(err.error, Failure::TimedOut);
        assert_eq!(secs(&sleeper), [2]);
    }

    #[tokio::test]
    async fn the_deadline_cuts_off_a_wait_that_would_pass_it() {
        let mut config = RetryPolicy::payment().config().clone();
        config.max_attempts = 10;
        config.deadline = Some(Duration::from_secs(5));
        let (sleeper, retrier) = retrier(RetryPolicy::new(config).unwrap());
        let err = run(&retrier, &[Failure::Transient; 10]).await.unwrap_err();
        assert_eq!((err.attempts, err.reason), (2, GaveUp::DeadlineExceeded));
        assert_eq!(secs(&sleeper), [2]);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let (sleeper, retrier) = retrier(RetryPolicy::payment());
        assert_eq!(run(&retrier, &[Failure::SlowDown(7)]).await.unwrap(), 2);
        assert_eq!(secs(&sleeper), [7]);
        let err = run(&retrier, &[Failure::SlowDown(11)]).await.unwrap_err();
        assert_eq!(
            err.reason,
            GaveUp::RetryAfterTooLong {
                requested: Duration::from_secs(11)
            }
        );
        assert_eq!(secs(&sleeper), [7]);
    }

    #[tokio::test]
    async fn a_spent_budget_stops_retries() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let config = RetryBudgetConfig {
            retry_percent: 0,
            min_retries_per_window: 1,
            window: Duration::from_secs(3600),
        };
        let budget = Arc::new(RetryBudget::new(config, Arc::new(clock)).unwrap());
        let (_, retrier) = retrier(RetryPolicy::payment());
        let retrier = retrier.with_budget(budget);
        assert_eq!(run(&retrier, &[Failure::Transient]).await.unwrap(), 2);
        let err = run(&retrier, &[Failure::Transient]).await.unwrap_err();
        assert_eq!((err.attempts, err.reason), (1, GaveUp::BudgetExhausted));
    }

    #[tokio::test]
    async fn a_seed_replays_the_same_jittered_waits() {
        let mut config = RetryPolicy::payment().config().clone();
        config.jitter = Jitter::Full;
        config.max_attempts = 6;
        let policy = RetryPolicy::new(config).unwrap();
        let waits = || async {
            let (sleeper, retrier) = retrier(policy.clone());
            let retrier = retrier.with_seed(42);
            let _ = run(&retrier, &[Failure::Transient; 6]).await;
            sleeper.slept()
        };
        let first = waits().await;
        assert_eq!(first.len(), 5);
        assert_eq!(first, waits().await);
    }

    #[test]
    fn http_statuses_are_classified_by_what_a_resend_can_change() {
        assert_eq!(classify_http_status(503, None), RetryDecision::Retry);
        assert_eq!(
            classify_http_status(429, Some(Duration::from_secs(3))),
            RetryDecision::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(classify_http_status(400, None), RetryDecision::Stop);
        assert_eq!(classify_http_status(402, None), RetryDecision::Stop);
        assert_eq!(
            classify_http_status(409, Some(Duration::from_secs(1))),
            RetryDecision::Stop
        );
        assert_eq!(classify_http_status(200, None), RetryDecision::Stop);
    }
}
