//! A fake Toss Payments server (feature `fake`): an axum app that behaves like the Toss API
//! where a booking depends on it, for tests and for running an example shop with no network.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use booking_toss::fake::{FakeToss, FakeTossConfig, FakeTossServer, SessionSpec};
//! use booking_toss::{Amount, SecretKey, TossClient};
//!
//! let key = SecretKey::new("test_sk_fake").unwrap();
//! let server = FakeTossServer::start(FakeToss::new(FakeTossConfig::new(key.clone()))).await?;
//! let client = TossClient::builder(key).base_url(server.url()).build().unwrap();
//! // The buyer's step in the payment window; the success redirect would carry this key.
//! let payment = server.fake().authenticate(&SessionSpec::card("order-0001", Amount::new(15_000).unwrap()));
//! # let _ = (client, payment);
//! # Ok(()) }
//! ```
//!
//! What it imitates and what it does not is listed in the crate docs ("The fake Toss server").

mod routes;
mod serve;
mod state;
mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use booking_core::clock::{Clock, SystemClock};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::payment::Payment;
use crate::secret::SecretKey;
use crate::timeouts::CONFIRM_WINDOW;

pub use serve::{FakeTossServer, serve};

/// Which call a scripted [`FakeFault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeOp {
    /// `POST /v1/payments/confirm`.
    Confirm,
    /// `POST /v1/payments/{paymentKey}/cancel`.
    Cancel,
    /// Both look-ups (`GET /v1/payments/…`).
    Lookup,
}

/// A fault the fake plays once, on the next call of its [`FakeOp`] that is not an idempotent
/// replay. Faults queue up in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FakeFault {
    /// Answers with this Toss error; the call changes nothing. [`FakeFault::error`] picks the
    /// documented status.
    Error {
        /// The HTTP status.
        status: u16,
        /// The Toss code.
        code: String,
    },
    /// The card company declines a confirm: the payment becomes `ABORTED` with this failure,
    /// and the answer is this error.
    Decline {
        /// The Toss code, e.g. `REJECT_CARD_PAYMENT`.
        code: String,
    },
    /// Waits this long before handling the call. The call is handled even if the client gave
    /// up meanwhile (a client timeout after sending).
    Latency {
        /// How long.
        #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
        delay: Duration,
    },
    /// Handles the call — money moves — then closes the connection without answering.
    LoseResponse,
    /// Closes the connection without handling the call.
    DropRequest,
    /// Answers with exactly this status and body.
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body, as sent.
        body: Vec<u8>,
    },
}

impl FakeFault {
    /// An [`Error`](FakeFault::Error) with `code`'s documented status (400 if undocumented).
    pub fn error(code: &str) -> Self {
        FakeFault::Error {
            status: crate::codes::documented(code).map_or(400, |d| d.status),
            code: code.to_owned(),
        }
    }
}

/// How the buyer pays in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeMethod {
    /// A card: a confirm approves the payment at once.
    #[default]
    Card,
    /// A virtual account: a confirm issues the account (`WAITING_FOR_DEPOSIT`, with a
    /// `secret`); [`FakeToss::deposit`] plays the buyer's transfer.
    VirtualAccount,
}

/// The buyer's authenticated payment, as the payment window creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    /// The merchant's order id.
    pub order_id: String,
    /// The amount the window was opened for.
    pub amount: Amount,
    /// The order's name.
    #[serde(default = "default_order_name")]
    pub order_name: String,
    /// How the buyer pays.
    #[serde(default)]
    pub method: FakeMethod,
}

fn default_order_name() -> String {
    "booking".to_owned()
}

impl SessionSpec {
    /// A card payment of `amount` for `order_id`.
    pub fn card(order_id: impl Into<String>, amount: Amount) -> Self {
        SessionSpec {
            order_id: order_id.into(),
            amount,
            order_name: default_order_name(),
            method: FakeMethod::Card,
        }
    }

    /// A virtual-account payment of `amount` for `order_id`.
    pub fn virtual_account(order_id: impl Into<String>, amount: Amount) -> Self {
        SessionSpec {
            method: FakeMethod::VirtualAccount,
            ..SessionSpec::card(order_id, amount)
        }
    }
}

/// What the fake has done, for assertions such as "charged exactly once".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeTossStats {
    /// Confirm requests, replays and refusals included.
    pub confirm_calls: u64,
    /// Approvals that collected money (card confirms, virtual-account deposits).
    pub charges: u64,
    /// Virtual accounts issued.
    pub accounts_issued: u64,
    /// Cancel requests, replays and refusals included.
    pub cancel_calls: u64,
    /// Cancels that returned money.
    pub refunds: u64,
    /// Look-up requests.
    pub lookups: u64,
    /// Requests answered with a stored response (same idempotency key).
    pub replays: u64,
    /// Requests answered `409 IDEMPOTENT_REQUEST_PROCESSING`.
    pub in_flight_conflicts: u64,
    /// Requests refused for their credentials.
    pub unauthorized: u64,
}

/// A webhook the fake produced, with each delivery's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWebhook {
    /// `tosspayments-webhook-transmission-id`.
    pub transmission_id: String,
    /// `PAYMENT_STATUS_CHANGED` or `DEPOSIT_CALLBACK`.
    pub event_type: &'static str,
    /// `tosspayments-webhook-transmission-time`.
    pub transmission_time: String,
    /// The JSON body.
    pub body: Bytes,
    /// The HTTP status of each delivery (`None`: no answer).
    pub deliveries: Vec<Option<u16>>,
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeTossConfig {
    /// The only secret key it accepts.
    pub secret_key: SecretKey,
    /// Its clock (payment times, the confirm window).
    pub clock: Arc<dyn Clock>,
    /// How long after authentication a confirm is accepted.
    pub confirm_window: Duration,
    /// Where webhooks are posted, as they happen; `None` records them only.
    pub webhook_url: Option<Url>,
}

impl FakeTossConfig {
    /// Accepts `secret_key`, on the system clock, with Toss's ten-minute window, posting no
    /// webhooks.
    pub fn new(secret_key: SecretKey) -> Self {
        FakeTossConfig {
            secret_key,
            clock: Arc::new(SystemClock),
            confirm_window: CONFIRM_WINDOW,
            webhook_url: None,
        }
    }

    /// Reads time from `clock` (share a `ManualClock` with the code under test).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Posts webhooks to `url`.
    #[must_use]
    pub fn webhook_url(mut self, url: Url) -> Self {
        self.webhook_url = Some(url);
        self
    }
}

/// The fake's state and controls; [`router`](FakeToss::router) serves it. Clones share it.
#[derive(Debug, Clone)]
pub struct FakeToss {
    state: Arc<Mutex<state::State>>,
    config: Arc<FakeTossConfig>,
    auth: Arc<reqwest::header::HeaderValue>,
    webhooks: webhooks::Sender,
}

impl FakeToss {
    /// An empty fake.
    pub fn new(config: FakeTossConfig) -> Self {
        let auth = config
            .secret_key
            .basic_auth()
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
        FakeToss {
            state: Arc::default(),
            webhooks: webhooks::Sender::new(config.webhook_url.clone()),
            config: Arc::new(config),
            auth: Arc::new(auth),
        }
    }

    /// The axum app: the Toss API under `/v1`, and the fake's controls under `/__fake`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        // Every change is made whole before the guard is released.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The buyer authenticates in the payment window (the widget's step): a payment
    /// `IN_PROGRESS` for the order, whose key the success redirect carries. Authenticating the
    /// same order id again returns the payment it has.
    pub fn authenticate(&self, spec: &SessionSpec) -> Payment {
        let now = self.config.clock.now();
        self.lock().authenticate(spec, now)
    }

    /// Plays `fault` on the next call of `op`.
    pub fn fail_next(&self, op: FakeOp, fault: FakeFault) {
        self.lock().faults.entry(op).or_default().push_back(fault);
    }

    /// Counters of what the fake has done.
    pub fn stats(&self) -> FakeTossStats {
        self.lock().stats
    }

    /// The payment `payment_key` as the fake holds it.
    pub fn payment(&self, payment_key: &str) -> Option<Payment> {
        self.lock().payment(payment_key)
    }

    /// The payment of `order_id` as the fake holds it.
    pub fn payment_of_order(&self, order_id: &str) -> Option<Payment> {
        self.lock().payment_of_order(order_id)
    }

    /// The buyer pays into the virtual account of `order_id`: the payment is approved and
    /// `PAYMENT_STATUS_CHANGED` and `DEPOSIT_CALLBACK` webhooks follow.
    ///
    /// # Errors
    /// The Toss-style code if the order has no virtual account waiting for a deposit.
    pub fn deposit(&self, order_id: &str) -> Result<Payment, String> {
        let now = self.config.clock.now();
        let reply = self.lock().deposit(order_id, now);
        self.flush_webhooks();
        routes::payment_of(&reply)
    }

    /// Every webhook produced so far, oldest first.
    pub fn webhooks(&self) -> Vec<SentWebhook> {
        self.lock().webhooks.clone()
    }

    /// Delivers webhook `transmission_id` again to the configured URL (as Toss retries a
    /// failed delivery, with `retried-count` one higher); returns the answer's status.
    pub async fn redeliver(&self, transmission_id: &str) -> Option<u16> {
        let (webhook, retried) = {
            let state = self.lock();
            let webhook = state
                .webhooks
                .iter()
                .find(|w| w.transmission_id == transmission_id)?
                .clone();
            let retried = webhook.deliveries.len();
            (webhook, retried)
        };
        let status = self.webhooks.deliver(&webhook, retried).await;
        self.record_delivery(transmission_id, status);
        status
    }

    /// Posts the webhooks not delivered yet, each on its own task.
    fn flush_webhooks(&self) {
        if !self.webhooks.enabled() {
            return;
        }
        let pending: Vec<SentWebhook> = {
            let mut state = self.lock();
            let pending: Vec<SentWebhook> = state
                .webhooks
                .iter()
                .filter(|w| w.deliveries.is_empty())
                .cloned()
                .collect();
            // Marked at once (as "no answer yet") so a concurrent flush does not send twice.
            for webhook in state
                .webhooks
                .iter_mut()
                .filter(|w| w.deliveries.is_empty())
            {
                webhook.deliveries.push(None);
            }
            pending
        };
        for webhook in pending {
            let fake = self.clone();
            tokio::spawn(async move {
                let status = fake.webhooks.deliver(&webhook, 0).await;
                let mut state = fake.lock();
                if let Some(sent) = state
                    .webhooks
                    .iter_mut()
                    .find(|w| w.transmission_id == webhook.transmission_id)
                    && let Some(first) = sent.deliveries.first_mut()
                {
                    *first = status;
                }
            });
        }
    }

    fn record_delivery(&self, transmission_id: &str, status: Option<u16>) {
        let mut state = self.lock();
        if let Some(sent) = state
            .webhooks
            .iter_mut()
            .find(|w| w.transmission_id == transmission_id)
        {
            sent.deliveries.push(status);
        }
    }

    fn config(&self) -> &FakeTossConfig {
        &self.config
    }
}
