//! Start payment: the order awaits a payment attempt at a gateway.

use serde::{Deserialize, Serialize};

use super::{BookingError, BookingService, order_step};
use crate::clock::Timestamp;
use crate::ids::{OrderId, PaymentId};
use crate::machine::{Kind, OrderCommand, OrderStateKind, Payment, PaymentCommand, PaymentState};
use crate::money::Money;
use crate::ports::gateway::GatewayOrderId;
use crate::ports::store::{Cas, OrderRecord, PaymentRecord, StoreError};

/// What the buyer's client needs to open the gateway's payment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentIntent {
    /// Our order.
    pub order: OrderId,
    /// Our payment attempt.
    pub payment: PaymentId,
    /// The order id to give the gateway (6-64 of `[A-Za-z0-9_-]`).
    pub order_ref: GatewayOrderId,
    /// The amount to authenticate: the order's quoted total.
    pub amount: Money,
    /// A short name for the order, shown by the gateway.
    pub order_name: String,
    /// The gateway to use.
    pub gateway: String,
    /// The payment must be confirmed before this instant.
    pub confirm_by: Timestamp,
}

impl BookingService {
    /// Starts paying for a held order through `gateway`: reserves its coupons, records the
    /// payment attempt, and returns what the buyer's client needs to open the gateway's window.
    ///
    /// Idempotent by nature: for an order already awaiting this payment, returns the same intent,
    /// also to a start racing the first (a double click), which leaves its coupons reserved.
    pub async fn start_payment(
        &self,
        order: OrderId,
        gateway: &str,
    ) -> Result<PaymentIntent, BookingError> {
        let now = self.now();
        let gateway = self.gateway(gateway)?.name();
        let record = self.store.order(order).await?;
        if let (OrderStateKind::AwaitingPayment, Some(payment)) =
            (record.order.state().kind(), record.payment)
        {
            let existing = self.store.payment(payment).await?;
            match existing.payment.state() {
                PaymentState::InProgress if existing.gateway == gateway => {
                    return Ok(intent(&record, &existing));
                }
                // The buyer switched gateways before authenticating: abandon the open attempt.
                PaymentState::InProgress | PaymentState::Ready => {
                    self.set_payment(&existing, PaymentCommand::Abort, now)
                        .await?;
                }
                // The last attempt is over without taking money: a new one may start.
                PaymentState::Failed | PaymentState::Expired | PaymentState::Aborted => {}
                PaymentState::Confirming | PaymentState::Unknown => {
                    return Err(BookingError::InProgress);
                }
                state => {
                    return Err(BookingError::InvalidState {
                        what: "payment",
                        state: state.name(),
                        action: "start another payment",
                    });
                }
            }
        }
        if record.order.expires_at() <= now {
            return Err(BookingError::Expired);
        }
        let payment_id = PaymentId::new();
        let t = order_step(
            &record,
            OrderCommand::StartPayment {
                payment: payment_id,
            },
            "start a payment",
            now,
        )?;
        let confirm_by = self
            .policies
            .expiry
            .confirm_deadline(now)
            .map_err(|_| BookingError::Inconsistent("the confirm deadline is out of range"))?
            .min(record.order.expires_at().max(now));
        let started = Payment::new(payment_id, order, record.order.total(), confirm_by)
            .apply(PaymentCommand::Start, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let payment = PaymentRecord {
            payment: started.next,
            gateway: gateway.to_owned(),
            order_ref: GatewayOrderId::for_payment(payment_id),
            payment_key: None,
            customer: record.user,
            updated_at: now,
            failure: None,
        };
        self.reserve_coupons(&record).await?;
        let next = OrderRecord {
            order: t.next,
            payment: Some(payment_id),
            ..record.clone()
        };
        let change = Cas {
            expected: record.version(),
            next,
        };
        if let Err(e) = self
            .store
            .start_payment(&change, &payment, &[t.event, started.event], now)
            .await
        {
            return self.start_failed(&record, gateway, e).await;
        }
        Ok(intent(&change.next, &payment))
    }

    /// The intent of the order's payment if one is in progress on `gateway`.
    async fn intent_in_progress(
        &self,
        record: &OrderRecord,
        gateway: &str,
    ) -> Result<Option<PaymentIntent>, BookingError> {
        if let (OrderStateKind::AwaitingPayment, Some(payment)) =
            (record.order.state().kind(), record.payment)
        {
            let existing = self.store.payment(payment).await?;
            if existing.payment.state() == PaymentState::InProgress && existing.gateway == gateway {
                return Ok(Some(intent(record, &existing)));
            }
        }
        Ok(None)
    }

    /// A start whose write failed. If a concurrent start of the same order (a double click)
    /// won, its payment now owns the coupons both reserved: answer with its intent and leave
    /// them reserved. Otherwise give back what this call reserved.
    async fn start_failed(
        &self,
        record: &OrderRecord,
        gateway: &str,
        error: StoreError,
    ) -> Result<PaymentIntent, BookingError> {
        match self.store.order(record.order.id()).await {
            Ok(current) if current.order.state().kind() == OrderStateKind::AwaitingPayment => {
                match self.intent_in_progress(&current, gateway).await? {
                    Some(started) => Ok(started),
                    None => Err(error.into()),
                }
            }
            _ => {
                self.release_coupons(record).await;
                Err(error.into())
            }
        }
    }

    async fn reserve_coupons(&self, record: &OrderRecord) -> Result<(), BookingError> {
        for (i, coupon) in record.coupons.iter().enumerate() {
            if let Err(e) = self
                .coupons
                .reserve(*coupon, record.user, record.order.id())
                .await
            {
                for done in record.coupons.iter().take(i) {
                    // Best effort: a coupon left reserved is released by the next sweep.
                    let _ = self
                        .coupons
                        .release(*done, record.user, record.order.id())
                        .await;
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Gives the order's reserved coupons back. Failures are left for the sweeper (a release is
    /// idempotent), so they are not reported.
    pub(super) async fn release_coupons(&self, record: &OrderRecord) {
        for coupon in &record.coupons {
            let _ = self
                .coupons
                .release(*coupon, record.user, record.order.id())
                .await;
        }
    }
}

fn intent(record: &OrderRecord, payment: &PaymentRecord) -> PaymentIntent {
    let units = record
        .lines
        .iter()
        .fold(0_u32, |n, l| n.saturating_add(l.units()));
    let order_name = if units == 1 {
        "1 item".to_owned()
    } else {
        format!("{units} items")
    };
    PaymentIntent {
        order: record.order.id(),
        payment: payment.payment.id(),
        order_ref: payment.order_ref.clone(),
        amount: payment.payment.amount(),
        order_name,
        gateway: payment.gateway.clone(),
        confirm_by: payment.payment.expires_at(),
    }
}
