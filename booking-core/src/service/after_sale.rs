//! Cancel and refund: unpaid orders release their items, paid ones refund by the quote.

use super::checkout::classify;
use super::refund_request::{CONFLICT_ATTEMPTS, check_request_id, same_refund};
use super::{BookingError, BookingService, RefundReceipt, RefundRequest, order_step, payment_step};
use crate::discount::RefundLine;
use crate::ids::OrderId;
use crate::machine::{OrderCommand, OrderStateKind, PaymentCommand, PaymentState};
use crate::ports::gateway::{CancelRequest, GatewayError, GatewayIdempotencyKey};
use crate::ports::store::{
    Cas, ItemRef, OrderRecord, PaymentRecord, PendingRefund, SETTLED_REFUNDS_KEPT, SettleRefund,
    SettledRefund, StoreError,
};

impl BookingService {
    /// Cancels an order. Unpaid, it releases its items (a payment still in progress is
    /// aborted first; one confirming makes this fail with [`BookingError::InProgress`]). Paid,
    /// it refunds every unit not refunded yet, as [`refund_lines`](Self::refund_lines) would.
    pub async fn cancel_order(
        &self,
        order: OrderId,
        reason: &str,
    ) -> Result<OrderRecord, BookingError> {
        let now = self.now();
        let record = self.store.order(order).await?;
        match record.order.state().kind() {
            OrderStateKind::Pending => {}
            OrderStateKind::AwaitingPayment => {
                if let Some(id) = record.payment {
                    let payment = self.store.payment(id).await?;
                    match payment.payment.state() {
                        PaymentState::Ready | PaymentState::InProgress => {
                            self.set_payment(&payment, PaymentCommand::Abort, now)
                                .await?;
                        }
                        PaymentState::Confirming | PaymentState::Unknown => {
                            return Err(BookingError::InProgress);
                        }
                        _ => {}
                    }
                }
            }
            OrderStateKind::Paid
            | OrderStateKind::Confirmed
            | OrderStateKind::PartiallyRefunded
            | OrderStateKind::Cancelling => {
                let lines = record
                    .lines
                    .iter()
                    .map(|l| (l.line.clone(), None))
                    .collect();
                let request = RefundRequest {
                    order,
                    lines,
                    reason: reason.to_owned(),
                    request_id: None,
                };
                return Ok(self.refund_lines(&request).await?.order);
            }
            state => {
                return Err(BookingError::InvalidState {
                    what: "order",
                    state: state.to_string(),
                    action: "cancel",
                });
            }
        }
        let cancel = order_step(&record, OrderCommand::Cancel, "cancel", now)?;
        let mut events = vec![cancel.event];
        let mut next = cancel.next;
        if next.state().kind() == OrderStateKind::Cancelling {
            let settled = next
                .apply(OrderCommand::SettleCancel, now)
                .map_err(|e| BookingError::Refused(e.to_string()))?;
            events.push(settled.event);
            next = settled.next;
        }
        let change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: next,
                ..record.clone()
            },
        };
        self.store.cancel_unpaid(&change, &events, now).await?;
        self.release_coupons(&record).await;
        Ok(change.next)
    }

    /// Refunds units of a paid order's lines: exactly what they cost under the order's quote
    /// (its per-line discount allocation), so refunding everything returns the total to the
    /// won and partial refunds add up to it. Refunded tickets and stock go back on sale.
    ///
    /// The refund is recorded before the gateway is called; if the answer is lost, calling
    /// again (with any request) first resends that refund with its idempotency key, so it is
    /// applied once. If the gateway refuses it for good, it is given up: the order is paid
    /// again as before, the call answers [`BookingError::PaymentRejected`], and the next
    /// request starts a new refund under a new key.
    ///
    /// With a [`request_id`](RefundRequest::request_id), a repeat of the request (one after
    /// the other or at the same time) answers with the same receipt, the order as it is now.
    pub async fn refund_lines(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundReceipt, BookingError> {
        let Some(id) = &request.request_id else {
            return self.refund_once(request).await;
        };
        check_request_id(id)?;
        let mut attempt = 1;
        loop {
            match self.refund_once(request).await {
                // A concurrent repeat moved the order first: looking again finds this request's
                // refund pending (resent under its key) or settled (its receipt).
                Err(BookingError::Conflict(_)) if attempt < CONFLICT_ATTEMPTS => attempt += 1,
                answer => return answer,
            }
        }
    }

    /// One pass of [`refund_lines`](Self::refund_lines) on the order as read now.
    async fn refund_once(&self, request: &RefundRequest) -> Result<RefundReceipt, BookingError> {
        let now = self.now();
        let mut record = self.store.order(request.order).await?;
        if let Some(id) = &request.request_id
            && let Some(done) = record.settled_refunds.iter().find(|r| &r.request_id == id)
        {
            return Ok(RefundReceipt {
                amount: done.amount,
                order: record,
            });
        }
        if let Some(pending) = record.pending_refund.clone() {
            let retry_of_pending = same_refund(request, &pending);
            match self.settle_pending(record, pending).await {
                Ok(receipt) if retry_of_pending => return Ok(receipt),
                Ok(receipt) => record = receipt.order,
                // The earlier refund was refused for good and given up: this one is new.
                Err(BookingError::PaymentRejected { .. }) if !retry_of_pending => {
                    record = self.store.order(request.order).await?;
                }
                Err(e) => return Err(e),
            }
        }
        match record.order.state().kind() {
            OrderStateKind::Paid
            | OrderStateKind::Confirmed
            | OrderStateKind::PartiallyRefunded => {}
            state => {
                return Err(BookingError::InvalidState {
                    what: "order",
                    state: state.to_string(),
                    action: "refund",
                });
            }
        }
        let mut units = Vec::with_capacity(request.lines.len());
        let mut refund_lines = Vec::with_capacity(request.lines.len());
        for (id, quantity) in &request.lines {
            let line = record
                .lines
                .iter()
                .find(|l| &l.line == id)
                .ok_or_else(|| BookingError::Invalid(format!("order has no line {id}")))?;
            let left = line.units().saturating_sub(line.refunded_units);
            let quantity = quantity.unwrap_or(left);
            if quantity == 0 || quantity > left {
                if request.lines.len() > 1 && quantity == 0 && left == 0 {
                    continue; // refunding "everything": skip lines already refunded
                }
                return Err(BookingError::Invalid(format!(
                    "line {id}: {quantity} units asked, {left} refundable"
                )));
            }
            units.push((id.clone(), quantity));
            refund_lines.push(RefundLine::units(id.clone(), quantity, line.refunded_units));
        }
        if units.is_empty() {
            return Err(BookingError::Invalid("nothing left to refund".to_owned()));
        }
        crate::ports::gateway::validate_cancel_reason(&request.reason)
            .map_err(|e| BookingError::Invalid(e.to_string()))?;
        let amount = record
            .quote
            .refund_for(&refund_lines)
            .map_err(|e| BookingError::Invalid(e.to_string()))?;
        let t = order_step(&record, OrderCommand::Refund { amount }, "refund", now)?;
        let seq = record.refunds_started.saturating_add(1);
        let pending = PendingRefund {
            seq,
            lines: units,
            amount,
            reason: request.reason.clone(),
            request_id: request.request_id.clone(),
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
        self.store.update_order(&change, &[t.event], now).await?;
        self.settle_pending(change.next, pending).await
    }

    /// Sends the pending refund to the gateway (again, with its key) and settles it.
    async fn settle_pending(
        &self,
        record: OrderRecord,
        pending: PendingRefund,
    ) -> Result<RefundReceipt, BookingError> {
        let payment_id = record
            .payment
            .ok_or_else(|| BookingError::Invalid("a refunding order has no payment".to_owned()))?;
        let payment = self.store.payment(payment_id).await?;
        let gateway = self.gateway(&payment.gateway)?;
        let payment_key = payment
            .payment_key
            .clone()
            .ok_or_else(|| BookingError::Invalid("a paid payment has no payment key".to_owned()))?;
        let request = CancelRequest {
            payment_key,
            amount: Some(pending.amount),
            reason: pending.reason.clone(),
            idempotency_key: GatewayIdempotencyKey::new(format!(
                "refund:{}:{}",
                record.order.id(),
                pending.seq
            ))
            .map_err(|e| BookingError::Invalid(e.to_string()))?,
        };
        match self
            .retrier
            .retry(&classify, |_| gateway.cancel(&request))
            .await
        {
            Ok(_) => {}
            Err(failure) if failure.needs_reconcile() => return Err(BookingError::PaymentUnknown),
            Err(failure) => {
                return Err(match failure.error {
                    GatewayError::Rejected { code, message } => {
                        self.abandon_refund(&record).await?;
                        BookingError::PaymentRejected { code, message }
                    }
                    GatewayError::Retryable { code, message, .. } => {
                        BookingError::GatewayUnavailable(format!("{code}: {message}"))
                    }
                    other => BookingError::Gateway(other),
                });
            }
        }
        self.settle_refund(record, payment, pending).await
    }

    /// The gateway refused the pending refund for good: the order goes back to the paid state
    /// it left and forgets the refund, so the next request starts a new one under a new key.
    async fn abandon_refund(&self, record: &OrderRecord) -> Result<(), BookingError> {
        let now = self.now();
        let t = order_step(
            record,
            OrderCommand::AbandonRefund,
            "abandon the refund",
            now,
        )?;
        let change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: t.next,
                pending_refund: None,
                ..record.clone()
            },
        };
        match self.store.update_order(&change, &[t.event], now).await {
            // A concurrent resend was refused too and gave the refund up first.
            Ok(()) | Err(StoreError::VersionConflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The gateway returned the money: payment and order settle, items go back on sale.
    async fn settle_refund(
        &self,
        record: OrderRecord,
        payment: PaymentRecord,
        pending: PendingRefund,
    ) -> Result<RefundReceipt, BookingError> {
        let now = self.now();
        let canceled = payment_step(
            &payment,
            PaymentCommand::Cancel {
                amount: pending.amount,
            },
            "refund",
            now,
        )?;
        let settled = order_step(
            &record,
            OrderCommand::SettleCancel,
            "settle the refund",
            now,
        )?;
        let mut lines = record.lines.clone();
        let mut restock = Vec::new();
        for (id, quantity) in &pending.lines {
            if let Some(line) = lines.iter_mut().find(|l| &l.line == id) {
                line.refunded_units = line.refunded_units.saturating_add(*quantity);
                restock.push(match line.item {
                    ItemRef::Ticket { ticket } => ItemRef::Ticket { ticket },
                    ItemRef::Stock { stock, .. } => ItemRef::Stock {
                        stock,
                        quantity: *quantity,
                    },
                });
            }
        }
        let mut settled_refunds = record.settled_refunds.clone();
        if let Some(request_id) = pending.request_id.clone() {
            settled_refunds.push(SettledRefund {
                request_id,
                seq: pending.seq,
                amount: pending.amount,
            });
            let excess = settled_refunds.len().saturating_sub(SETTLED_REFUNDS_KEPT);
            settled_refunds.drain(..excess);
        }
        let step = SettleRefund {
            order: Cas {
                expected: record.version(),
                next: OrderRecord {
                    order: settled.next,
                    lines,
                    pending_refund: None,
                    settled_refunds,
                    ..record
                },
            },
            payment: Cas {
                expected: payment.version(),
                next: PaymentRecord {
                    payment: canceled.next,
                    updated_at: now,
                    ..payment
                },
            },
            restock,
            events: vec![canceled.event, settled.event],
        };
        self.store.settle_refund(&step, now).await?;
        Ok(RefundReceipt {
            order: step.order.next,
            amount: pending.amount,
        })
    }
}
