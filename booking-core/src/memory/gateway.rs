//! [`FakeGateway`]: a scriptable card gateway in memory, for tests and demos.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::money::Money;
use crate::policy::Sleeper;
use crate::ports::backend::gateway::validate_cancel_reason;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayOrderId, GatewayPayment, GatewayStatus,
    PaymentGateway, PaymentKey,
};

/// Which gateway operation a scripted [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayOp {
    /// [`PaymentGateway::confirm`].
    Confirm,
    /// [`PaymentGateway::cancel`].
    Cancel,
    /// [`PaymentGateway::lookup`].
    Lookup,
}

/// A failure the fake plays once, on the next call of its operation (or of its operation for
/// one payment: [`FakeGateway::fail_next_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fails with [`GatewayError::Retryable`] and this code; nothing is processed.
    Transient(String),
    /// Fails with [`GatewayError::Rejected`] and this code; nothing is processed. Whether a
    /// repeat of the request under the same idempotency key is refused again or processed
    /// afresh depends on [`FakeGateway::keep_refusals`].
    Reject(String),
    /// The request is lost on the way: [`GatewayError::Unknown`], nothing is processed.
    TimeoutBeforeProcessing,
    /// The gateway processes the request (money moves) and the answer is lost:
    /// [`GatewayError::Unknown`]. A retry with the same idempotency key gets the stored answer.
    TimeoutAfterProcessing,
}

/// What the fake has done, for assertions such as "charged exactly once".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeGatewayStats {
    /// Calls to `confirm`, replays and failures included.
    pub confirm_calls: u64,
    /// Confirms that actually collected money.
    pub charges: u64,
    /// Calls to `cancel`, replays and failures included.
    pub cancel_calls: u64,
    /// Cancels that actually returned money.
    pub refunds: u64,
    /// Calls to `lookup`.
    pub lookups: u64,
}

/// A card gateway in memory that behaves like a real one where it matters:
///
/// - a payment must be authenticated first ([`open_session`](Self::open_session), the buyer's
///   step in the gateway's window) and is confirmed only for exactly that amount;
/// - confirm and cancel are idempotent by key: a repeat replays the first successful answer
///   (whatever its body) and moves no more money;
/// - a payment is charged at most once per order id (`ALREADY_PROCESSED_PAYMENT` otherwise);
/// - partial cancels never exceed the balance;
/// - a refusal is forgotten by default, so a repeat under the same idempotency key is
///   processed afresh; [`keep_refusals`](Self::keep_refusals) makes the fake keep refusals
///   under their key and replay them, as some gateways do;
/// - faults are scripted per operation ([`fail_next`](Self::fail_next)), or per operation on
///   one payment ([`fail_next_for`](Self::fail_next_for)), so tests can play transient errors,
///   rejections and timeouts after charging, in order, to the caller they mean;
/// - every call can be made slow ([`with_latency`](Self::with_latency)).
///
/// Clones share the same state.
#[derive(Debug, Clone)]
pub struct FakeGateway {
    state: Arc<Mutex<FakeState>>,
    clock: Arc<dyn Clock>,
    /// How long every call takes, and what it waits on.
    latency: Option<(Duration, Arc<dyn Sleeper>)>,
}

mod state;

use state::{FakeState, Start, fault_before};

impl FakeGateway {
    /// An empty fake that stamps times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        FakeGateway {
            state: Arc::default(),
            clock,
            latency: None,
        }
    }

    /// Makes every call take `latency`, waited on `sleeper` before the call is processed (so
    /// a `ManualSleeper` keeps tests in virtual time, a `TokioSleeper` makes it real).
    #[must_use]
    pub fn with_latency(mut self, latency: Duration, sleeper: Arc<dyn Sleeper>) -> Self {
        self.latency = Some((latency, sleeper));
        self
    }

    async fn travel(&self) {
        if let Some((latency, sleeper)) = &self.latency {
            sleeper.sleep(*latency).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // Each call finishes its writes before releasing the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The buyer authenticates a payment of `amount` for `order_ref` in the gateway's window;
    /// returns the payment key the success redirect would carry. Opening the same order id
    /// again returns the same key.
    pub fn open_session(
        &self,
        order_ref: &GatewayOrderId,
        amount: Money,
    ) -> Result<PaymentKey, GatewayError> {
        let mut state = self.lock();
        if let Some(existing) = state.payments.get(order_ref) {
            return Ok(existing.payment_key.clone());
        }
        let key = PaymentKey::new(state.mint_key("fake_pay"))?;
        state.by_key.insert(key.clone(), order_ref.clone());
        state.payments.insert(
            order_ref.clone(),
            GatewayPayment {
                payment_key: key.clone(),
                order_ref: order_ref.clone(),
                status: GatewayStatus::InProgress,
                total: amount,
                balance: amount,
                approved_at: None,
                cancels: Vec::new(),
            },
        );
        Ok(key)
    }

    /// Plays `fault` on the next call of `op` (faults queue up in order).
    pub fn fail_next(&self, op: GatewayOp, fault: Fault) {
        self.lock().script.entry(op).or_default().push_back(fault);
    }

    /// Plays `fault` on the next call of `op` for the payment of `order_ref` (a cancel is
    /// matched by its payment key), whoever makes it, before any fault of
    /// [`fail_next`](Self::fail_next). Faults for one payment queue up in order.
    pub fn fail_next_for(&self, op: GatewayOp, order_ref: &GatewayOrderId, fault: Fault) {
        self.lock()
            .aimed
            .entry((op, order_ref.clone()))
            .or_default()
            .push_back(fault);
    }

    /// Whether a refusal ([`GatewayError::Rejected`], scripted or real) is kept under the
    /// request's idempotency key and replayed to every repeat of that key, as some gateways
    /// do, or forgotten so that a repeat is processed afresh, as others do (the default). The
    /// service must be right under both.
    pub fn keep_refusals(&self, keep: bool) {
        self.lock().keep_refusals = keep;
    }

    /// Counters of what the fake has done.
    pub fn stats(&self) -> FakeGatewayStats {
        self.lock().stats
    }

    /// The fake's record for `order_ref`.
    pub fn payment(&self, order_ref: &GatewayOrderId) -> Option<GatewayPayment> {
        self.lock().payments.get(order_ref).cloned()
    }
}

#[async_trait]
impl PaymentGateway for FakeGateway {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError> {
        self.travel().await;
        let now = self.clock.now();
        let mut state = self.lock();
        state.stats.confirm_calls = state.stats.confirm_calls.saturating_add(1);
        let reply_key = (GatewayOp::Confirm, None, request.idempotency_key.clone());
        let fault = match state.start(GatewayOp::Confirm, &reply_key, Some(&request.order_ref))? {
            Start::Replay(reply) => return reply,
            Start::Proceed(fault) => fault,
        };
        let reply = state.approve(request, now);
        state.finish(reply_key, reply, fault)
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError> {
        validate_cancel_reason(&request.reason)?;
        self.travel().await;
        let now = self.clock.now();
        let mut state = self.lock();
        state.stats.cancel_calls = state.stats.cancel_calls.saturating_add(1);
        let reply_key = (
            GatewayOp::Cancel,
            Some(request.payment_key.clone()),
            request.idempotency_key.clone(),
        );
        let order_ref = state.by_key.get(&request.payment_key).cloned();
        let fault = match state.start(GatewayOp::Cancel, &reply_key, order_ref.as_ref())? {
            Start::Replay(reply) => return reply,
            Start::Proceed(fault) => fault,
        };
        let reply = state.refund(request, now);
        state.finish(reply_key, reply, fault)
    }

    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        self.travel().await;
        let mut state = self.lock();
        state.stats.lookups = state.stats.lookups.saturating_add(1);
        if let Some(err) = state
            .next_fault(GatewayOp::Lookup, Some(order_ref))
            .as_ref()
            .and_then(fault_before)
        {
            return Err(err);
        }
        state
            .payments
            .get(order_ref)
            .cloned()
            .ok_or(GatewayError::NotFound)
    }
}

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests;
