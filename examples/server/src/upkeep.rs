//! Background work: the sweeper, the payment reconciler, the outbox relay and the waiting
//! room's admissions, each a task that stops cleanly when the server shuts down.
//!
//! Each step runs under a lock of its own (`upkeep:{task}`, on Redis when configured): of
//! several server processes sharing a backend, one runs a given job at a time and the others
//! skip that tick, so the waiting room admits at the configured rate however many processes
//! serve it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use booking_core::ports::lock::{LockError, LockManager, LockOptions};
use booking_core::service::BookingError;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The lease of a job's lock, kept alive by the watchdog while the step runs.
const JOB_LEASE: Duration = Duration::from_secs(30);

/// Outbox entries read per relay step.
const RELAY_BATCH: u32 = 100;

/// The running background tasks.
#[derive(Debug)]
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts every task on `state`.
    pub fn spawn(state: &AppState) -> Background {
        let (stop, stopped) = watch::channel(false);
        let every = state.config.upkeep_every;
        let mut tasks = Vec::new();
        let locks = &state.backend.locks;
        let s = state.clone();
        tasks.push(every_tick(
            "sweeper",
            every,
            locks,
            stopped.clone(),
            move || {
                let s = s.clone();
                async move {
                    let report = s.service.sweep().await?;
                    crate::metrics::orders_expired(report.orders_expired);
                    if report.orders_expired > 0 {
                        tracing::info!(expired = report.orders_expired, "sweep");
                    }
                    Ok(())
                }
            },
        ));
        let s = state.clone();
        tasks.push(every_tick(
            "reconciler",
            every,
            locks,
            stopped.clone(),
            move || {
                let s = s.clone();
                async move {
                    let report = s.service.reconcile(100).await?;
                    if report.checked > 0 {
                        tracing::info!(
                            checked = report.checked,
                            paid = report.paid,
                            failed = report.failed,
                            "reconcile"
                        );
                    }
                    Ok(())
                }
            },
        ));
        let s = state.clone();
        tasks.push(every_tick(
            "outbox-relay",
            every,
            locks,
            stopped.clone(),
            move || {
                let s = s.clone();
                async move { relay_outbox(&s).await.map(drop) }
            },
        ));
        let s = state.clone();
        tasks.push(every_tick(
            "admitter",
            state.config.admit_every,
            locks,
            stopped,
            move || {
                let s = s.clone();
                async move {
                    admit(&s).await;
                    Ok(())
                }
            },
        ));
        Background { stop, tasks }
    }

    /// Stops every task after its current step and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background task failed");
            }
        }
    }
}

/// Runs `step` every `period`, under the job's lock, until `stopped` turns true. A tick whose
/// lock another process holds is skipped; a failed step is logged and tried again next tick.
fn every_tick<F, Fut>(
    name: &'static str,
    period: Duration,
    locks: &Arc<dyn LockManager>,
    mut stopped: watch::Receiver<bool>,
    step: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BookingError>> + Send,
{
    let locks = Arc::clone(locks);
    let key = format!("upkeep:{name}");
    tokio::spawn(async move {
        // The first step runs one period after start, not at once.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lease = LockOptions::new(JOB_LEASE).with_watchdog();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            let guard = match locks.acquire(&[key.as_str()], &lease).await {
                Ok(guard) => guard,
                Err(LockError::Busy { .. }) => continue,
                Err(e) => {
                    tracing::warn!(task = name, error = %e, "background step skipped: no lock");
                    continue;
                }
            };
            if let Err(e) = step().await {
                tracing::warn!(task = name, error = %e, "background step failed");
            }
            if let Err(e) = guard.release().await {
                tracing::warn!(task = name, error = %e, "releasing the job's lock failed");
            }
        }
        tracing::debug!(task = name, "stopped");
    })
}

/// Publishes the outbox's domain events (to the log, as the demo's broker) and acknowledges
/// them. Returns how many were relayed. Delivery is at least once: an entry published just
/// before a crash is published again.
pub async fn relay_outbox(state: &AppState) -> Result<u64, BookingError> {
    let mut relayed = 0u64;
    loop {
        let entries = state.backend.store.outbox(0, RELAY_BATCH).await?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(relayed);
        };
        for entry in &entries {
            tracing::info!(target: "outbox", seq = entry.seq, event = ?entry.event, "domain event");
        }
        state.backend.store.acknowledge_outbox(last).await?;
        relayed = relayed.saturating_add(entries.len() as u64);
    }
}

/// Admits the next buyers of every waiting room and reports the rooms' lengths.
async fn admit(state: &AppState) {
    let now = Timestamp::now();
    for event in state.catalog.waiting_rooms() {
        let queue = &state.backend.queue;
        if let Err(e) = queue
            .admit_next(
                event,
                state.config.admit_per_cycle,
                state.config.admission_ttl,
                now,
            )
            .await
        {
            tracing::warn!(error = %e, "admitting from the waiting room failed");
        }
        if let Ok(waiting) = queue.waiting_len(event).await {
            crate::metrics::queue_waiting(&event.to_string(), waiting);
        }
    }
}
