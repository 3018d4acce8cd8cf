//! Upkeep: expiring abandoned orders and reconciling payments whose outcome is unknown.

use serde::{Deserialize, Serialize};

use super::{BookingError, BookingService, payment_step};
use crate::machine::{PaymentCommand, PaymentState};
use crate::policy::retry::RetryDecision;
use crate::ports::gateway::{GatewayError, GatewayStatus};
use crate::ports::store::PaymentRecord;

/// What one [`BookingService::sweep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SweepReport {
    /// Orders expired.
    pub orders_expired: u32,
    /// Payments expired with them.
    pub payments_expired: u32,
    /// Tickets put back on sale.
    pub tickets_released: u32,
    /// Stock units put back on sale.
    pub stock_units_released: u32,
    /// Coupons given back to their holders.
    pub coupons_released: u32,
    /// Due orders left alone because a payment is confirming, unknown or done.
    pub skipped_in_payment: u32,
}

/// What one [`BookingService::reconcile`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// Payments looked up at their gateway.
    pub checked: u32,
    /// Found charged: the order is now paid.
    pub paid: u32,
    /// Found not charged: the payment failed.
    pub failed: u32,
    /// Found charged, but the items were gone: the charge was cancelled.
    pub cancelled: u32,
    /// Still unknown (the gateway did not answer); tried again next time.
    pub unresolved: u32,
}

/// A lookup changes nothing, so any failure short of a final answer is worth another try.
pub(super) fn classify_lookup(error: &GatewayError) -> RetryDecision {
    match error {
        GatewayError::NotFound
        | GatewayError::InvalidRequest(_)
        | GatewayError::Rejected { .. } => RetryDecision::Stop,
        GatewayError::Retryable {
            retry_after: Some(wait),
            ..
        } => RetryDecision::RetryAfter(*wait),
        GatewayError::Retryable { .. }
        | GatewayError::Unknown { .. }
        | GatewayError::AlreadyProcessed { .. } => RetryDecision::Retry,
    }
}

impl BookingService {
    /// Expires orders whose hold lapsed (past the policy's grace period) and were not paid,
    /// puts their items back on sale and gives their coupons back. Orders whose payment is
    /// confirming are never touched. Safe to run on many nodes at once.
    ///
    /// Items of lapsed holds are already available to other buyers before this runs (lazy
    /// expiry); the sweep only tidies.
    pub async fn sweep(&self) -> Result<SweepReport, BookingError> {
        let now = self.now();
        let cutoff = self.policies.expiry.sweep_cutoff(now);
        let batch = self.policies.expiry.config().sweep_batch_size;
        let sweep = self.store.expire_due(cutoff, batch).await?;
        let mut report = SweepReport {
            orders_expired: u32::try_from(sweep.expired.len()).unwrap_or(u32::MAX),
            payments_expired: sweep.payments_expired,
            tickets_released: sweep.tickets_released,
            stock_units_released: sweep.stock_units_released,
            coupons_released: 0,
            skipped_in_payment: sweep.skipped_in_payment,
        };
        for (order, user, coupons) in sweep.expired {
            for coupon in coupons {
                if self.coupons.release(coupon, user, order).await.is_ok() {
                    report.coupons_released = report.coupons_released.saturating_add(1);
                }
            }
        }
        Ok(report)
    }

    /// Settles payments whose outcome is unknown — and confirms interrupted long ago — by
    /// asking their gateway what happened, never by sending the charge again: charged means
    /// paid (or, if the items are gone, cancelled); not charged means failed.
    ///
    /// Looks at up to `limit` payments, oldest first. A payment in `Unknown` is looked up at
    /// any age; one still `Confirming` only once it has not changed for
    /// [`Policies::stale_confirm_after`](super::Policies::stale_confirm_after) (2 minutes by
    /// default), since a younger one is probably being confirmed right now.
    pub async fn reconcile(&self, limit: u32) -> Result<ReconcileReport, BookingError> {
        let now = self.now();
        let mut report = ReconcileReport::default();
        let candidates = self
            .store
            .payments_in(&[PaymentState::Unknown, PaymentState::Confirming], limit)
            .await?;
        for payment in candidates {
            let idle = payment.updated_at.duration_until(now).unsigned_abs();
            if payment.payment.state() == PaymentState::Confirming
                && idle < self.policies.stale_confirm_after
            {
                continue; // a confirm is probably still running
            }
            report.checked = report.checked.saturating_add(1);
            match self.reconcile_one(payment).await {
                Ok(Settled::Paid) => report.paid = report.paid.saturating_add(1),
                Ok(Settled::Failed) => report.failed = report.failed.saturating_add(1),
                Ok(Settled::Cancelled) | Err(BookingError::SeatsLost { .. }) => {
                    report.cancelled = report.cancelled.saturating_add(1);
                }
                Ok(Settled::Unresolved) | Err(_) => {
                    report.unresolved = report.unresolved.saturating_add(1)
                }
            }
        }
        Ok(report)
    }

    async fn reconcile_one(&self, payment: PaymentRecord) -> Result<Settled, BookingError> {
        let gateway = self.gateway(&payment.gateway)?;
        let looked_up = self
            .retrier
            .retry(&classify_lookup, |_| gateway.lookup(&payment.order_ref))
            .await;
        let now = self.now();
        let status = match looked_up {
            Ok(found) => Some(found.status),
            Err(failure) if failure.error == GatewayError::NotFound => None,
            Err(_) => return Ok(Settled::Unresolved),
        };
        match status {
            Some(GatewayStatus::Done | GatewayStatus::PartialCanceled) => {
                self.settle_paid(payment, now).await?;
                Ok(Settled::Paid)
            }
            Some(GatewayStatus::Canceled) => {
                // Charged and already cancelled (a lost-items refund whose record did not land).
                let record = self.store.order(payment.payment.order()).await?;
                let approved = payment_step(&payment, PaymentCommand::Approve, "approve", now)?;
                let approved_record = PaymentRecord {
                    payment: approved.next,
                    updated_at: now,
                    ..payment
                };
                self.refund_lost(record, approved_record, Some(approved.event), now)
                    .await?;
                Ok(Settled::Cancelled)
            }
            Some(
                GatewayStatus::Ready
                | GatewayStatus::InProgress
                | GatewayStatus::WaitingForDeposit
                | GatewayStatus::Aborted
                | GatewayStatus::Expired,
            )
            | None => {
                self.set_payment(&payment, PaymentCommand::Fail, now)
                    .await?;
                let record = self.store.order(payment.payment.order()).await?;
                self.release_coupons(&record).await;
                Ok(Settled::Failed)
            }
        }
    }
}

/// How one reconciled payment ended.
enum Settled {
    Paid,
    Failed,
    Cancelled,
    Unresolved,
}
