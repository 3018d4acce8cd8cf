//! [`WebhookHandler`]: verified webhooks handed to the booking service, once per transmission.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use booking_core::machine::PaymentState;
use booking_core::ports::gateway::{GatewayOrderId, PaymentKey};
use booking_core::ports::idempotency::{
    BeginOutcome, Fingerprint, IdempotencyKey as DedupKey, IdempotencyStore, Scope, StoredOutcome,
};
use booking_core::ports::store::StoreError;
use booking_core::service::{BookingError, BookingService, Confirmation, ReconcileReport};
use reqwest::header::HeaderMap;

use super::{WebhookError, WebhookEvent, WebhookHeaders};
use crate::client::TossClient;
use crate::gateway::GATEWAY_NAME;
use crate::payment::{Payment, Status};

/// What the service was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookAction {
    /// Toss approved a payment our books had in progress: it was confirmed (the confirm is
    /// idempotent at Toss, so this records the approval without charging again).
    Confirmed,
    /// Toss voided the buyer's payment window (`EXPIRED`) while our books still waited for
    /// the confirm: the order was cancelled and its items released, without waiting for the
    /// sweeper.
    Released,
    /// A payment of ours is confirming or its outcome unknown: reconciliation ran.
    Reconciled(ReconcileReport),
    /// Our books already agree with Toss.
    UpToDate,
}

/// What handling one delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// The event was verified and applied.
    Applied(WebhookAction),
    /// This transmission was handled before.
    Duplicate,
    /// This transmission is being handled by another delivery: answer non-200 so Toss sends
    /// it again later.
    InFlight,
    /// Nothing to do: the event concerns no payment of this service, or cannot be verified.
    Ignored(String),
    /// Toss and our books disagree in a way only a person can settle: a cancel made outside
    /// the booking service (Toss's dashboard), which the service cannot record as a refund of
    /// particular lines.
    NeedsAttention(String),
}

impl WebhookOutcome {
    /// The HTTP status to answer Toss with: 200, except 409 for [`WebhookOutcome::InFlight`].
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookOutcome::InFlight => 409,
            _ => 200,
        }
    }
}

impl fmt::Display for WebhookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookOutcome::Applied(action) => write!(f, "applied: {action:?}"),
            WebhookOutcome::Duplicate => f.write_str("duplicate"),
            WebhookOutcome::InFlight => f.write_str("in flight"),
            WebhookOutcome::Ignored(why) => write!(f, "ignored: {why}"),
            WebhookOutcome::NeedsAttention(why) => write!(f, "needs attention: {why}"),
        }
    }
}

/// The deduplication scope of webhook transmissions in the idempotency store.
const SCOPE: &str = "toss-webhook";

/// Verifies Toss webhooks and applies them to a [`BookingService`], once per transmission id
/// (kept in an [`IdempotencyStore`]); applying an event twice changes nothing either, so
/// Toss's seven retries are harmless.
///
/// | verified status | our payment | what happens |
/// |---|---|---|
/// | `DONE` | in progress | `confirm_payment` with our stored amount ([`WebhookAction::Confirmed`]) |
/// | `EXPIRED` | in progress | `cancel_order`: the items go back on sale ([`WebhookAction::Released`]) |
/// | `DONE`, `CANCELED`, `PARTIAL_CANCELED`, `ABORTED`, `EXPIRED` | confirming or unknown | `reconcile` ([`WebhookAction::Reconciled`]) |
/// | `CANCELED`, `PARTIAL_CANCELED` | paid, no refund of ours in flight, balance differs | [`WebhookOutcome::NeedsAttention`] |
/// | anything else | | [`WebhookAction::UpToDate`] |
#[derive(Debug, Clone)]
pub struct WebhookHandler {
    client: TossClient,
    service: BookingService,
    dedup: Arc<dyn IdempotencyStore>,
    lease: Duration,
    reconcile_limit: u32,
}

impl WebhookHandler {
    /// A handler verifying with `client`, applying to `service`, deduplicating in `dedup`.
    pub fn new(
        client: TossClient,
        service: BookingService,
        dedup: Arc<dyn IdempotencyStore>,
    ) -> Self {
        WebhookHandler {
            client,
            service,
            dedup,
            // Verification and a confirm, each with their own timeouts, fit well inside.
            lease: Duration::from_secs(5 * 60),
            reconcile_limit: 100,
        }
    }

    /// Handles one delivery: its headers and raw body.
    ///
    /// # Errors
    /// [`WebhookError`]; answer Toss with [`WebhookError::http_status`].
    pub async fn handle(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let delivery = WebhookHeaders::from_headers(headers)?;
        let event = WebhookEvent::parse(body)?;
        let key = DedupKey::new(delivery.transmission_id.as_str())
            .map_err(|e| WebhookError::Malformed(format!("transmission id: {e}")))?;
        let fingerprint = Fingerprint::of_json_request("POST", "/toss/webhook", body)
            .map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let scope = Scope::tenant(SCOPE);
        let claim = match self
            .dedup
            .begin(&scope, &key, &fingerprint, self.lease)
            .await
            .map_err(WebhookError::Dedup)?
        {
            BeginOutcome::Claimed(claim) => claim,
            BeginOutcome::InFlight { .. } => return Ok(WebhookOutcome::InFlight),
            BeginOutcome::Replay(_) => return Ok(WebhookOutcome::Duplicate),
            BeginOutcome::Mismatch => {
                return Err(WebhookError::Malformed(
                    "the transmission id was used for another body".into(),
                ));
            }
        };
        match self.process(&event).await {
            Ok(outcome) => {
                let stored = StoredOutcome {
                    status: outcome.http_status(),
                    body: outcome.to_string().into_bytes(),
                };
                // A lost claim only means the next delivery handles it again, harmlessly.
                let _ = self.dedup.complete(&claim, stored).await;
                Ok(outcome)
            }
            Err(error) => {
                let _ = self.dedup.abandon(&claim).await;
                Err(error)
            }
        }
    }

    async fn process(&self, event: &WebhookEvent) -> Result<WebhookOutcome, WebhookError> {
        match event.verify(&self.client).await? {
            Some(payment) => self.apply(payment).await,
            None => Ok(WebhookOutcome::Ignored(match event {
                WebhookEvent::CancelStatusChanged { .. } => {
                    "a cancel status change names no payment to verify".to_owned()
                }
                WebhookEvent::Other { event_type } => format!("{event_type} is not handled"),
                _ => "nothing to verify".to_owned(),
            })),
        }
    }

    /// Brings our books in line with a payment as Toss reports it.
    async fn apply(&self, payment: Payment) -> Result<WebhookOutcome, WebhookError> {
        let not_ours = |why: &str| Ok(WebhookOutcome::Ignored(why.to_owned()));
        let Ok(order_ref) = GatewayOrderId::new(payment.order_id.as_str()) else {
            return not_ours("the order id is not one this service gives out");
        };
        let ours = match self.service.store().payment_by_order_ref(&order_ref).await {
            Ok(ours) => ours,
            Err(StoreError::NotFound { .. }) => return not_ours("no payment of ours"),
            Err(e) => return Err(WebhookError::Service(e.into())),
        };
        if ours.gateway != GATEWAY_NAME {
            return not_ours("the payment is not a Toss payment");
        }
        let state = ours.payment.state();
        let action = match (&payment.status, state) {
            (Status::Done, PaymentState::InProgress) => {
                let payment_key = PaymentKey::new(payment.payment_key.as_str())
                    .map_err(|e| WebhookError::Malformed(e.to_string()))?;
                let confirmation = Confirmation::new(order_ref, payment_key, ours.payment.amount());
                match self.service.confirm_payment(&confirmation).await {
                    Ok(_) => WebhookAction::Confirmed,
                    Err(e) => return settled_or_retry(e),
                }
            }
            (
                Status::Done
                | Status::PartialCanceled
                | Status::Canceled
                | Status::Aborted
                | Status::Expired,
                PaymentState::Confirming | PaymentState::Unknown,
            ) => {
                let report = self
                    .service
                    .reconcile(self.reconcile_limit)
                    .await
                    .map_err(WebhookError::Service)?;
                WebhookAction::Reconciled(report)
            }
            (Status::Expired, PaymentState::InProgress) => {
                match self
                    .service
                    .cancel_order(ours.payment.order(), "the payment window expired at Toss")
                    .await
                {
                    Ok(_) => WebhookAction::Released,
                    Err(e) => return settled_or_retry(e),
                }
            }
            (
                Status::Canceled | Status::PartialCanceled,
                PaymentState::Done | PaymentState::PartiallyCanceled,
            ) => {
                let order = self
                    .service
                    .order(ours.payment.order())
                    .await
                    .map_err(WebhookError::Service)?;
                let ours_left = ours.payment.balance().minor();
                let toss_left = payment.balance_amount.map(crate::Amount::value);
                if order.pending_refund.is_some() || toss_left == Some(ours_left) {
                    // In line, or our own refund is in flight and settles with this cancel.
                    WebhookAction::UpToDate
                } else {
                    return Ok(WebhookOutcome::NeedsAttention(format!(
                        "Toss holds {} won of order {} and our books {ours_left}: a cancel was \
                         made outside the booking service",
                        toss_left
                            .map_or_else(|| "an unknown amount of".to_owned(), |n| n.to_string()),
                        order.order.id()
                    )));
                }
            }
            _ => WebhookAction::UpToDate,
        };
        Ok(WebhookOutcome::Applied(action))
    }
}

/// A service error after a verified event: final ones are reported for a person (Toss
/// retrying cannot change them); the rest fail the delivery so Toss sends it again.
fn settled_or_retry(error: BookingError) -> Result<WebhookOutcome, WebhookError> {
    match error {
        BookingError::GatewayUnavailable { .. }
        | BookingError::InProgress
        | BookingError::PaymentUnknown
        | BookingError::Conflict { .. }
        | BookingError::Store(_)
        | BookingError::Gateway(_) => Err(WebhookError::Service(error)),
        other => Ok(WebhookOutcome::NeedsAttention(other.to_string())),
    }
}
