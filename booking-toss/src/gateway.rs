//! [`TossGateway`]: booking-core's [`PaymentGateway`] port over Toss.
//!
//! | Toss says | the gateway answers |
//! |---|---|
//! | a `DONE` payment for our order id and amount | the payment |
//! | a [`Retry`](ErrorClass::Retry) code, or no connection | [`GatewayError::Retryable`] (the service retries per its policy) |
//! | a [`Stop`](ErrorClass::Stop) code | [`GatewayError::Rejected`] (`NotFound` for a missing payment) |
//! | `409 IDEMPOTENT_REQUEST_PROCESSING` | resent after a pause ([`IN_FLIGHT_PAUSE`]) for up to [`IN_FLIGHT_DEADLINE`]; then as an open outcome |
//! | a [`Reconcile`](ErrorClass::Reconcile) code or no answer, on confirm | an open outcome: see below |
//! | the same, on cancel | [`GatewayError::Unknown`]: the service resends with the same key later |
//! | `ALREADY_CANCELED_PAYMENT` on a full cancel, and a look-up shows `CANCELED` | the payment |
//!
//! A confirm whose outcome is open (`ALREADY_PROCESSED_PAYMENT`, `UNKNOWN_PAYMENT_ERROR`, a
//! read timeout, a connection lost after sending, a request still in flight) is settled by
//! looking the payment up by its key: approved for our order id and exactly our amount is
//! success (the first answer was lost); `ABORTED` or `EXPIRED` is a rejection; approved for
//! another order or amount is a rejection (the key is not this order's); anything else —
//! still in progress, or the look-up failing — stays [`GatewayError::Unknown`] (or
//! `AlreadyProcessed`) for the service's reconciler. Money is never moved twice to find out.
//!
//! A 409 is never reported as retryable: the request it names may still charge, and a
//! payment the service gave up on as "unavailable" would then be charged behind its back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, SystemClock};
use booking_core::money::{Currency, Money};
use booking_core::policy::retry::{Jitter, Retrier, RetryDecision, RetryPolicy, RetryPolicyConfig};
use booking_core::policy::{Sleeper, TokioSleeper};
use booking_core::ports::backend::gateway::validate_cancel_reason;
use booking_core::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayCancel, GatewayError, GatewayOrderId, GatewayPayment,
    GatewayStatus, PaymentGateway, PaymentKey,
};

use crate::amount::Amount;
use crate::client::TossClient;
use crate::codes::{Endpoint, ErrorClass};
use crate::error::{IN_FLIGHT_PAUSE, TossError};
use crate::idempotency::IdempotencyKey;
use crate::params::{CancelParams, ConfirmParams};
use crate::payment::{Payment, Status};

/// The name the gateway registers under in a `BookingService` (`start_payment(order, "toss")`).
pub const GATEWAY_NAME: &str = "toss";

/// How long a request Toss reports in flight (`409`) is resent, a pause apart, before its
/// outcome is treated as open.
pub const IN_FLIGHT_DEADLINE: Duration = Duration::from_secs(5);

/// The retry policy for requests Toss reports in flight: resent every [`IN_FLIGHT_PAUSE`]
/// until [`IN_FLIGHT_DEADLINE`].
pub fn in_flight_policy() -> RetryPolicy {
    let config = RetryPolicyConfig {
        max_attempts: 6,
        base_delay: IN_FLIGHT_PAUSE,
        multiplier_percent: 100,
        max_delay: IN_FLIGHT_PAUSE,
        jitter: Jitter::None,
        deadline: Some(IN_FLIGHT_DEADLINE),
        retry_after_cap: IN_FLIGHT_PAUSE,
    };
    // The fields above satisfy every rule `RetryPolicy::new` checks.
    RetryPolicy::new(config).unwrap_or_else(|_| RetryPolicy::never())
}

/// Toss as a booking-core [`PaymentGateway`], named [`GATEWAY_NAME`]. Amounts are KRW.
#[derive(Debug, Clone)]
pub struct TossGateway {
    client: TossClient,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl TossGateway {
    /// A gateway over `client`, on the system clock, pausing on the tokio timer.
    pub fn new(client: TossClient) -> Self {
        TossGateway {
            client,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Reads "now" from `clock` (the in-flight deadline; cancels Toss did not date).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Pauses on `sleeper` before resending a request Toss reports in flight.
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Runs `call`, resending it while Toss answers `409 IDEMPOTENT_REQUEST_PROCESSING`, under
    /// [`in_flight_policy`].
    async fn waiting_out_in_flight<F, Fut>(
        &self,
        endpoint: Endpoint,
        call: F,
    ) -> Result<Payment, TossError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Payment, TossError>>,
    {
        let retrier = Retrier::new(
            in_flight_policy(),
            Arc::clone(&self.clock),
            Arc::clone(&self.sleeper),
        );
        let in_flight = |error: &TossError| match error.class(endpoint) {
            ErrorClass::InFlight => error.retry_decision(endpoint),
            _ => RetryDecision::Stop,
        };
        retrier
            .retry(&in_flight, |_| call())
            .await
            .map_err(|gave_up| gave_up.error)
    }

    /// The client underneath.
    pub fn client(&self) -> &TossClient {
        &self.client
    }

    /// Checks that a confirm retried under `policy` (the service's
    /// [`Policies::retry`](booking_core::service::Policies::retry)) stays well inside Toss's
    /// ten-minute confirm window with this client's timeouts; returns its worst case.
    ///
    /// # Errors
    /// [`TossError::Config`] if it could take longer than [`CONFIRM_BUDGET`](crate::CONFIRM_BUDGET).
    pub fn check_retry_policy(
        &self,
        policy: &RetryPolicy,
    ) -> Result<std::time::Duration, TossError> {
        self.client.timeouts().check_confirm_budget(policy)
    }

    /// Settles a confirm whose outcome is open by looking the payment up (never by sending
    /// the confirm again).
    async fn settle_open_confirm(
        &self,
        request: &ConfirmRequest,
        amount: Amount,
        error: TossError,
    ) -> Result<GatewayPayment, GatewayError> {
        let found = match self.client.payment(request.payment_key.as_str()).await {
            Ok(found) => found,
            Err(lookup) => {
                tracing::warn!(%error, %lookup, "confirm outcome open and the look-up failed");
                return Err(open_outcome(error));
            }
        };
        let ours =
            found.order_id == request.order_ref.as_str() && found.total_amount == Some(amount);
        match found.status {
            Status::Done | Status::PartialCanceled | Status::Canceled if ours => {
                self.to_gateway(found)
            }
            Status::Done | Status::PartialCanceled | Status::Canceled => Err(rejected(
                "PAYMENT_MISMATCH",
                "the payment key was approved for another order id or amount",
            )),
            Status::Aborted | Status::Expired => {
                let failure = found.failure.unwrap_or_else(|| crate::Failure {
                    code: found.status.to_string(),
                    message: "the payment was not approved".to_owned(),
                });
                Err(rejected(&failure.code, &failure.message))
            }
            _ => Err(open_outcome(error)),
        }
    }

    /// booking-core's view of a Toss payment; a payment it cannot read is an unknown outcome.
    fn to_gateway(&self, payment: Payment) -> Result<GatewayPayment, GatewayError> {
        let unreadable = |what: String| GatewayError::Unknown {
            reason: format!("unreadable payment from Toss: {what}"),
        };
        let status = match &payment.status {
            Status::Ready => GatewayStatus::Ready,
            Status::InProgress => GatewayStatus::InProgress,
            Status::WaitingForDeposit => GatewayStatus::WaitingForDeposit,
            Status::Done => GatewayStatus::Done,
            Status::PartialCanceled => GatewayStatus::PartialCanceled,
            Status::Canceled => GatewayStatus::Canceled,
            Status::Aborted => GatewayStatus::Aborted,
            Status::Expired => GatewayStatus::Expired,
            Status::Other(other) => return Err(unreadable(format!("status {other:?}"))),
        };
        let won = |amount: Option<Amount>, field: &str| {
            amount
                .ok_or_else(|| unreadable(format!("no {field}")))?
                .to_money(Currency::KRW)
                .map_err(|e| unreadable(e.to_string()))
        };
        let now = self.clock.now();
        let cancels = payment
            .cancel_list()
            .iter()
            .map(|cancel| {
                Ok(GatewayCancel::new(
                    won(Some(cancel.cancel_amount), "cancelAmount")?,
                    cancel.cancel_reason.clone().unwrap_or_default(),
                    cancel.transaction_key.clone().unwrap_or_default(),
                    cancel.canceled_at_time().unwrap_or(now),
                ))
            })
            .collect::<Result<Vec<_>, GatewayError>>()?;
        let mut answer = GatewayPayment::new(
            PaymentKey::new(payment.payment_key.as_str()).map_err(|e| unreadable(e.to_string()))?,
            GatewayOrderId::new(payment.order_id.as_str())
                .map_err(|e| unreadable(e.to_string()))?,
            status,
            won(payment.total_amount, "totalAmount")?,
            won(payment.balance_amount, "balanceAmount")?,
        );
        answer.approved_at = payment.approved_at_time();
        answer.cancels = cancels;
        Ok(answer)
    }
}

#[async_trait]
impl PaymentGateway for TossGateway {
    fn name(&self) -> &'static str {
        GATEWAY_NAME
    }

    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError> {
        let amount = krw(request.amount)?;
        let params = ConfirmParams {
            payment_key: request.payment_key.as_str().to_owned(),
            order_id: request.order_ref.as_str().to_owned(),
            amount,
        };
        let key = IdempotencyKey::from(&request.idempotency_key);
        let sent = self
            .waiting_out_in_flight(Endpoint::Confirm, || self.client.confirm(&params, &key))
            .await;
        let payment = match sent {
            Ok(payment) => payment,
            Err(error) => {
                return match error.class(Endpoint::Confirm) {
                    ErrorClass::Reconcile | ErrorClass::InFlight => {
                        self.settle_open_confirm(request, amount, error).await
                    }
                    _ => Err(to_gateway_error(error, Endpoint::Confirm)),
                };
            }
        };
        // A replay answers with the first request's body: make sure it is this payment.
        if payment.order_id != params.order_id || payment.total_amount != Some(amount) {
            return Err(rejected(
                "PAYMENT_MISMATCH",
                "Toss answered with a payment of another order id or amount",
            ));
        }
        match payment.status {
            Status::Done => self.to_gateway(payment),
            // A virtual account is issued, not paid: the deposit decides.
            Status::WaitingForDeposit => Err(GatewayError::Unknown {
                reason: "virtual account issued; waiting for the deposit".to_owned(),
            }),
            other => Err(GatewayError::Unknown {
                reason: format!("Toss answered the confirm with status {other}"),
            }),
        }
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError> {
        validate_cancel_reason(&request.reason)?;
        let params = CancelParams {
            cancel_reason: request.reason.clone(),
            cancel_amount: request.amount.map(krw).transpose()?,
            refund_receive_account: None,
            tax_free_amount: None,
        };
        let key = IdempotencyKey::from(&request.idempotency_key);
        let payment_key = request.payment_key.as_str();
        let sent = self
            .waiting_out_in_flight(Endpoint::Cancel, || {
                self.client.cancel(payment_key, &params, &key)
            })
            .await;
        match sent {
            Ok(payment) if payment.payment_key == payment_key => self.to_gateway(payment),
            Ok(_) => Err(rejected(
                "PAYMENT_MISMATCH",
                "Toss answered the cancel with another payment",
            )),
            // A full cancel of a payment already fully cancelled (under another key) is done.
            // A partial one is not: what it asks for was never this request's to return.
            Err(error)
                if request.amount.is_none() && error.code() == Some("ALREADY_CANCELED_PAYMENT") =>
            {
                match self.client.payment(payment_key).await {
                    Ok(found) if found.status == Status::Canceled => self.to_gateway(found),
                    _ => Err(to_gateway_error(error, Endpoint::Cancel)),
                }
            }
            Err(error) => Err(to_gateway_error(error, Endpoint::Cancel)),
        }
    }

    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        let payment = self
            .client
            .payment_by_order(order_ref.as_str())
            .await
            .map_err(|e| to_gateway_error(e, Endpoint::Lookup))?;
        if payment.order_id != order_ref.as_str() {
            return Err(GatewayError::Unknown {
                reason: "Toss answered the look-up with another order's payment".to_owned(),
            });
        }
        self.to_gateway(payment)
    }
}

/// `money` in won, or an invalid request for any other currency.
fn krw(money: Money) -> Result<Amount, GatewayError> {
    if money.currency() != Currency::KRW {
        return Err(GatewayError::InvalidRequest(format!(
            "Toss payments are in KRW, not {}",
            money.currency()
        )));
    }
    Amount::from_money(money).map_err(|e| GatewayError::InvalidRequest(e.to_string()))
}

fn rejected(code: &str, message: &str) -> GatewayError {
    GatewayError::Rejected {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// A confirm whose outcome stays open after the look-up.
fn open_outcome(error: TossError) -> GatewayError {
    match error.code() {
        Some(code @ ("ALREADY_PROCESSED_PAYMENT" | "ALREADY_PROCESSING_REQUEST")) => {
            GatewayError::AlreadyProcessed {
                code: code.to_owned(),
            }
        }
        _ => GatewayError::Unknown {
            reason: error.to_string(),
        },
    }
}

/// The port's error for a Toss error, by its class at `endpoint`.
fn to_gateway_error(error: TossError, endpoint: Endpoint) -> GatewayError {
    let class = error.class(endpoint);
    match error {
        TossError::Api { code, .. }
            if endpoint != Endpoint::Confirm
                && matches!(code.as_str(), "NOT_FOUND_PAYMENT" | "NOT_FOUND") =>
        {
            GatewayError::NotFound
        }
        TossError::InvalidRequest(message) | TossError::Config(message) => {
            GatewayError::InvalidRequest(message)
        }
        TossError::Api { code, message, .. } => match class {
            ErrorClass::Retry => GatewayError::Retryable {
                code,
                message,
                retry_after: None,
            },
            ErrorClass::Stop => GatewayError::Rejected { code, message },
            // Still in flight after the pauses: it may yet take effect.
            ErrorClass::InFlight | ErrorClass::Reconcile => GatewayError::Unknown {
                reason: format!("{code}: {message}"),
            },
        },
        other => match class {
            ErrorClass::Retry | ErrorClass::InFlight => GatewayError::Retryable {
                code: transport_code(&other).to_owned(),
                message: other.to_string(),
                retry_after: None,
            },
            ErrorClass::Stop => GatewayError::Rejected {
                code: transport_code(&other).to_owned(),
                message: other.to_string(),
            },
            ErrorClass::Reconcile => GatewayError::Unknown {
                reason: other.to_string(),
            },
        },
    }
}

/// A code for errors Toss did not name.
fn transport_code(error: &TossError) -> &'static str {
    match error {
        TossError::Connect { .. } => "CONNECT_FAILED",
        TossError::NoAnswer {
            timed_out: true, ..
        } => "TIMEOUT",
        TossError::NoAnswer { .. } => "CONNECTION_LOST",
        TossError::Decode { .. } => "UNREADABLE_ANSWER",
        _ => "CLIENT_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::api;

    #[test]
    fn errors_map_to_what_the_service_does() {
        use Endpoint::{Cancel, Confirm, Lookup};
        assert!(matches!(
            to_gateway_error(api(400, "PROVIDER_ERROR"), Confirm),
            GatewayError::Retryable {
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(
            to_gateway_error(api(409, "IDEMPOTENT_REQUEST_PROCESSING"), Cancel),
            GatewayError::Unknown { .. }
        ));
        assert!(matches!(
            to_gateway_error(api(403, "REJECT_CARD_PAYMENT"), Confirm),
            GatewayError::Rejected { ref code, .. } if code == "REJECT_CARD_PAYMENT"
        ));
        assert!(matches!(
            to_gateway_error(api(404, "NOT_FOUND_PAYMENT"), Lookup),
            GatewayError::NotFound
        ));
        assert!(matches!(
            to_gateway_error(api(404, "NOT_FOUND_PAYMENT"), Cancel),
            GatewayError::NotFound
        ));
        assert!(matches!(
            to_gateway_error(api(500, "UNKNOWN_PAYMENT_ERROR"), Cancel),
            GatewayError::Unknown { .. }
        ));
        assert!(matches!(
            to_gateway_error(api(500, "UNKNOWN_PAYMENT_ERROR"), Lookup),
            GatewayError::Retryable { .. }
        ));
        assert!(matches!(
            to_gateway_error(api(418, "BRAND_NEW"), Confirm),
            GatewayError::Rejected { ref code, .. } if code == "BRAND_NEW"
        ));
        assert!(matches!(
            open_outcome(api(400, "ALREADY_PROCESSED_PAYMENT")),
            GatewayError::AlreadyProcessed { .. }
        ));
    }

    #[test]
    fn only_won_are_sent() {
        let dollars = Money::new(100, Currency::USD).unwrap();
        assert!(matches!(krw(dollars), Err(GatewayError::InvalidRequest(_))));
        let won = Money::new(15_000, Currency::KRW).unwrap();
        assert_eq!(krw(won).unwrap(), Amount::new(15_000).unwrap());
    }
}
