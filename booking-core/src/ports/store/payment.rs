//! A payment attempt as the store keeps it, and why a gateway failed it.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::machine::Payment;
use crate::ports::gateway::{GatewayOrderId, PaymentKey};

/// A payment with what the store keeps beside its state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentRecord {
    /// The state machine: state, amount, cancelled amount, confirm deadline, version.
    pub payment: Payment,
    /// The gateway that collects it, by [`PaymentGateway::name`](crate::ports::gateway::PaymentGateway::name).
    pub gateway: String,
    /// The order id the gateway sees.
    pub order_ref: GatewayOrderId,
    /// The gateway's key for the buyer's authenticated payment, once the buyer has
    /// authenticated and the confirm began.
    pub payment_key: Option<PaymentKey>,
    /// The buyer.
    pub customer: UserId,
    /// When the record last changed (a payment confirming for long is checked by
    /// reconciliation).
    pub updated_at: Timestamp,
    /// Why the gateway failed the payment, once it has: a repeated confirm answers with it.
    #[serde(default)]
    pub failure: Option<PaymentFailure>,
}

/// Why a gateway failed a payment's confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentFailure {
    /// Which kind of failure.
    pub cause: FailureCause,
    /// The gateway's error code, e.g. `REJECT_CARD_PAYMENT`.
    pub code: String,
    /// The gateway's message (for [`FailureCause::Unavailable`], with why the retries stopped).
    pub message: String,
}

/// What kind of failure a [`PaymentFailure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureCause {
    /// The gateway refused the payment for good (a declined card).
    Rejected,
    /// The gateway kept failing until the retry policy gave up.
    Unavailable,
    /// The gateway did not know the payment or refused the request as malformed.
    Invalid,
}

impl PaymentFailure {
    /// A failure of `cause` with the gateway's `code` and `message`.
    pub fn new(cause: FailureCause, code: impl Into<String>, message: impl Into<String>) -> Self {
        PaymentFailure {
            cause,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl PaymentRecord {
    /// A payment attempt `payment` of `customer`, collected by the gateway named `gateway`,
    /// which knows it as `order_ref`; last changed at `updated_at`.
    pub fn new(
        payment: Payment,
        gateway: impl Into<String>,
        order_ref: GatewayOrderId,
        customer: UserId,
        updated_at: Timestamp,
    ) -> Self {
        PaymentRecord {
            payment,
            gateway: gateway.into(),
            order_ref,
            payment_key: None,
            customer,
            updated_at,
            failure: None,
        }
    }

    /// The record's version (its payment's).
    pub fn version(&self) -> u64 {
        self.payment.version()
    }
}
