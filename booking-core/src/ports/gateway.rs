//! The payment-gateway port: confirm, cancel (full or partial), look up.
//!
//! The shape follows card gateways with a two-step flow (the buyer authenticates in the
//! gateway's window, then the merchant confirms the exact amount server-side), which also fits
//! points and stored balance. Every mutating request carries an idempotency key the service
//! derives from its own ids, so a retried confirm or partial refund is executed once.
//!
//! Errors say what the caller may do next:
//!
//! | error | meaning | what the service does |
//! |---|---|---|
//! | [`GatewayError::Retryable`] | not processed; a retry may succeed | retry per policy, same key |
//! | [`GatewayError::Rejected`] | final refusal (card declined, bad amount) | fail the payment |
//! | [`GatewayError::AlreadyProcessed`] | this payment was processed before | look it up |
//! | [`GatewayError::Unknown`] | sent, outcome unknown (timeout) | never retry blind: reconcile by lookup |
//! | [`GatewayError::NotFound`] | no such payment | treat as not charged |

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{PaymentId, UserId};
use crate::money::Money;

/// Defines a validated string newtype with serde, Display and `as_str`.
macro_rules! gateway_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, GatewayError> {
                let value = value.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok($name(value))
                } else {
                    Err(GatewayError::InvalidRequest(format!(concat!("invalid ", $what, " {:?}"), value)))
                }
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = GatewayError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

gateway_string!(
    /// The order id a gateway sees: 6 to 64 characters of `[A-Za-z0-9_-]`, unique per payment
    /// attempt. [`GatewayOrderId::for_payment`] derives one from a [`PaymentId`].
    GatewayOrderId,
    "gateway order id (6-64 of A-Z a-z 0-9 _ -)",
    |s| (6..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
);

gateway_string!(
    /// The gateway's key for an authenticated payment (1 to 200 printable ASCII characters).
    PaymentKey,
    "payment key (1-200 printable ASCII)",
    |s| (1..=200).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
);

gateway_string!(
    /// An idempotency key sent with a confirm or cancel: 1 to 100 printable ASCII characters.
    /// The service derives these from its own ids (`confirm:<payment>`, `refund:<payment>:<n>`),
    /// so a retry after a crash sends the same key.
    GatewayIdempotencyKey,
    "gateway idempotency key (1-100 printable ASCII)",
    |s| (1..=100).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
);

impl GatewayOrderId {
    /// The 32-hex-digit form of `payment`'s UUID: unique per attempt, and valid everywhere.
    pub fn for_payment(payment: PaymentId) -> Self {
        GatewayOrderId(payment.as_uuid().simple().to_string())
    }
}

/// A payment's state as the gateway reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum GatewayStatus {
    /// Created; the buyer has not authenticated.
    Ready,
    /// Authenticated by the buyer; waiting for the merchant's confirm.
    InProgress,
    /// Bank transfer issued; waiting for the deposit.
    WaitingForDeposit,
    /// Approved: money collected.
    Done,
    /// Part of the approved amount was cancelled.
    PartialCanceled,
    /// The whole approved amount was cancelled.
    Canceled,
    /// Approval failed.
    Aborted,
    /// Not confirmed in time; voided.
    Expired,
}

/// One cancellation applied to a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GatewayCancel {
    /// Amount returned to the buyer.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// The gateway's key for this cancel transaction.
    pub transaction_key: String,
    /// When it was applied.
    pub canceled_at: Timestamp,
}

/// A payment as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GatewayPayment {
    /// The gateway's payment key.
    pub payment_key: PaymentKey,
    /// Our order id as the gateway saw it.
    pub order_ref: GatewayOrderId,
    /// Where the payment stands.
    pub status: GatewayStatus,
    /// The amount approved (or to be approved).
    pub total: Money,
    /// What can still be cancelled.
    pub balance: Money,
    /// When it was approved.
    pub approved_at: Option<Timestamp>,
    /// Cancellations, oldest first.
    pub cancels: Vec<GatewayCancel>,
}

/// Confirm an authenticated payment for exactly `amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConfirmRequest {
    /// The key the buyer's authentication produced.
    pub payment_key: PaymentKey,
    /// Our order id for this attempt.
    pub order_ref: GatewayOrderId,
    /// The amount to collect; the service takes it from the stored order, never from the client.
    pub amount: Money,
    /// The buyer (needed by wallet-backed gateways; card gateways may ignore it).
    pub customer: UserId,
    /// Same key on every retry of this confirm.
    pub idempotency_key: GatewayIdempotencyKey,
}

/// Cancel all or part of an approved payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CancelRequest {
    /// The payment to cancel.
    pub payment_key: PaymentKey,
    /// How much; `None` cancels the whole remaining balance.
    pub amount: Option<Money>,
    /// Why (shown to the buyer by some gateways); 1 to 200 characters.
    pub reason: String,
    /// Same key on every retry of this cancel; a new key per distinct partial refund.
    pub idempotency_key: GatewayIdempotencyKey,
}

impl GatewayCancel {
    /// A cancellation of `amount` for `reason`, the gateway's transaction `transaction_key`,
    /// applied at `canceled_at`.
    pub fn new(
        amount: Money,
        reason: impl Into<String>,
        transaction_key: impl Into<String>,
        canceled_at: Timestamp,
    ) -> Self {
        GatewayCancel {
            amount,
            reason: reason.into(),
            transaction_key: transaction_key.into(),
            canceled_at,
        }
    }
}

impl GatewayPayment {
    /// The gateway's record `payment_key` of our `order_ref`: `status`, `total` approved (or
    /// to approve) and `balance` still cancellable; not approved yet, nothing cancelled.
    pub fn new(
        payment_key: PaymentKey,
        order_ref: GatewayOrderId,
        status: GatewayStatus,
        total: Money,
        balance: Money,
    ) -> Self {
        GatewayPayment {
            payment_key,
            order_ref,
            status,
            total,
            balance,
            approved_at: None,
            cancels: Vec::new(),
        }
    }

    /// When it was approved.
    #[must_use]
    pub fn approved_at(mut self, at: Timestamp) -> Self {
        self.approved_at = Some(at);
        self
    }

    /// Adds a cancellation (oldest first).
    #[must_use]
    pub fn cancel(mut self, cancel: GatewayCancel) -> Self {
        self.cancels.push(cancel);
        self
    }
}

impl ConfirmRequest {
    /// Confirm `payment_key` for our `order_ref` and exactly `amount`, paid by `customer`,
    /// under `idempotency_key`.
    pub fn new(
        payment_key: PaymentKey,
        order_ref: GatewayOrderId,
        amount: Money,
        customer: UserId,
        idempotency_key: GatewayIdempotencyKey,
    ) -> Self {
        ConfirmRequest {
            payment_key,
            order_ref,
            amount,
            customer,
            idempotency_key,
        }
    }
}

impl CancelRequest {
    /// Cancel `amount` (`None`: the whole balance) of `payment_key` for `reason`, under
    /// `idempotency_key`.
    pub fn new(
        payment_key: PaymentKey,
        amount: Option<Money>,
        reason: impl Into<String>,
        idempotency_key: GatewayIdempotencyKey,
    ) -> Self {
        CancelRequest {
            payment_key,
            amount,
            reason: reason.into(),
            idempotency_key,
        }
    }
}

/// What a gateway call can report besides success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Not processed; the same request (same idempotency key) may be retried.
    #[error("gateway temporarily failed ({code}): {message}")]
    Retryable {
        /// The gateway's error code, e.g. `PROVIDER_ERROR`.
        code: String,
        /// Human-readable text from the gateway.
        message: String,
        /// How long the gateway asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Refused for good: retrying the same request cannot succeed.
    #[error("gateway rejected the request ({code}): {message}")]
    Rejected {
        /// The gateway's error code, e.g. `REJECT_CARD_PAYMENT`.
        code: String,
        /// Human-readable text from the gateway.
        message: String,
    },
    /// The payment was already processed (by an earlier attempt); look it up.
    #[error("payment already processed ({code})")]
    AlreadyProcessed {
        /// The gateway's error code, e.g. `ALREADY_PROCESSED_PAYMENT`.
        code: String,
    },
    /// The request was sent and its outcome is unknown (timeout, connection lost). The money
    /// may have moved: reconcile by [`PaymentGateway::lookup`], never by a blind new request.
    #[error("gateway outcome unknown: {reason}")]
    Unknown {
        /// What happened.
        reason: String,
    },
    /// The gateway has no such payment.
    #[error("payment not found at the gateway")]
    NotFound,
    /// The request was malformed before it was sent (bad id, key or reason).
    #[error("{0}")]
    InvalidRequest(String),
}

/// A payment gateway: card processor, points wallet, or a fake for tests.
///
/// Contract: `confirm` and `cancel` are idempotent by their idempotency key (a repeat moves no
/// more money and returns the payment: its first answer or its current state); a partial cancel never exceeds the balance;
/// `lookup` reports the gateway's truth for an order id, which is how `Unknown` outcomes are
/// resolved.
#[async_trait]
pub trait PaymentGateway: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and metrics, e.g. `"toss"`.
    fn name(&self) -> &'static str;

    /// Approves an authenticated payment for exactly `request.amount`.
    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError>;

    /// Cancels all or part of an approved payment.
    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError>;

    /// The gateway's record of the payment for `order_ref`.
    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_follow_the_gateway_alphabet() {
        let id = GatewayOrderId::for_payment(PaymentId::new());
        assert_eq!(id.as_str().len(), 32);
        assert!(GatewayOrderId::new(id.as_str()).is_ok());
        for bad in ["short", "has space00", "ümlaut-000", &"x".repeat(65)] {
            assert!(
                matches!(
                    GatewayOrderId::new(bad),
                    Err(GatewayError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        assert!(GatewayOrderId::new("a4CWyWY5m89PNh7xJwhk1").is_ok());
        assert!(serde_json::from_str::<GatewayOrderId>("\"abc\"").is_err());
    }

    #[test]
    fn keys_are_bounded() {
        assert!(PaymentKey::new("").is_err());
        assert!(PaymentKey::new("5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6").is_ok());
        assert!(GatewayIdempotencyKey::new("x".repeat(101)).is_err());
        assert!(GatewayIdempotencyKey::new("refund:abc:1").is_ok());
    }

    #[test]
    fn status_serializes_like_the_gateway() {
        assert_eq!(
            serde_json::to_string(&GatewayStatus::PartialCanceled).unwrap(),
            "\"PARTIAL_CANCELED\""
        );
        assert_eq!(
            serde_json::from_str::<GatewayStatus>("\"IN_PROGRESS\"").unwrap(),
            GatewayStatus::InProgress
        );
    }
}
