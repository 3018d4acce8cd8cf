//! Sending a refund to the gateway: one sender at a time, one key until the refund ends.
//!
//! The refund in flight lives on the order ([`PendingRefund`]), and so does the lease of the
//! one caller sending it (`sending_until`). Starting a refund, taking its sending over and
//! giving it back are each a compare-and-set on the order, so of two callers only one sends;
//! a refusal is confirmed by looking the payment up before the refund is abandoned. See
//! `docs/adr/0004-one-sender-per-refund.md`.

use super::confirm::classify;
use super::{BookingError, BookingService, RefundRequest, order_step};
use crate::clock::Timestamp;
use crate::discount::RefundLine;
use crate::machine::{Kind, OrderCommand, OrderStateKind};
use crate::ports::gateway::{CancelRequest, GatewayError, GatewayIdempotencyKey};
use crate::ports::store::{Cas, OrderRecord, PendingRefund, StoreError};

/// A refund this caller may send: the order as this caller wrote it, and the lease's end.
#[derive(Debug)]
pub(super) struct Claimed {
    /// The order at the version this caller's claim wrote.
    pub(super) record: OrderRecord,
    /// The refund, as stored on `record`.
    pub(super) pending: PendingRefund,
    /// No new attempt is sent from this instant on.
    pub(super) lease_end: Timestamp,
}

/// How sending a claimed refund ended.
#[derive(Debug)]
pub(super) enum Sent {
    /// The refund settled or was abandoned; its answer is stored on the order.
    Ended,
    /// Another caller changed the order first: read it again.
    Raced,
    /// The refund is still in flight (answer lost, gateway down, refusal not confirmed), or
    /// the store failed; the sending was given back for the next caller.
    Failed(BookingError),
}

impl BookingService {
    /// Starts a refund of `request` on `record`: the order moves to cancelling with the refund
    /// in flight and this caller as its sender. `None` if the order changed meanwhile.
    pub(super) async fn start_refund(
        &self,
        request: &RefundRequest,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<Option<Claimed>, BookingError> {
        match record.order.state().kind() {
            OrderStateKind::Paid
            | OrderStateKind::Confirmed
            | OrderStateKind::PartiallyRefunded => {}
            state => {
                return Err(BookingError::InvalidState {
                    what: "order",
                    state: state.name(),
                    action: "refund",
                });
            }
        }
        let mut units = Vec::with_capacity(request.lines.len());
        let mut refund_lines = Vec::with_capacity(request.lines.len());
        for (id, quantity) in &request.lines {
            let line =
                record.lines.iter().find(|l| &l.line == id).ok_or_else(|| {
                    BookingError::invalid("lines", format!("order has no line {id}"))
                })?;
            let left = line.units().saturating_sub(line.refunded_units);
            let quantity = quantity.unwrap_or(left);
            if quantity == 0 || quantity > left {
                if request.lines.len() > 1 && quantity == 0 && left == 0 {
                    continue; // refunding "everything": skip lines already refunded
                }
                return Err(BookingError::invalid(
                    "lines",
                    format!("line {id}: {quantity} units asked, {left} refundable"),
                ));
            }
            units.push((id.clone(), quantity));
            refund_lines.push(RefundLine::units(id.clone(), quantity, line.refunded_units));
        }
        if units.is_empty() {
            return Err(BookingError::invalid("lines", "nothing left to refund"));
        }
        let amount = record
            .quote
            .refund_for(&refund_lines)
            .map_err(|e| BookingError::invalid("lines", e))?;
        let t = order_step(record, OrderCommand::Refund { amount }, "refund", now)?;
        let lease_end = self.lease_end(now)?;
        let seq = record.refunds_started.saturating_add(1);
        let pending = PendingRefund {
            seq,
            lines: units,
            amount,
            reason: request.reason.clone(),
            request_id: request.request_id.clone(),
            requested: request.requested(),
            sending_until: Some(lease_end),
        };
        let change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: t.next,
                refunds_started: seq,
                pending_refund: Some(pending.clone()),
                ..record.clone()
            },
        };
        match self.store.update_order(&change, &[t.event], now).await {
            Ok(()) => Ok(Some(Claimed {
                record: change.next,
                pending,
                lease_end,
            })),
            Err(StoreError::VersionConflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes over the sending of the refund in flight, whose last sender's lease has ended
    /// (or who gave it back). `None` if another caller changed the order first.
    pub(super) async fn take_over_refund(
        &self,
        record: &OrderRecord,
        pending: PendingRefund,
        now: Timestamp,
    ) -> Result<Option<Claimed>, BookingError> {
        let lease_end = self.lease_end(now)?;
        let pending = PendingRefund {
            sending_until: Some(lease_end),
            ..pending
        };
        match self.hand_over(record, pending.clone(), now).await {
            Ok(record) => Ok(Some(Claimed {
                record,
                pending,
                lease_end,
            })),
            Err(StoreError::VersionConflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn lease_end(&self, now: Timestamp) -> Result<Timestamp, BookingError> {
        now.checked_add(self.policies.refund_send_lease)
            .map_err(|_| BookingError::Inconsistent("the refund send lease is out of range"))
    }

    /// Stores `pending` (with its new sender) on the order, as a new version of it.
    async fn hand_over(
        &self,
        record: &OrderRecord,
        pending: PendingRefund,
        now: Timestamp,
    ) -> Result<OrderRecord, StoreError> {
        let t = record
            .order
            .apply(OrderCommand::HandOverRefund, now)
            .map_err(|e| StoreError::refused("Order", e))?;
        let change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: t.next,
                pending_refund: Some(pending),
                ..record.clone()
            },
        };
        self.store.update_order(&change, &[t.event], now).await?;
        Ok(change.next)
    }

    /// Gives the sending back after an answer that ended nothing, so the next caller sends
    /// the refund again at once instead of waiting for the lease to end. Best effort: if it
    /// fails, the lease ends on its own.
    pub(super) async fn give_back(&self, claimed: &Claimed, error: BookingError) -> Sent {
        let pending = PendingRefund {
            sending_until: None,
            ..claimed.pending.clone()
        };
        if let Err(e) = self.hand_over(&claimed.record, pending, self.now()).await {
            tracing::debug!(order = %claimed.record.order.id(), error = %e, "refund sending not given back");
        }
        Sent::Failed(error)
    }

    /// Sends the claimed refund under its key (retrying per policy while the lease lasts),
    /// then settles it, abandons it once its refusal is confirmed, or gives the sending back.
    pub(super) async fn send_refund(&self, claimed: Claimed) -> Sent {
        let prepared = async {
            let payment_id = claimed.record.payment.ok_or(BookingError::Inconsistent(
                "a refunding order has no payment",
            ))?;
            let payment = self.store.payment(payment_id).await?;
            let payment_key = payment
                .payment_key
                .clone()
                .ok_or(BookingError::Inconsistent(
                    "a paid payment has no payment key",
                ))?;
            let key = format!(
                "refund:{}:{}",
                claimed.record.order.id(),
                claimed.pending.seq
            );
            let request = CancelRequest {
                payment_key,
                amount: Some(claimed.pending.amount),
                reason: claimed.pending.reason.clone(),
                idempotency_key: GatewayIdempotencyKey::new(key)
                    .map_err(|_| BookingError::Inconsistent("a refund key is not a valid key"))?,
            };
            Ok::<_, BookingError>((payment, request))
        };
        let (payment, request) = match prepared.await {
            Ok(prepared) => prepared,
            Err(e) => return self.give_back(&claimed, e).await,
        };
        let gateway = match self.gateway(&payment.gateway) {
            Ok(gateway) => gateway,
            Err(e) => return self.give_back(&claimed, e).await,
        };
        let outcome = self
            .retrier
            .retry(&classify, |_| async {
                // Past the lease another caller may be sending this refund: send no more.
                if self.now() >= claimed.lease_end {
                    return Err(GatewayError::Unknown {
                        reason: "the lease on sending this refund ended".to_owned(),
                    });
                }
                gateway.cancel(&request).await
            })
            .await;
        match outcome {
            Ok(_) => self.settle_refund(&claimed, payment).await,
            Err(failure) if failure.needs_reconcile() => {
                self.give_back(&claimed, BookingError::PaymentUnknown).await
            }
            Err(failure) => match failure.error {
                GatewayError::Rejected { code, message } => {
                    self.confirm_refusal(&claimed, payment, code, message).await
                }
                GatewayError::Retryable { code, message, .. } => {
                    let error = BookingError::GatewayUnavailable { code, message };
                    self.give_back(&claimed, error).await
                }
                other => self.give_back(&claimed, BookingError::Gateway(other)).await,
            },
        }
    }
}
