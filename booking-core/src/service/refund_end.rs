//! How a sent refund ends: settled when the gateway returned the money, abandoned once a
//! lookup confirms a refusal, left in flight otherwise.

use super::refund_send::{Claimed, Sent};
use super::upkeep::classify_lookup;
use super::{BookingError, BookingService, order_step, payment_step};
use crate::machine::{OrderCommand, PaymentCommand};
use crate::money::Money;
use crate::ports::gateway::GatewayPayment;
use crate::ports::store::{
    Cas, ItemRef, OrderRecord, PaymentRecord, PendingRefund, RefundAnswer, RefundOutcome,
    SettleRefund, StoreError,
};

impl BookingService {
    /// The gateway refused the refund. A refusal may not be the gateway's last word on the key
    /// (some gateways do not keep refusals), so the payment is looked up: nothing returned for
    /// this refund → abandon it; returned → settle it; anything else → leave it in flight.
    pub(super) async fn confirm_refusal(
        &self,
        claimed: &Claimed,
        payment: PaymentRecord,
        code: String,
        message: String,
    ) -> Sent {
        let Ok(gateway) = self.gateway(&payment.gateway) else {
            return Sent::Failed(BookingError::Inconsistent(
                "a payment names a gateway the service does not have",
            ));
        };
        let looked_up = self
            .retrier
            .retry(&classify_lookup, |_| gateway.lookup(&payment.order_ref))
            .await;
        let found = match looked_up {
            Ok(found) => found,
            Err(failure) => {
                let error = BookingError::GatewayUnavailable {
                    code,
                    message: format!(
                        "the refusal could not be confirmed by a lookup: {}",
                        failure.error
                    ),
                };
                return self.give_back(claimed, error).await;
            }
        };
        let booked = claimed.record.order.refunded();
        match returned(&found) {
            Some(returned) if returned == booked => {
                self.abandon_refund(claimed, code, message).await
            }
            Some(returned) if booked.checked_add(claimed.pending.amount) == Ok(returned) => {
                self.settle_refund(claimed, payment).await
            }
            returned => {
                tracing::warn!(
                    order = %claimed.record.order.id(),
                    ?returned,
                    %booked,
                    pending = %claimed.pending.amount,
                    "the gateway refused a refund and its balance matches neither outcome"
                );
                self.give_back(claimed, BookingError::PaymentUnknown).await
            }
        }
    }

    /// The gateway returned the money: payment and order settle, items go back on sale, and
    /// the answer is kept for repeats.
    pub(super) async fn settle_refund(&self, claimed: &Claimed, payment: PaymentRecord) -> Sent {
        let now = self.now();
        let record = &claimed.record;
        let pending = &claimed.pending;
        let steps = payment_step(
            &payment,
            PaymentCommand::Cancel {
                amount: pending.amount,
            },
            "refund",
            now,
        )
        .and_then(|canceled| {
            order_step(record, OrderCommand::SettleCancel, "settle the refund", now)
                .map(|settled| (canceled, settled))
        });
        let (canceled, settled) = match steps {
            Ok(steps) => steps,
            Err(e) => return self.give_back(claimed, e).await,
        };
        let mut next = OrderRecord {
            order: settled.next,
            pending_refund: None,
            ..record.clone()
        };
        let mut restock = Vec::with_capacity(pending.lines.len());
        for (id, quantity) in &pending.lines {
            if let Some(line) = next.lines.iter_mut().find(|l| &l.line == id) {
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
        next.remember_refund(answer(
            pending,
            RefundOutcome::Refunded {
                amount: pending.amount,
            },
        ));
        let step = SettleRefund {
            order: Cas {
                expected: record.version(),
                next,
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
        match self.store.settle_refund(&step, now).await {
            Ok(()) => Sent::Ended,
            // Another caller settled it (after this caller's lease ended): read its answer.
            Err(StoreError::VersionConflict { .. }) => Sent::Raced,
            Err(e) => self.give_back(claimed, e.into()).await,
        }
    }

    /// The refusal is confirmed: the order goes back to the paid state it left, the refund is
    /// forgotten (the next request starts a new one under a new key) and the refusal is kept
    /// as its answer.
    pub(super) async fn abandon_refund(
        &self,
        claimed: &Claimed,
        code: String,
        message: String,
    ) -> Sent {
        let now = self.now();
        let record = &claimed.record;
        let t = match order_step(
            record,
            OrderCommand::AbandonRefund,
            "abandon the refund",
            now,
        ) {
            Ok(t) => t,
            Err(e) => return self.give_back(claimed, e).await,
        };
        let mut next = OrderRecord {
            order: t.next,
            pending_refund: None,
            ..record.clone()
        };
        next.remember_refund(answer(
            &claimed.pending,
            RefundOutcome::Rejected { code, message },
        ));
        let change = Cas {
            expected: record.version(),
            next,
        };
        match self.store.update_order(&change, &[t.event], now).await {
            Ok(()) => Sent::Ended,
            Err(StoreError::VersionConflict { .. }) => Sent::Raced,
            Err(e) => self.give_back(claimed, e.into()).await,
        }
    }
}

/// What the gateway has returned of a payment so far.
fn returned(payment: &GatewayPayment) -> Option<Money> {
    payment.total.checked_sub(payment.balance).ok()
}

fn answer(pending: &PendingRefund, outcome: RefundOutcome) -> RefundAnswer {
    RefundAnswer {
        seq: pending.seq,
        request_id: pending.request_id.clone(),
        requested: pending.requested.clone(),
        outcome,
    }
}
