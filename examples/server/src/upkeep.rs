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

use std::collections::BTreeMap;
use std::fmt::Display;

use booking_core::ports::lock::{LockError, LockManager, LockOptions};
use booking_core::service::BookingError;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::live::{self, Batch, Live};
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
            None,
            move || {
                let s = s.clone();
                async move {
                    let report = s.service.sweep().await?;
                    crate::metrics::orders_expired(report.orders_expired);
                    if report.orders_expired > 0 {
                        // Freed seats reach the live streams at once.
                        s.live.nudge();
                        tracing::info!(expired = report.orders_expired, "sweep");
                    }
                    Ok::<_, BookingError>(())
                }
            },
        ));
        let s = state.clone();
        tasks.push(every_tick(
            "reconciler",
            every,
            locks,
            stopped.clone(),
            None,
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
                    Ok::<_, BookingError>(())
                }
            },
        ));
        let s = state.clone();
        tasks.push(every_tick(
            "outbox-relay",
            state.config.relay_every,
            locks,
            stopped.clone(),
            state.config.relay_on_write.then(|| state.live.clone()),
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
            stopped.clone(),
            None,
            move || {
                let s = s.clone();
                async move {
                    admit(&s).await;
                    Ok::<_, BookingError>(())
                }
            },
        ));
        if let (Some(_), Some(url)) = (&state.backend.redis, &state.config.redis_url)
            && let Some(first) = url.split(',').map(str::trim).find(|u| !u.is_empty())
        {
            tasks.push(live::redis::subscribe(
                first.to_owned(),
                state.live_channel.to_string(),
                state.live.clone(),
                stopped,
            ));
        }
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

/// Runs `step` every `period` (and at once when `wake` is nudged), under the job's lock, until
/// `stopped` turns true. A tick whose lock another process holds is skipped; a failed step is
/// logged and tried again next tick.
fn every_tick<F, Fut, E>(
    name: &'static str,
    period: Duration,
    locks: &Arc<dyn LockManager>,
    mut stopped: watch::Receiver<bool>,
    wake: Option<Live>,
    step: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
{
    let locks = Arc::clone(locks);
    let key = format!("upkeep:{name}");
    tokio::spawn(async move {
        // The first step runs one period after start, not at once; a zero period is 1 ms.
        let period = period.max(Duration::from_millis(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lease = LockOptions::new(JOB_LEASE).with_watchdog();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = nudged(wake.as_ref()) => {}
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

/// Resolves when `wake` is nudged; never without one.
async fn nudged(wake: Option<&Live>) {
    match wake {
        Some(live) => live.nudged().await,
        None => std::future::pending().await,
    }
}

/// Why a relay step failed: reading or acknowledging the outbox, or publishing to Redis.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] BookingError),
    /// Publishing the live changes to Redis failed; the entries stay unacknowledged.
    #[error("publishing live changes: {0}")]
    Publish(crate::backend::BoxError),
}

/// Publishes the outbox's domain events (to the log, as the demo's broker, and the seat and
/// stock changes to the live streams: through Redis when configured, so every process gets
/// them) and acknowledges them. Returns how many were relayed. Delivery is at least once: an
/// entry published just before a crash is published again (streams skip positions they had).
pub async fn relay_outbox(state: &AppState) -> Result<u64, RelayError> {
    let store = &state.backend.store;
    let mut relayed = 0u64;
    loop {
        let entries = store
            .outbox(0, RELAY_BATCH)
            .await
            .map_err(BookingError::from)?;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(relayed);
        };
        let (from, upto) = (first.seq, last.seq);
        for entry in &entries {
            tracing::info!(target: "outbox", seq = entry.seq, event = ?entry.event, "domain event");
        }
        let index = state.live.index();
        let mut available = BTreeMap::new();
        for sale in live::events::stock_sales(&entries, index) {
            let now = Timestamp::now();
            let levels = store
                .availability(sale, now)
                .await
                .map_err(BookingError::from)?;
            available.insert(sale, levels.stock_available);
        }
        let batch = Batch {
            from,
            upto,
            changes: live::events::changes_of(&entries, index, &available),
        };
        match &state.backend.redis {
            Some(conn) => live::redis::publish(conn, &state.live_channel, &batch)
                .await
                .map_err(RelayError::Publish)?,
            None => state.live.publish(&batch),
        }
        store
            .acknowledge_outbox(upto)
            .await
            .map_err(BookingError::from)?;
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
