//! The paid step: the order paid and its items sold — or, if items were lost, the charge
//! cancelled.

use super::confirm::classify;
use super::{BookingError, BookingService, order_step, payment_step};
use crate::clock::Timestamp;
use crate::machine::{OrderCommand, PaymentCommand, PaymentState};
use crate::ports::gateway::{CancelRequest, GatewayIdempotencyKey};
use crate::ports::store::{Cas, MarkPaid, OrderRecord, PaymentRecord, StoreError};

impl BookingService {
    /// The gateway collected the money for a confirming (or unknown) payment: payment done,
    /// order paid and confirmed, items sold, coupons spent — or, if items were lost, the charge
    /// cancelled.
    pub(super) async fn settle_paid(
        &self,
        payment: PaymentRecord,
        now: Timestamp,
    ) -> Result<OrderRecord, BookingError> {
        let record = self.store.order(payment.payment.order()).await?;
        let approved = payment_step(&payment, PaymentCommand::Approve, "approve", now)?;
        let amount = payment.payment.amount();
        let paid = order_step(
            &record,
            OrderCommand::MarkPaid {
                payment: payment.payment.id(),
                amount,
            },
            "mark paid",
            now,
        )?;
        let confirmed = paid
            .next
            .apply(OrderCommand::Confirm, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let step = MarkPaid {
            order: Cas {
                expected: record.version(),
                next: OrderRecord {
                    order: confirmed.next,
                    ..record.clone()
                },
            },
            payment: Cas {
                expected: payment.version(),
                next: PaymentRecord {
                    payment: approved.next,
                    updated_at: now,
                    ..payment.clone()
                },
            },
            events: vec![approved.event, paid.event, confirmed.event],
        };
        match self.store.mark_paid(&step, now).await {
            Ok(()) => {
                for coupon in &record.coupons {
                    // A coupon that fails to commit stays reserved for this paid order; the
                    // order still holds it and nobody else can use it.
                    let _ = self
                        .coupons
                        .commit(*coupon, record.user, record.order.id())
                        .await;
                }
                Ok(step.order.next)
            }
            Err(StoreError::ItemsLost { tickets, stock }) => {
                self.refund_lost(record, step.payment.next, step.events.first().cloned(), now)
                    .await?;
                Err(BookingError::SeatsLost { tickets, stock })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The buyer paid but items are gone: cancel the whole charge at the gateway, then the
    /// payment and the order, and release what the order still holds.
    pub(super) async fn refund_lost(
        &self,
        record: OrderRecord,
        approved: PaymentRecord,
        approve_event: Option<crate::machine::DomainEvent>,
        now: Timestamp,
    ) -> Result<(), BookingError> {
        let gateway = self.gateway(&approved.gateway)?;
        let Some(payment_key) = approved.payment_key.clone() else {
            return Err(BookingError::Inconsistent(
                "a paid payment has no payment key",
            ));
        };
        let request = CancelRequest {
            payment_key,
            amount: None,
            reason: "items sold out while the payment was confirmed".to_owned(),
            idempotency_key: GatewayIdempotencyKey::new(format!("lost:{}", approved.payment.id()))
                .map_err(|_| BookingError::Inconsistent("a cancel key is not a valid key"))?,
        };
        // The payment as stored is still confirming (or unknown); `approved` is its next step.
        let stored = self.store.payment(approved.payment.id()).await?;
        if self
            .retrier
            .retry(&classify, |_| gateway.cancel(&request))
            .await
            .is_err()
        {
            // Reconciliation looks the payment up, finds it charged, and comes back here.
            if stored.payment.state() == PaymentState::Confirming {
                self.set_payment(&stored, PaymentCommand::MarkUnknown, now)
                    .await?;
            }
            return Ok(());
        }
        let canceled = approved
            .payment
            .apply(
                PaymentCommand::Cancel {
                    amount: approved.payment.amount(),
                },
                now,
            )
            .map_err(|e| BookingError::Refused(e.reason))?;
        let events: Vec<_> = approve_event.into_iter().chain([canceled.event]).collect();
        let change = Cas {
            expected: stored.version(),
            next: PaymentRecord {
                payment: canceled.next,
                updated_at: now,
                ..approved
            },
        };
        self.store.update_payment(&change, &events, now).await?;
        let cancelling = order_step(&record, OrderCommand::Cancel, "cancel", now)?;
        let cancelled = cancelling
            .next
            .apply(OrderCommand::SettleCancel, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let order_change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: cancelled.next,
                ..record.clone()
            },
        };
        self.store
            .cancel_unpaid(&order_change, &[cancelling.event, cancelled.event], now)
            .await?;
        self.release_coupons(&record).await;
        Ok(())
    }
}
