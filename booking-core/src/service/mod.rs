//! [`BookingService`]: the booking flows, composed from the ports.
//!
//! ```text
//! hold ──► start_payment ──► (buyer authenticates at the gateway) ──► confirm_payment
//!   │            │                                                         │
//!   └─ extend_hold, cancel_order                          refund_lines, cancel_order
//!
//! sweep (expire abandoned orders)        reconcile (settle unknown payments by lookup)
//! ```
//!
//! | method | idempotent how |
//! |---|---|
//! | [`hold`](BookingService::hold) | by the caller's order id: a repeat returns the order placed first; the id reused for another request is [`BookingError::RequestMismatch`] |
//! | [`start_payment`](BookingService::start_payment) | by nature: an order already awaiting payment returns its intent |
//! | [`confirm_payment`](BookingService::confirm_payment) | by nature: a paid or declined payment answers as before; a concurrent duplicate waits for the first; the gateway gets one key per payment |
//! | [`extend_hold`](BookingService::extend_hold) | not: each call extends (up to the policy's cap) |
//! | [`cancel_order`](BookingService::cancel_order), [`refund_lines`](BookingService::refund_lines) | one caller at a time sends a refund, under one key until it settles (or its refusal is confirmed by a lookup), so a lost answer or a double click never refunds twice; every repeat with the same [`request_id`](RefundRequest::request_id) gets the same receipt or refusal |
//! | [`sweep`](BookingService::sweep), [`reconcile`](BookingService::reconcile) | by nature: safe on many nodes at once |

mod after_sale;
mod confirm;
mod error;
mod hold;
mod refund_end;
mod refund_request;
mod refund_send;
mod settle;
mod start;
mod upkeep;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::discount::RuleSet;
use crate::ids::OrderId;
use crate::machine::{Order, OrderCommand, Payment, PaymentCommand, Transition, TransitionError};
use crate::money::Currency;
use crate::policy::Sleeper;
use crate::policy::expiry::ExpiryPolicy;
use crate::policy::retry::{Retrier, RetryPolicy};
use crate::ports::coupon::CouponStore;
use crate::ports::gateway::PaymentGateway;
use crate::ports::queue::AdmissionQueue;
use crate::ports::store::{BookingStore, OrderRecord, PaymentRecord};

pub use crate::ports::store::ItemRef;
pub use confirm::Confirmation;
pub use error::BookingError;
pub use hold::HoldRequest;
pub use refund_request::{MAX_REFUND_REQUEST_ID_LEN, RefundReceipt, RefundRequest};
pub use start::PaymentIntent;
pub use upkeep::{ReconcileReport, SweepReport};

/// The ports a [`BookingService`] runs on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ports {
    /// Inventory, orders, payments, outbox.
    pub store: Arc<dyn BookingStore>,
    /// Coupon campaigns and their use.
    pub coupons: Arc<dyn CouponStore>,
    /// Payment gateways, chosen per payment by [`PaymentGateway::name`].
    pub gateways: Vec<Arc<dyn PaymentGateway>>,
    /// The waiting room; when set, [`BookingService::hold`] requires an admitted token.
    pub waiting_room: Option<Arc<dyn AdmissionQueue>>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Waiting (retry backoff, duplicate confirms).
    pub sleeper: Arc<dyn Sleeper>,
}

impl Ports {
    /// The ports of a service over `store` and `coupons`, reading `clock` and waiting on
    /// `sleeper`, with no gateway yet (add them with [`gateway`](Self::gateway)) and no
    /// waiting room.
    pub fn new(
        store: Arc<dyn BookingStore>,
        coupons: Arc<dyn CouponStore>,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Self {
        Ports {
            store,
            coupons,
            gateways: Vec::new(),
            waiting_room: None,
            clock,
            sleeper,
        }
    }

    /// Adds a payment gateway, chosen per payment by its [`PaymentGateway::name`].
    #[must_use]
    pub fn gateway(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        self.gateways.push(gateway);
        self
    }

    /// Puts `queue` in front of [`BookingService::hold`]: holds then need an admitted token.
    #[must_use]
    pub fn waiting_room(mut self, queue: Arc<dyn AdmissionQueue>) -> Self {
        self.waiting_room = Some(queue);
        self
    }
}

/// The rules a [`BookingService`] applies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Policies {
    /// The currency every price and payment is in.
    pub currency: Currency,
    /// Discount rules applied when an order is placed.
    pub rules: RuleSet,
    /// Hold TTL, extension cap, confirm window, sweep batch.
    pub expiry: ExpiryPolicy,
    /// How gateway calls are retried.
    pub retry: RetryPolicy,
    /// The minimum age of a confirming payment that [`BookingService::reconcile`] looks up:
    /// one confirming for longer than this is taken for a confirm interrupted by a crash.
    /// Payments whose outcome is unknown are looked up at any age. Keep it longer than a
    /// confirm can take (the retry policy's whole schedule plus one gateway timeout), or
    /// reconciliation may look up a payment whose confirm is still running.
    pub stale_confirm_after: Duration,
    /// How long a duplicate request (a second confirm of one payment, a second click on one
    /// refund) waits for the first to finish before answering [`BookingError::InProgress`].
    pub duplicate_wait: Duration,
    /// The lease of the one caller that sends a refund to the gateway: until it ends no other
    /// caller sends that refund, and the sender makes no new attempt after it has ended. Keep
    /// it longer than a refund can take (the retry policy's whole schedule plus one gateway
    /// timeout): a sender still waiting for the gateway after its lease ran out could race
    /// the caller taking over. See `docs/adr/0004-one-sender-per-refund.md`.
    pub refund_send_lease: Duration,
}

impl Policies {
    /// Defaults around `rules`: the expiry policy's defaults (10 min holds), the payment retry
    /// preset (3 attempts, 2 s, ×2), reconciliation of confirms stuck for 2 minutes, duplicate
    /// requests waiting up to 30 s, a 2-minute lease for the sender of a refund.
    pub fn new(currency: Currency, rules: RuleSet) -> Self {
        Policies {
            currency,
            rules,
            expiry: ExpiryPolicy::default(),
            retry: RetryPolicy::payment(),
            stale_confirm_after: Duration::from_secs(120),
            duplicate_wait: Duration::from_secs(30),
            refund_send_lease: Duration::from_secs(120),
        }
    }
}

/// Holds, prices, takes payment, confirms, cancels and refunds; expires abandoned orders and
/// reconciles payments with unknown outcomes. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct BookingService {
    store: Arc<dyn BookingStore>,
    coupons: Arc<dyn CouponStore>,
    gateways: Arc<BTreeMap<&'static str, Arc<dyn PaymentGateway>>>,
    waiting_room: Option<Arc<dyn AdmissionQueue>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    policies: Arc<Policies>,
    retrier: Retrier,
}

impl BookingService {
    /// A service over `ports` applying `policies`.
    pub fn new(ports: Ports, policies: Policies) -> Self {
        let retrier = Retrier::new(
            policies.retry.clone(),
            Arc::clone(&ports.clock),
            Arc::clone(&ports.sleeper),
        );
        let gateways = ports.gateways.into_iter().map(|g| (g.name(), g)).collect();
        BookingService {
            store: ports.store,
            coupons: ports.coupons,
            gateways: Arc::new(gateways),
            waiting_room: ports.waiting_room,
            clock: ports.clock,
            sleeper: ports.sleeper,
            policies: Arc::new(policies),
            retrier,
        }
    }

    /// The store, for reads the service does not wrap (availability, the outbox).
    pub fn store(&self) -> &Arc<dyn BookingStore> {
        &self.store
    }

    /// The clock the service reads; pass its `now()` to ports called directly (the waiting
    /// room's `join` and `admit_next`).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The policies in force.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The order `id`.
    pub async fn order(&self, id: OrderId) -> Result<OrderRecord, BookingError> {
        Ok(self.store.order(id).await?)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn gateway(&self, name: &str) -> Result<&Arc<dyn PaymentGateway>, BookingError> {
        self.gateways.get(name).ok_or_else(|| {
            BookingError::invalid("gateway", format!("no payment gateway named {name:?}"))
        })
    }
}

/// Applies `command` to the record's order, mapping a refusal to [`BookingError::InvalidState`]
/// or [`BookingError::Refused`].
fn order_step(
    record: &OrderRecord,
    command: OrderCommand,
    action: &'static str,
    now: Timestamp,
) -> Result<Transition<Order>, BookingError> {
    record
        .order
        .apply(command, now)
        .map_err(|e| refusal("order", action, e))
}

/// Applies `command` to the record's payment, mapping a refusal like [`order_step`].
fn payment_step(
    record: &PaymentRecord,
    command: PaymentCommand,
    action: &'static str,
    now: Timestamp,
) -> Result<Transition<Payment>, BookingError> {
    record
        .payment
        .apply(command, now)
        .map_err(|e| refusal("payment", action, e))
}

fn refusal<S: crate::machine::Kind, C: crate::machine::Kind>(
    what: &'static str,
    action: &'static str,
    err: TransitionError<S, C>,
) -> BookingError {
    match err.reason {
        crate::machine::Rejection::NotAllowed => BookingError::InvalidState {
            what,
            state: err.from.name(),
            action,
        },
        reason => BookingError::from(reason),
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod properties;
#[cfg(test)]
#[cfg(not(loom))]
mod tests;
