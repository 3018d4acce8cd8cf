//! Toss webhooks: the events ([`WebhookEvent`]), their delivery headers
//! ([`WebhookHeaders`]), how each is verified ([`WebhookEvent::verify`]), and a
//! [`WebhookHandler`] that hands verified events to the booking service.
//!
//! Payment webhooks carry no signature. What makes one trustworthy:
//!
//! - `PAYMENT_STATUS_CHANGED` (body `{eventType, createdAt, data: Payment}`): nothing in the
//!   body is trusted; the payment is fetched again with the secret key and only that answer is
//!   used.
//! - `DEPOSIT_CALLBACK` (a flat body `{createdAt, secret, status, transactionKey, orderId}`,
//!   no `eventType`): its `secret` must equal the payment's `secret` — compared in constant
//!   time — as Toss reports it to a look-up with the secret key.
//! - `CANCEL_STATUS_CHANGED` (`{eventType, createdAt, data: Cancel}`, foreign easy-pay cancels
//!   only): the cancel names no payment, so it cannot be checked; it is acknowledged and
//!   ignored.

mod handler;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::TossError;
use crate::client::TossClient;
use crate::payment::{Cancel, Payment, Status};
use crate::secret::DepositSecret;

pub use handler::{WebhookAction, WebhookHandler, WebhookOutcome};

/// The header naming one webhook transmission; the same event keeps it across Toss's retries.
pub const TRANSMISSION_ID_HEADER: &str = "tosspayments-webhook-transmission-id";
/// The header with the time of the transmission.
pub const TRANSMISSION_TIME_HEADER: &str = "tosspayments-webhook-transmission-time";
/// The header counting Toss's retries of the transmission (0 on the first try).
pub const RETRIED_COUNT_HEADER: &str = "tosspayments-webhook-transmission-retried-count";

/// Why a webhook was not handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The body or headers are not a Toss webhook. Answer 400.
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// The event does not match what Toss reports for the payment. Answer 403.
    #[error("webhook not authentic: {0}")]
    NotAuthentic(String),
    /// Toss could not be asked; it will send the webhook again. Answer 500.
    #[error("could not verify the webhook with Toss: {0}")]
    Toss(#[source] TossError),
    /// The booking service failed; Toss will send the webhook again. Answer 500.
    #[error("could not apply the webhook: {0}")]
    Service(#[source] booking_core::service::BookingError),
    /// The deduplication store failed. Answer 500.
    #[error("could not record the webhook: {0}")]
    Dedup(#[source] booking_core::ports::idempotency::IdempotencyError),
}

impl WebhookError {
    /// The HTTP status to answer with. Toss retries anything but 200.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::Malformed(_) => 400,
            WebhookError::NotAuthentic(_) => 403,
            WebhookError::Toss(_) | WebhookError::Service(_) | WebhookError::Dedup(_) => 500,
        }
    }
}

/// The delivery headers of a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `tosspayments-webhook-transmission-id`: the deduplication key.
    pub transmission_id: String,
    /// `tosspayments-webhook-transmission-time`, as sent.
    pub transmission_time: Option<String>,
    /// `tosspayments-webhook-transmission-retried-count`.
    pub retried_count: Option<u32>,
}

impl WebhookHeaders {
    /// Reads the headers of a delivery.
    ///
    /// # Errors
    /// [`WebhookError::Malformed`] without a transmission id.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, WebhookError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let transmission_id = text(TRANSMISSION_ID_HEADER)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WebhookError::Malformed(format!("no {TRANSMISSION_ID_HEADER}")))?;
        Ok(WebhookHeaders {
            transmission_id,
            transmission_time: text(TRANSMISSION_TIME_HEADER),
            retried_count: text(RETRIED_COUNT_HEADER).and_then(|n| n.parse().ok()),
        })
    }
}

/// A virtual account's status, reported by a `DEPOSIT_CALLBACK`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositCallback {
    /// When Toss created the event (Korean time, no offset).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The payment's `secret`: proof the event comes from Toss.
    pub secret: DepositSecret,
    /// The payment's status (`DONE` once deposited).
    pub status: Status,
    /// The deposit transaction's key.
    #[serde(default)]
    pub transaction_key: Option<String>,
    /// The merchant's order id.
    pub order_id: String,
}

/// A webhook body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// `PAYMENT_STATUS_CHANGED`: a payment reached `DONE`, `CANCELED`, `PARTIAL_CANCELED`,
    /// `ABORTED`, `EXPIRED` or `WAITING_FOR_DEPOSIT`.
    PaymentStatusChanged {
        /// `createdAt`, as sent.
        created_at: Option<String>,
        /// The payment as the body claims it (verify before trusting).
        data: Box<Payment>,
    },
    /// `DEPOSIT_CALLBACK`: a virtual account's deposit (or its reversal).
    DepositCallback(DepositCallback),
    /// `CANCEL_STATUS_CHANGED`: an asynchronous cancel finished (foreign easy pay).
    CancelStatusChanged {
        /// `createdAt`, as sent.
        created_at: Option<String>,
        /// The cancel.
        data: Box<Cancel>,
    },
    /// An event type this crate does not handle, e.g. `BILLING_DELETED`.
    Other {
        /// `eventType`, as sent.
        event_type: String,
    },
}

impl WebhookEvent {
    /// Reads a webhook body.
    ///
    /// # Errors
    /// [`WebhookError::Malformed`] if it is not one of Toss's webhook bodies.
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        let malformed = |e: serde_json::Error| WebhookError::Malformed(e.to_string());
        let value: Value = serde_json::from_slice(body).map_err(malformed)?;
        let Value::Object(mut object) = value else {
            return Err(WebhookError::Malformed("the body is not an object".into()));
        };
        let created_at = object
            .get("createdAt")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(event_type) = object.get("eventType").and_then(Value::as_str) else {
            // Only the deposit callback comes without a wrapper.
            return serde_json::from_value(Value::Object(object))
                .map(WebhookEvent::DepositCallback)
                .map_err(malformed);
        };
        let event_type = event_type.to_owned();
        let data = object.remove("data").unwrap_or(Value::Null);
        match event_type.as_str() {
            "PAYMENT_STATUS_CHANGED" => Ok(WebhookEvent::PaymentStatusChanged {
                created_at,
                data: Box::new(serde_json::from_value(data).map_err(malformed)?),
            }),
            "CANCEL_STATUS_CHANGED" => Ok(WebhookEvent::CancelStatusChanged {
                created_at,
                data: Box::new(serde_json::from_value(data).map_err(malformed)?),
            }),
            "DEPOSIT_CALLBACK" => serde_json::from_value(data)
                .map(WebhookEvent::DepositCallback)
                .map_err(malformed),
            _ => Ok(WebhookEvent::Other { event_type }),
        }
    }

    /// Checks the event with Toss and returns the payment as Toss reports it — the only
    /// version to act on — or `None` for events that name no payment.
    ///
    /// # Errors
    /// [`WebhookError::NotAuthentic`] if Toss does not know the payment, reports it for
    /// another order, or (deposit) holds another secret; [`WebhookError::Toss`] if Toss could
    /// not be asked.
    pub async fn verify(&self, client: &TossClient) -> Result<Option<Payment>, WebhookError> {
        match self {
            WebhookEvent::PaymentStatusChanged { data, .. } => {
                let found = fetch(client.payment(&data.payment_key).await)?;
                if found.order_id != data.order_id {
                    return Err(WebhookError::NotAuthentic(
                        "Toss reports the payment for another order".into(),
                    ));
                }
                Ok(Some(found))
            }
            WebhookEvent::DepositCallback(callback) => {
                let found = fetch(client.payment_by_order(&callback.order_id).await)?;
                let genuine = found
                    .secret
                    .as_ref()
                    .is_some_and(|secret| secret.matches(callback.secret.expose()));
                if !genuine {
                    return Err(WebhookError::NotAuthentic(
                        "the deposit callback's secret is not the payment's".into(),
                    ));
                }
                Ok(Some(found))
            }
            WebhookEvent::CancelStatusChanged { .. } | WebhookEvent::Other { .. } => Ok(None),
        }
    }
}

/// A look-up's answer for verification: a payment Toss does not know is not authentic.
fn fetch(answer: Result<Payment, TossError>) -> Result<Payment, WebhookError> {
    match answer {
        Ok(payment) => Ok(payment),
        Err(error @ (TossError::InvalidRequest(_) | TossError::Api { status: 404, .. })) => {
            Err(WebhookError::NotAuthentic(error.to_string()))
        }
        Err(error) => Err(WebhookError::Toss(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_bodies_are_told_apart() {
        let status =
            br#"{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2022-01-01T00:00:00.000000",
            "data":{"paymentKey":"k","orderId":"order-1","status":"DONE"}}"#;
        assert!(matches!(
            WebhookEvent::parse(status).unwrap(),
            WebhookEvent::PaymentStatusChanged { data, .. } if data.status == Status::Done
        ));
        let deposit =
            br#"{"createdAt":"2022-01-01T00:00:00.000000","secret":"s3cr3t","status":"DONE",
            "transactionKey":"9FF1","orderId":"order-1"}"#;
        let WebhookEvent::DepositCallback(callback) = WebhookEvent::parse(deposit).unwrap() else {
            panic!("a deposit callback");
        };
        assert!(callback.secret.matches("s3cr3t"));
        assert!(!format!("{callback:?}").contains("s3cr3t"));
        let cancel = br#"{"eventType":"CANCEL_STATUS_CHANGED","createdAt":"x",
            "data":{"cancelAmount":1000,"cancelStatus":"DONE"}}"#;
        assert!(matches!(
            WebhookEvent::parse(cancel).unwrap(),
            WebhookEvent::CancelStatusChanged { .. }
        ));
        let other = br#"{"eventType":"BILLING_DELETED","data":{"billingKey":"b"}}"#;
        assert!(matches!(
            WebhookEvent::parse(other).unwrap(),
            WebhookEvent::Other { event_type } if event_type == "BILLING_DELETED"
        ));
        for bad in [
            &b"[]"[..],
            b"{}",
            b"not json",
            br#"{"eventType":"PAYMENT_STATUS_CHANGED"}"#,
        ] {
            assert!(matches!(
                WebhookEvent::parse(bad),
                Err(WebhookError::Malformed(_))
            ));
        }
    }

    #[test]
    fn a_delivery_needs_its_transmission_id() {
        let mut headers = HeaderMap::new();
        assert!(WebhookHeaders::from_headers(&headers).is_err());
        headers.insert(TRANSMISSION_ID_HEADER, "whtrans_a01".parse().unwrap());
        headers.insert(RETRIED_COUNT_HEADER, "3".parse().unwrap());
        let read = WebhookHeaders::from_headers(&headers).unwrap();
        assert_eq!(read.transmission_id, "whtrans_a01");
        assert_eq!(read.retried_count, Some(3));
    }
}
