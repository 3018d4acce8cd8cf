//! The driver: opens the sale, lets buyers in cycle by cycle while sale time moves, runs the
//! upkeep an application would schedule (reconcile, sweep), refunds a few orders afterwards,
//! and closes with a final sweep.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use booking_core::clock::Clock;
use booking_core::ids::{OrderId, UserId};
use booking_core::machine::PaymentState;
use booking_core::memory::{Fault, GatewayOp};
use booking_core::ports::lock::{FencingToken, LockGuard, LockOptions};
use booking_core::service::{BookingError, BookingService, RefundRequest};
use tokio::task::JoinSet;

use crate::args::Args;
use crate::buyer::{self, Buyer, End, FaultScript, Outcome};
use crate::plan::{self, Method};
use crate::world::{ADMISSION_TTL, ADMIT_PER_CYCLE, CYCLE, World};

/// One paid order in this many is refunded after the sale.
const REFUND_EVERY: usize = 10;
/// Reconciliation handles at most this many payments per run.
const RECONCILE_LIMIT: u32 = 1_000;
/// Cycles a late buyer spends in the gateway's window: longer than the hold lasts.
const LATE_BY_CYCLES: u32 = 6;
/// The lease of the upkeep and refund locks, on the sale's clock (which stands still while
/// they are held).
const LOCK_LEASE: Duration = Duration::from_secs(60);

/// What the driver counted.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) admitted: u32,
    pub(crate) cycles: u32,
    pub(crate) orders_expired: u32,
    pub(crate) coupons_released: u32,
    pub(crate) reconciled_paid: u32,
    pub(crate) reconciled_failed: u32,
    pub(crate) reconciled_cancelled: u32,
    pub(crate) unresolved: u32,
    pub(crate) refunds: u32,
    /// Refunds whose gateway answer was lost and that were sent again.
    pub(crate) refunds_resent: u32,
    /// The fencing tokens of the locks the driver took (upkeep, refunds), in order.
    pub(crate) lock_tokens: Vec<FencingToken>,
    /// Errors outside the buyers' own calls (arrival, upkeep, refunds).
    pub(crate) errors: Vec<String>,
}

/// A finished sale.
#[derive(Debug)]
pub(crate) struct Sale {
    pub(crate) world: World,
    pub(crate) outcomes: Vec<Outcome>,
    pub(crate) tally: Tally,
    pub(crate) script: Arc<FaultScript>,
    /// Late confirmations: (cycle due, index into `outcomes`).
    late: Vec<(u32, usize)>,
}

/// Runs the whole sale.
pub(crate) async fn run(args: &Args) -> Result<Sale, Box<dyn Error>> {
    let world = World::open(args.seats, &args.database, args.redis.as_deref()).await?;
    let script = Arc::new(FaultScript::default());
    script
        .timeouts_left
        .store(1 + args.buyers / 500, Ordering::SeqCst);
    script.outages_left.store(1, Ordering::SeqCst);
    let mut sale = Sale {
        world,
        outcomes: Vec::new(),
        tally: Tally::default(),
        script,
        late: Vec::new(),
    };

    // The sale opens: every buyer arrives at once.
    let mut arrivals = JoinSet::new();
    for plan in plan::draw(args.buyers, args.seed) {
        arrivals.spawn(Buyer::arrive(plan, sale.world.clone()));
    }
    let mut waiting = HashMap::new();
    while let Some(joined) = arrivals.join_next().await {
        match joined? {
            Ok(buyer) => {
                waiting.insert(buyer.plan.user, buyer);
            }
            Err(e) => sale.tally.errors.push(format!("arrival: {e}")),
        }
    }

    while !waiting.is_empty() || !sale.late.is_empty() {
        sale.cycle(&mut waiting).await?;
    }
    sale.refund_some().await;
    // Long after the sale: every hold and payment window has lapsed.
    sale.world.clock.advance(Duration::from_secs(60 * 60));
    sale.upkeep(true).await;
    Ok(sale)
}

impl Sale {
    /// One waiting-room cycle: admit the next buyers, let them shop in parallel, run upkeep,
    /// let sale time pass.
    async fn cycle(&mut self, waiting: &mut HashMap<UserId, Buyer>) -> Result<(), Box<dyn Error>> {
        self.confirm_late().await;
        let world = &self.world;
        let admitted = world
            .queue
            .admit_next(
                world.event,
                ADMIT_PER_CYCLE,
                ADMISSION_TTL,
                world.clock.now(),
            )
            .await?;
        if admitted.is_empty() && !waiting.is_empty() {
            return Err(
                format!("{} buyers are waiting but none was admitted", waiting.len()).into(),
            );
        }
        self.tally.admitted = self
            .tally
            .admitted
            .saturating_add(u32::try_from(admitted.len()).unwrap_or(u32::MAX));
        let mut shoppers = JoinSet::new();
        for admission in admitted {
            if let Some(buyer) = waiting.remove(&admission.user) {
                shoppers.spawn(buyer.shop(world.clone(), Arc::clone(&self.script)));
            }
        }
        while let Some(done) = shoppers.join_next().await {
            let outcome = done?;
            if outcome.late.is_some() {
                let due = self.tally.cycles.saturating_add(LATE_BY_CYCLES);
                self.late.push((due, self.outcomes.len()));
            }
            self.outcomes.push(outcome);
        }
        self.tally.cycles = self.tally.cycles.saturating_add(1);
        self.upkeep(self.tally.cycles.is_multiple_of(2)).await;
        self.world.clock.advance(CYCLE);
        Ok(())
    }

    /// Late buyers whose time has come confirm now, one after another. The first late card
    /// payment meets a gateway outage: failures outlasting the retry policy.
    async fn confirm_late(&mut self) {
        let now = self.tally.cycles;
        let (due, later): (Vec<_>, Vec<_>) = self.late.drain(..).partition(|(at, _)| *at <= now);
        self.late = later;
        for (_, index) in due {
            let Some(outcome) = self.outcomes.get_mut(index) else {
                continue;
            };
            let (Some(confirmation), Some(&order)) = (outcome.late.take(), outcome.orders.last())
            else {
                continue;
            };
            // Only a payment the gateway will actually be asked about can meet the outage.
            let confirmable = self
                .world
                .store
                .payment_by_order_ref(&confirmation.order_ref)
                .await
                .is_ok_and(|p| p.payment.state() == PaymentState::InProgress);
            if confirmable
                && outcome.plan.method == Method::Card
                && self.script.outages_left.swap(0, Ordering::SeqCst) > 0
            {
                for _ in 0..self.world.service.policies().retry.config().max_attempts {
                    self.script.transient.fetch_add(1, Ordering::SeqCst);
                    self.world
                        .card
                        .fail_next(GatewayOp::Confirm, Fault::Transient("OUTAGE".to_owned()));
                }
            }
            let answer = self.world.service.confirm_payment(&confirmation).await;
            outcome.end = buyer::settle(&self.world, order, answer)
                .await
                .unwrap_or_else(|e| End::Unexpected(e.to_string()));
        }
    }

    /// Takes `key` (of the event's scope) for the driver's work, as every node running the
    /// upkeep would; `None` (and an error noted) if it cannot.
    async fn lock(&mut self, key: &str) -> Option<LockGuard> {
        let key = format!("{{event:{}}}:{key}", self.world.event);
        match self
            .world
            .locks
            .acquire(&[&key], &LockOptions::new(LOCK_LEASE))
            .await
        {
            Ok(guard) => {
                self.tally.lock_tokens.push(guard.token());
                Some(guard)
            }
            Err(e) => {
                self.tally.errors.push(format!("lock {key}: {e}"));
                None
            }
        }
    }

    /// Releases a lock taken by [`lock`](Self::lock).
    async fn unlock(&mut self, guard: LockGuard) {
        if let Err(e) = guard.release().await {
            self.tally.errors.push(format!("unlock: {e}"));
        }
    }

    /// Reconciles unknown payments and, when `sweep`, expires lapsed orders until none is due,
    /// under the event's upkeep lock.
    async fn upkeep(&mut self, sweep: bool) {
        let Some(guard) = self.lock("upkeep").await else {
            return;
        };
        self.upkeep_locked(sweep).await;
        self.unlock(guard).await;
    }

    async fn upkeep_locked(&mut self, sweep: bool) {
        let t = &mut self.tally;
        match self.world.service.reconcile(RECONCILE_LIMIT).await {
            Ok(r) => {
                t.reconciled_paid += r.paid;
                t.reconciled_failed += r.failed;
                t.reconciled_cancelled += r.cancelled;
                t.unresolved += r.unresolved;
            }
            Err(e) => t.errors.push(format!("reconcile: {e}")),
        }
        if !sweep {
            return;
        }
        loop {
            match self.world.service.sweep().await {
                Ok(r) => {
                    t.orders_expired += r.orders_expired;
                    t.coupons_released += r.coupons_released;
                    if r.orders_expired == 0 {
                        break;
                    }
                }
                Err(e) => {
                    t.errors.push(format!("sweep: {e}"));
                    break;
                }
            }
        }
    }

    /// After the sale some buyers change their minds: one line of two-seat orders is refunded,
    /// one-seat orders are cancelled. The first card refund's answer is lost on the way back,
    /// and the refund is simply asked for again.
    async fn refund_some(&mut self) {
        let mut paid: Vec<(u32, OrderId, Method)> = self
            .outcomes
            .iter()
            .filter(|o| o.end == End::Paid)
            .filter_map(|o| Some((o.plan.index, *o.orders.last()?, o.plan.method)))
            .collect();
        paid.sort_by_key(|&(index, ..)| index);
        let mut lose_answer = true;
        for (_, order, method) in paid.into_iter().step_by(REFUND_EVERY) {
            // One gateway call per order at a time, whichever node asks.
            let Some(guard) = self.lock(&format!("order:{order}")).await else {
                continue;
            };
            if lose_answer && method == Method::Card {
                self.world
                    .card
                    .fail_next(GatewayOp::Cancel, Fault::TimeoutAfterProcessing);
                lose_answer = false;
            }
            let service = &self.world.service;
            let refunded = match refund_once(service, order).await {
                // The gateway's answer was lost: asking again resends the same refund, with the
                // same idempotency key, so it is applied once.
                Err(BookingError::PaymentUnknown) => {
                    self.tally.refunds_resent += 1;
                    refund_once(service, order).await
                }
                other => other,
            };
            match refunded {
                Ok(()) => self.tally.refunds += 1,
                Err(e) => self.tally.errors.push(format!("refund of {order}: {e}")),
            }
            self.unlock(guard).await;
        }
    }
}

/// Refunds the first line of a multi-seat order, or cancels a one-seat order outright.
async fn refund_once(service: &BookingService, order: OrderId) -> Result<(), BookingError> {
    let record = service.order(order).await?;
    if record.lines.len() > 1 {
        let request = record.lines.iter().take(1).fold(
            RefundRequest::new(order, "one guest cannot come"),
            |r, l| r.line(l.line.clone()),
        );
        service.refund_lines(&request).await.map(|_| ())
    } else {
        service
            .cancel_order(order, "plans changed")
            .await
            .map(|_| ())
    }
}
