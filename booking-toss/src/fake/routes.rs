//! The fake's HTTP surface: the Toss API under `/v1` (credentials, idempotency keys, scripted
//! faults) and its controls under `/__fake`.

use std::future::pending;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::state::{Handling, Reply, RequestKey};
use super::{FakeFault, FakeOp, FakeToss, SessionSpec};
use crate::amount::Amount;
use crate::client::IDEMPOTENCY_KEY_HEADER;
use crate::idempotency::MAX_IDEMPOTENCY_KEY_LEN;
use crate::payment::Payment;

/// Closes the connection a request came on; set by [`serve`](super::serve) on every request.
#[derive(Debug, Clone)]
pub(super) struct ConnectionKill(pub(super) Arc<Notify>);

pub(super) fn router(fake: FakeToss) -> Router {
    Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/{payment_key}", get(by_key))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .route("/v1/payments/orders/{order_id}", get(by_order))
        .route("/__fake/sessions", post(create_session))
        .route("/__fake/widget", get(widget))
        .route("/__fake/faults", post(add_fault))
        .route("/__fake/stats", get(stats))
        .route("/__fake/deposits/{order_id}", post(deposit))
        .with_state(fake)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

/// The payment in a reply, or its error code.
pub(super) fn payment_of(reply: &Reply) -> Result<Payment, String> {
    if reply.is_success() {
        serde_json::from_slice(&reply.body).map_err(|e| e.to_string())
    } else {
        let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned));
        Err(code.unwrap_or_else(|| format!("HTTP {}", reply.status)))
    }
}

/// `Authorization: Basic base64("{secret}:")` with the configured key, or Toss's refusal.
fn authorize(fake: &FakeToss, headers: &HeaderMap) -> Result<(), Reply> {
    let refuse = |status, code| {
        let mut state = fake.lock();
        state.stats.unauthorized = state.stats.unauthorized.saturating_add(1);
        Err(Reply::error_with(status, code))
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return refuse(401, "UNAUTHORIZED_KEY");
    };
    let Some(decoded) = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return refuse(403, "INCORRECT_BASIC_AUTH_FORMAT");
    };
    if decoded.last() != Some(&b':') {
        return refuse(403, "INCORRECT_BASIC_AUTH_FORMAT");
    }
    if bool::from(value.as_bytes().ct_eq(fake.auth.as_bytes())) {
        Ok(())
    } else {
        refuse(401, "UNAUTHORIZED_KEY")
    }
}

/// The request's idempotency key with its method and path, or Toss's refusal of it.
fn request_key(
    headers: &HeaderMap,
    method: &'static str,
    path: String,
) -> Result<Option<RequestKey>, Reply> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN => {
            Ok(Some((key.to_owned(), method, path)))
        }
        _ => Err(Reply::error("INVALID_IDEMPOTENCY_KEY")),
    }
}

/// The work of one call, run under the state's lock: `(state, now, window, decline code)`.
type Work = Box<
    dyn FnOnce(
            &mut super::state::State,
            booking_core::clock::Timestamp,
            std::time::Duration,
            Option<&str>,
        ) -> Reply
        + Send,
>;

impl FakeToss {
    /// Runs one API call: credentials, idempotent replay or in-flight refusal, the next
    /// scripted fault, then `work`.
    async fn handle(
        &self,
        op: FakeOp,
        headers: &HeaderMap,
        key: Option<RequestKey>,
        kill: Option<ConnectionKill>,
        work: Work,
    ) -> Response {
        if let Err(refused) = authorize(self, headers) {
            return refused.into_response();
        }
        let fault = {
            let mut state = self.lock();
            let stats = &mut state.stats;
            let calls = match op {
                FakeOp::Confirm => &mut stats.confirm_calls,
                FakeOp::Cancel => &mut stats.cancel_calls,
                FakeOp::Lookup => &mut stats.lookups,
            };
            *calls = calls.saturating_add(1);
            if let Some(key) = &key {
                match state.requests.get(key) {
                    Some(Handling::Done(reply)) => {
                        let reply = reply.clone();
                        state.stats.replays = state.stats.replays.saturating_add(1);
                        return reply.into_response();
                    }
                    Some(Handling::InFlight) => {
                        state.stats.in_flight_conflicts =
                            state.stats.in_flight_conflicts.saturating_add(1);
                        return Reply::error("IDEMPOTENT_REQUEST_PROCESSING").into_response();
                    }
                    None => {
                        state.requests.insert(key.clone(), Handling::InFlight);
                    }
                }
            }
            state.next_fault(op)
        };
        match fault {
            None => self.finish(key, work, None).into_response(),
            Some(FakeFault::Decline { code }) => {
                self.finish(key, work, Some(&code)).into_response()
            }
            Some(FakeFault::Error { status, code }) => {
                self.forget(key);
                Reply::error_with(status, &code).into_response()
            }
            Some(FakeFault::Respond { status, body }) => {
                self.forget(key);
                Reply {
                    status,
                    body: Bytes::from(body),
                }
                .into_response()
            }
            Some(FakeFault::Latency { delay }) => {
                // Handled on its own task, so a client that gives up does not stop it.
                let fake = self.clone();
                let handled = tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    fake.finish(key, work, None)
                });
                match handled.await {
                    Ok(reply) => reply.into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
            Some(FakeFault::LoseResponse) => {
                self.finish(key, work, None);
                hang_up(kill).await
            }
            Some(FakeFault::DropRequest) => {
                self.forget(key);
                hang_up(kill).await
            }
        }
    }

    /// Does the work; stores a success for replays (an error is not stored: a retry with the
    /// same key is handled anew); posts the webhooks it produced.
    fn finish(&self, key: Option<RequestKey>, work: Work, decline: Option<&str>) -> Reply {
        let config = self.config();
        let now = config.clock.now();
        let reply = {
            let mut state = self.lock();
            let reply = work(&mut state, now, config.confirm_window, decline);
            if let Some(key) = key {
                if reply.is_success() {
                    state.requests.insert(key, Handling::Done(reply.clone()));
                } else {
                    state.requests.remove(&key);
                }
            }
            reply
        };
        self.flush_webhooks();
        reply
    }

    fn forget(&self, key: Option<RequestKey>) {
        if let Some(key) = key {
            self.lock().requests.remove(&key);
        }
    }
}

/// Closes the connection without an answer; without a connection to close (the router served
/// by other means), never answers, which the client sees as a timeout.
async fn hang_up(kill: Option<ConnectionKill>) -> Response {
    if let Some(ConnectionKill(notify)) = kill {
        notify.notify_one();
    }
    pending().await
}

fn kill_of(extension: Option<axum::Extension<ConnectionKill>>) -> Option<ConnectionKill> {
    extension.map(|axum::Extension(kill)| kill)
}

async fn confirm(
    State(fake): State<FakeToss>,
    kill: Option<axum::Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match request_key(&headers, "POST", "/v1/payments/confirm".to_owned()) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let work: Work =
        Box::new(move |state, now, window, decline| state.confirm(&body, now, window, decline));
    fake.handle(FakeOp::Confirm, &headers, key, kill_of(kill), work)
        .await
}

async fn cancel(
    State(fake): State<FakeToss>,
    Path(payment_key): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/payments/{payment_key}/cancel");
    let key = match request_key(&headers, "POST", path) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let work: Work = Box::new(move |state, now, _, _| state.cancel(&payment_key, &body, now));
    fake.handle(FakeOp::Cancel, &headers, key, kill_of(kill), work)
        .await
}

async fn by_key(
    State(fake): State<FakeToss>,
    Path(payment_key): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    headers: HeaderMap,
) -> Response {
    let work: Work = Box::new(move |state, now, window, _| state.by_key(&payment_key, now, window));
    fake.handle(FakeOp::Lookup, &headers, None, kill_of(kill), work)
        .await
}

async fn by_order(
    State(fake): State<FakeToss>,
    Path(order_id): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    headers: HeaderMap,
) -> Response {
    let work: Work = Box::new(move |state, now, window, _| state.by_order(&order_id, now, window));
    fake.handle(FakeOp::Lookup, &headers, None, kill_of(kill), work)
        .await
}

/// `POST /__fake/sessions`: the widget's step, as JSON: `{orderId, amount, orderName?,
/// method?}` → the payment `IN_PROGRESS`.
async fn create_session(State(fake): State<FakeToss>, body: Bytes) -> Response {
    match serde_json::from_slice::<SessionSpec>(&body) {
        Ok(spec) if crate::params::validate_order_id(&spec.order_id).is_ok() => {
            Reply::json(200, &fake.authenticate(&spec)).into_response()
        }
        _ => Reply::error("INVALID_REQUEST").into_response(),
    }
}

/// The query of `GET /__fake/widget`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WidgetQuery {
    order_id: String,
    amount: i64,
    #[serde(default)]
    order_name: Option<String>,
    success_url: String,
    #[serde(default)]
    fail_url: Option<String>,
    /// `fail` plays a buyer who gives up in the window.
    #[serde(default)]
    outcome: Option<String>,
}

/// `GET /__fake/widget?orderId&amount&successUrl[&failUrl][&orderName][&outcome=fail]`: the
/// browser's trip through the payment window, ending in Toss's redirect to the success URL
/// (`paymentType`, `orderId`, `paymentKey`, `amount` appended) or to the fail URL.
async fn widget(State(fake): State<FakeToss>, Query(query): Query<WidgetQuery>) -> Response {
    if query.outcome.as_deref() == Some("fail") {
        let Some(fail_url) = query.fail_url else {
            return Reply::error("INVALID_REQUEST").into_response();
        };
        let target = append(
            &fail_url,
            &[
                ("code", "PAY_PROCESS_CANCELED"),
                ("message", "사용자에 의해 결제가 취소되었습니다."),
                ("orderId", &query.order_id),
            ],
        );
        return target.map_or_else(
            || Reply::error("INVALID_REQUEST").into_response(),
            |url| Redirect::to(&url).into_response(),
        );
    }
    let (Ok(amount), Ok(())) = (
        Amount::new(query.amount),
        crate::params::validate_order_id(&query.order_id),
    ) else {
        return Reply::error("INVALID_REQUEST").into_response();
    };
    let mut spec = SessionSpec::card(query.order_id.clone(), amount);
    if let Some(name) = query.order_name {
        spec.order_name = name;
    }
    let payment = fake.authenticate(&spec);
    let amount = amount.to_string();
    let target = append(
        &query.success_url,
        &[
            ("paymentType", "NORMAL"),
            ("orderId", &payment.order_id),
            ("paymentKey", &payment.payment_key),
            ("amount", &amount),
        ],
    );
    target.map_or_else(
        || Reply::error("INVALID_REQUEST").into_response(),
        |url| Redirect::to(&url).into_response(),
    )
}

/// `url` with `params` appended to its query, keeping what it had.
fn append(url: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = reqwest::Url::parse(url).ok()?;
    url.query_pairs_mut().extend_pairs(params);
    Some(url.into())
}

/// The body of `POST /__fake/faults`.
#[derive(Deserialize)]
struct AddFault {
    op: FakeOp,
    fault: FakeFault,
}

/// `POST /__fake/faults` with `{"op": "confirm", "fault": {"kind": "error", "status": 400,
/// "code": "PROVIDER_ERROR"}}`: scripts a fault.
async fn add_fault(State(fake): State<FakeToss>, body: Bytes) -> Response {
    match serde_json::from_slice::<AddFault>(&body) {
        Ok(request) => {
            fake.fail_next(request.op, request.fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "code": "INVALID_REQUEST", "message": e.to_string() })),
        )
            .into_response(),
    }
}

/// `GET /__fake/stats`.
async fn stats(State(fake): State<FakeToss>) -> Response {
    axum::Json(fake.stats()).into_response()
}

/// `POST /__fake/deposits/{orderId}`: the buyer pays into the order's virtual account.
async fn deposit(State(fake): State<FakeToss>, Path(order_id): Path<String>) -> Response {
    match fake.deposit(&order_id) {
        Ok(payment) => Reply::json(200, &payment).into_response(),
        Err(code) => Reply::error(&code).into_response(),
    }
}
