//! Confirm: the buyer's authenticated payment collected at the gateway, exactly once.

use serde::{Deserialize, Serialize};

use super::{BookingError, BookingService, payment_step};
use crate::clock::Timestamp;
use crate::machine::{Kind, OrderStateKind, PaymentCommand, PaymentState};
use crate::money::Money;
use crate::policy::retry::{GaveUp, RetryDecision};
use crate::ports::gateway::{
    ConfirmRequest, GatewayError, GatewayIdempotencyKey, GatewayOrderId, PaymentKey,
};
use crate::ports::store::{
    Cas, FailureCause, OrderRecord, PaymentFailure, PaymentRecord, StoreError,
};

/// The buyer's authenticated payment, as the gateway's success redirect reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Confirmation {
    /// The order id the gateway saw.
    pub order_ref: GatewayOrderId,
    /// The gateway's payment key.
    pub payment_key: PaymentKey,
    /// The amount the redirect claims: checked against the stored order, never trusted.
    pub amount: Money,
}

impl Confirmation {
    /// What the gateway's success redirect carried: its order id, its payment key and the
    /// amount it claims (checked against the stored order, never trusted).
    pub fn new(order_ref: GatewayOrderId, payment_key: PaymentKey, amount: Money) -> Self {
        Confirmation {
            order_ref,
            payment_key,
            amount,
        }
    }
}

/// What the gateway's answer means for the retry loop.
pub(super) fn classify(error: &GatewayError) -> RetryDecision {
    match error {
        GatewayError::Retryable {
            retry_after: Some(wait),
            ..
        } => RetryDecision::RetryAfter(*wait),
        GatewayError::Retryable {
            retry_after: None, ..
        } => RetryDecision::Retry,
        // Money may have moved: only a lookup can tell.
        GatewayError::Unknown { .. } | GatewayError::AlreadyProcessed { .. } => {
            RetryDecision::Reconcile
        }
        GatewayError::Rejected { .. }
        | GatewayError::NotFound
        | GatewayError::InvalidRequest(_) => RetryDecision::Stop,
    }
}

/// What a confirm keeps of the gateway's failure, and the error it reports now; a repeated
/// confirm of the failed payment answers [`failed_confirm`] of what was kept.
fn confirm_failure(error: GatewayError, reason: GaveUp) -> (PaymentFailure, BookingError) {
    let failure = |cause, code: &str, message: String| PaymentFailure {
        cause,
        code: code.to_owned(),
        message,
    };
    let kept = match &error {
        GatewayError::Rejected { code, message } => {
            failure(FailureCause::Rejected, code, message.clone())
        }
        GatewayError::Retryable { code, message, .. } => failure(
            FailureCause::Unavailable,
            code,
            format!("{message} ({reason})"),
        ),
        GatewayError::NotFound => failure(FailureCause::Invalid, "NOT_FOUND", error.to_string()),
        other => failure(FailureCause::Invalid, "INVALID_REQUEST", other.to_string()),
    };
    let answer = match error {
        GatewayError::Rejected { .. } | GatewayError::Retryable { .. } => failed_confirm(&kept),
        other => BookingError::Gateway(other),
    };
    (kept, answer)
}

/// The answer to a confirm of a payment that failed with `failure`.
fn failed_confirm(failure: &PaymentFailure) -> BookingError {
    let PaymentFailure {
        cause,
        code,
        message,
    } = failure.clone();
    match cause {
        FailureCause::Rejected => BookingError::PaymentRejected { code, message },
        FailureCause::Unavailable => BookingError::GatewayUnavailable { code, message },
        FailureCause::Invalid if code == "NOT_FOUND" => {
            BookingError::Gateway(GatewayError::NotFound)
        }
        FailureCause::Invalid => BookingError::Gateway(GatewayError::InvalidRequest(message)),
    }
}

impl BookingService {
    /// Confirms the buyer's authenticated payment: checks the amount against the stored order,
    /// moves the payment to confirming (from here no sweeper can expire it), asks the gateway
    /// under the retry policy with one idempotency key per payment, and marks the order paid
    /// with its items sold, atomically.
    ///
    /// A duplicate (double click) waits for the first and answers the same, also when the
    /// gateway declined the payment (the failure is kept on the payment). If the hold lapsed
    /// and another buyer took items meanwhile, the charge is cancelled at the gateway and
    /// [`BookingError::SeatsLost`] returned. An unknown gateway outcome leaves the payment for
    /// [`reconcile`](Self::reconcile) and returns [`BookingError::PaymentUnknown`].
    pub async fn confirm_payment(
        &self,
        confirmation: &Confirmation,
    ) -> Result<OrderRecord, BookingError> {
        // Time spent waiting for a concurrent confirm of the same payment (a double click).
        let mut waited = std::time::Duration::ZERO;
        loop {
            let payment = self
                .store
                .payment_by_order_ref(&confirmation.order_ref)
                .await?;
            if confirmation.amount != payment.payment.amount() {
                return Err(BookingError::AmountMismatch {
                    expected: payment.payment.amount(),
                    given: confirmation.amount,
                });
            }
            // A repeat of a declined confirm (a double click) answers as the first did.
            if let (PaymentState::Failed, Some(failure)) =
                (payment.payment.state(), &payment.failure)
            {
                return Err(failed_confirm(failure));
            }
            match payment.payment.state() {
                PaymentState::InProgress => {}
                PaymentState::Confirming => {
                    self.wait_for_duplicate(&mut waited).await?;
                    continue;
                }
                PaymentState::Done | PaymentState::PartiallyCanceled | PaymentState::Canceled => {
                    if payment.payment_key.as_ref() != Some(&confirmation.payment_key) {
                        return Err(BookingError::InvalidState {
                            what: "payment",
                            state: payment.payment.state().name(),
                            action: "confirm with another payment key",
                        });
                    }
                    let order = self.store.order(payment.payment.order()).await?;
                    return if order.order.state().kind() == OrderStateKind::Cancelled {
                        Err(BookingError::SeatsLost {
                            tickets: Vec::new(),
                            stock: Vec::new(),
                        })
                    } else {
                        Ok(order)
                    };
                }
                PaymentState::Unknown => return Err(BookingError::PaymentUnknown),
                PaymentState::Expired | PaymentState::Aborted => return Err(BookingError::Expired),
                state @ (PaymentState::Ready | PaymentState::Failed) => {
                    return Err(BookingError::InvalidState {
                        what: "payment",
                        state: state.name(),
                        action: "confirm",
                    });
                }
            }
            let now = self.now();
            let t = payment_step(
                &payment,
                PaymentCommand::BeginConfirm {
                    amount: confirmation.amount,
                },
                "confirm",
                now,
            )?;
            let confirming = PaymentRecord {
                payment: t.next,
                payment_key: Some(confirmation.payment_key.clone()),
                updated_at: now,
                ..payment.clone()
            };
            let change = Cas {
                expected: payment.version(),
                next: confirming,
            };
            match self.store.update_payment(&change, &[t.event], now).await {
                Ok(()) => return self.confirm_at_gateway(change.next).await,
                // Someone else moved it first (a duplicate confirm, or the sweeper): look again.
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits a little for a concurrent duplicate (a confirm of the same payment, a send of the
    /// same refund) to finish, up to the policy's limit. Counts the pauses it makes rather than
    /// reading the clock, so the limit holds whatever clock and sleeper the service runs on.
    pub(super) async fn wait_for_duplicate(
        &self,
        waited: &mut std::time::Duration,
    ) -> Result<(), BookingError> {
        const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
        if *waited >= self.policies.duplicate_wait {
            return Err(BookingError::InProgress);
        }
        self.sleeper.sleep(PAUSE).await;
        *waited = waited.saturating_add(PAUSE);
        Ok(())
    }

    /// Calls the gateway for a payment now confirming, and settles the result.
    async fn confirm_at_gateway(
        &self,
        payment: PaymentRecord,
    ) -> Result<OrderRecord, BookingError> {
        let gateway = self.gateway(&payment.gateway)?;
        let payment_key = payment
            .payment_key
            .clone()
            .ok_or(BookingError::Inconsistent(
                "a confirming payment has no payment key",
            ))?;
        let request = ConfirmRequest {
            payment_key,
            order_ref: payment.order_ref.clone(),
            amount: payment.payment.amount(),
            customer: payment.customer,
            idempotency_key: GatewayIdempotencyKey::new(format!(
                "confirm:{}",
                payment.payment.id()
            ))
            .map_err(|_| BookingError::Inconsistent("a confirm key is not a valid key"))?,
        };
        let outcome = self
            .retrier
            .retry(&classify, |_| gateway.confirm(&request))
            .await;
        let now = self.now();
        match outcome {
            Ok(_) => self.settle_paid(payment, now).await,
            Err(failure) if failure.needs_reconcile() => {
                self.set_payment(&payment, PaymentCommand::MarkUnknown, now)
                    .await?;
                Err(BookingError::PaymentUnknown)
            }
            Err(failure) => {
                let (kept, answer) = confirm_failure(failure.error, failure.reason);
                let failed = PaymentRecord {
                    failure: Some(kept),
                    ..payment
                };
                self.set_payment(&failed, PaymentCommand::Fail, now).await?;
                let record = self.store.order(failed.payment.order()).await?;
                self.release_coupons(&record).await;
                Err(answer)
            }
        }
    }

    /// Applies `command` to a payment and stores it by CAS.
    pub(super) async fn set_payment(
        &self,
        payment: &PaymentRecord,
        command: PaymentCommand,
        now: Timestamp,
    ) -> Result<PaymentRecord, BookingError> {
        let t = payment_step(payment, command, "settle the payment", now)?;
        let change = Cas {
            expected: payment.version(),
            next: PaymentRecord {
                payment: t.next,
                updated_at: now,
                ..payment.clone()
            },
        };
        self.store.update_payment(&change, &[t.event], now).await?;
        Ok(change.next)
    }
}
