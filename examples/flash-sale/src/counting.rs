//! [`Counted`]: a gateway decorator that counts retries — calls that repeat an idempotency key
//! already sent — so the summary can say how many calls the retry policy (and the buyers'
//! own repeats) made. It shows that a port can be wrapped without the service knowing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use booking_core::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayOrderId, GatewayPayment, PaymentGateway,
};

/// Calls seen by every [`Counted`] gateway sharing it.
#[derive(Debug, Default)]
pub(crate) struct GatewayCalls {
    inner: Mutex<Calls>,
}

#[derive(Debug, Default)]
struct Calls {
    /// Sends per (gateway, operation, idempotency key).
    keys: HashMap<(&'static str, &'static str, String), u32>,
    retries: u64,
    lookups: u64,
}

impl GatewayCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sent(&self, gateway: &'static str, op: &'static str, key: &str) {
        let mut calls = self.lock();
        let sends = calls.keys.entry((gateway, op, key.to_owned())).or_insert(0);
        *sends = sends.saturating_add(1);
        if *sends > 1 {
            calls.retries = calls.retries.saturating_add(1);
        }
    }

    /// Confirms and cancels sent again with a key already used.
    pub(crate) fn retries(&self) -> u64 {
        self.lock().retries
    }

    /// Lookups (reconciliation).
    pub(crate) fn lookups(&self) -> u64 {
        self.lock().lookups
    }
}

/// `G`, counting what goes through it into shared [`GatewayCalls`].
#[derive(Debug)]
pub(crate) struct Counted<G> {
    inner: G,
    calls: Arc<GatewayCalls>,
}

impl<G> Counted<G> {
    pub(crate) fn new(inner: G, calls: Arc<GatewayCalls>) -> Self {
        Counted { inner, calls }
    }
}

#[async_trait]
impl<G: PaymentGateway> PaymentGateway for Counted<G> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError> {
        self.calls
            .sent(self.name(), "confirm", request.idempotency_key.as_str());
        self.inner.confirm(request).await
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError> {
        self.calls
            .sent(self.name(), "cancel", request.idempotency_key.as_str());
        self.inner.cancel(request).await
    }

    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        {
            let mut calls = self.calls.lock();
            calls.lookups = calls.lookups.saturating_add(1);
        }
        self.inner.lookup(order_ref).await
    }
}
