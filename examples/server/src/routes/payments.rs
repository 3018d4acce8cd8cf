//! Payments: start one with points or a card, the Toss redirects back, and Toss webhooks.
//!
//! The success and fail URLs and the webhook are called by the buyer's browser and by Toss,
//! not by the signed-in client, so they take no bearer token: the success URL's claim is
//! checked against the stored order (and by Toss, which confirms only the payment it
//! authenticated), and a webhook is verified by looking the payment up at Toss.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use booking_core::gateways::PointsGateway;
use booking_core::service::{BookingError, Confirmation};
use booking_toss::{Amount, FailRedirect, GATEWAY_NAME, SuccessRedirect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem};
use crate::routes::orders::owned_order;
use crate::routes::views::OrderView;
use crate::state::AppState;

/// How to pay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// `points` (from the wallet, at once) or `card` (through the Toss payment window).
    pub method: PayMethod,
}

/// A payment method.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PayMethod {
    /// The user's points.
    Points,
    /// A card, through Toss.
    Card,
}

/// What the client needs to open the Toss payment window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardCheckout {
    /// The order id Toss sees (one per payment attempt).
    pub order_id: String,
    /// KRW to charge.
    pub amount: i64,
    /// The order's name for the window.
    pub order_name: String,
    /// Where the window sends the browser on success.
    pub success_url: String,
    /// Where the window sends the browser on failure.
    pub fail_url: String,
    /// On the embedded fake Toss: a URL playing the window, redirecting to `successUrl`.
    pub checkout_url: Option<String>,
}

/// The answer to starting a payment: the paid order (points) or the checkout (card).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PaymentAnswer {
    /// Paid with points: the order, now confirmed.
    Paid(OrderView),
    /// A card: open the window with these.
    Card(CardCheckout),
}

/// Pays an order with points, or starts a card payment through Toss.
#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "payments",
    request_body = NewPayment,
    params(("id" = String, Path, description = "an order id")),
    responses((status = 200, body = PaymentAnswer),
        (status = 402, body = Problem, description = "declined, e.g. not enough points"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
pub async fn start(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewPayment>,
) -> ApiResult<Json<PaymentAnswer>> {
    let record = owned_order(&state, &user, &id).await?;
    let gateway = match body.method {
        PayMethod::Points => "points",
        PayMethod::Card => GATEWAY_NAME,
    };
    let intent = state
        .service
        .start_payment(record.order.id(), gateway)
        .await?;
    tracing::Span::current().record("payment", tracing::field::display(intent.payment));
    match body.method {
        PayMethod::Points => {
            let key =
                PointsGateway::payment_key(&intent.order_ref).map_err(BookingError::Gateway)?;
            let confirmation = Confirmation::new(intent.order_ref.clone(), key, intent.amount);
            let paid = confirm(&state, "points", &confirmation).await?;
            Ok(Json(PaymentAnswer::Paid(OrderView::from(&paid))))
        }
        PayMethod::Card => {
            let public = &state.public_url;
            let success_url = format!("{public}/v1/payments/toss/success");
            let fail_url = format!("{public}/v1/payments/toss/fail");
            let amount = Amount::from_money(intent.amount)
                .map_err(|e| Problem::invalid_field("amount", e.to_string()))?;
            let checkout_url = state.fake_toss.as_ref().and_then(|_| {
                let mut url =
                    reqwest::Url::parse(&format!("{public}/fake-toss/__fake/widget")).ok()?;
                url.query_pairs_mut()
                    .append_pair("orderId", intent.order_ref.as_str())
                    .append_pair("amount", &amount.to_string())
                    .append_pair("orderName", &intent.order_name)
                    .append_pair("successUrl", &success_url)
                    .append_pair("failUrl", &fail_url);
                Some(url.to_string())
            });
            Ok(Json(PaymentAnswer::Card(CardCheckout {
                order_id: intent.order_ref.to_string(),
                amount: intent.amount.minor(),
                order_name: intent.order_name,
                success_url,
                fail_url,
                checkout_url,
            })))
        }
    }
}

/// Confirms and counts the outcome.
async fn confirm(
    state: &AppState,
    gateway: &str,
    confirmation: &Confirmation,
) -> Result<booking_core::ports::store::OrderRecord, Problem> {
    match state.service.confirm_payment(confirmation).await {
        Ok(paid) => {
            crate::metrics::payment_outcome(gateway, "paid");
            Ok(paid)
        }
        Err(e) => {
            let problem = Problem::from(e);
            let slug = problem.kind.trim_start_matches("/problems/").to_owned();
            crate::metrics::payment_outcome(gateway, &slug);
            Err(problem)
        }
    }
}

/// Toss's success redirect: the amount is checked against the stored order (a tampered URL is
/// refused with `amount-mismatch`, nothing charged), then the payment is confirmed.
#[utoipa::path(get, path = "/v1/payments/toss/success", tag = "payments", security(()),
    params(("paymentType" = String, Query), ("orderId" = String, Query),
        ("paymentKey" = String, Query), ("amount" = i64, Query)),
    responses((status = 200, body = OrderView), (status = 400, body = Problem),
        (status = 422, body = Problem, description = "the amount does not match the order")))]
pub async fn success(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<OrderView>> {
    let redirect = SuccessRedirect::from_query(query.as_deref().unwrap_or_default())
        .map_err(redirect_problem)?;
    let confirmation = redirect.confirmation().map_err(redirect_problem)?;
    let paid = confirm(&state, GATEWAY_NAME, &confirmation).await?;
    let span = tracing::Span::current();
    span.record("order", tracing::field::display(paid.order.id()));
    if let Some(payment) = paid.payment {
        span.record("payment", tracing::field::display(payment));
    }
    Ok(Json(OrderView::from(&paid)))
}

/// What the fail redirect said.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    /// Toss's code, e.g. `PAY_PROCESS_CANCELED`.
    pub code: String,
    /// Toss's message.
    pub message: String,
    /// The order id Toss saw, if given.
    pub order_id: Option<String>,
}

/// Toss's fail redirect: nothing was paid; the order keeps its seats until its hold lapses,
/// and the buyer may start another payment.
#[utoipa::path(get, path = "/v1/payments/toss/fail", tag = "payments", security(()),
    params(("code" = String, Query), ("message" = String, Query), ("orderId" = Option<String>, Query)),
    responses((status = 200, body = PaymentFailed), (status = 400, body = Problem)))]
pub async fn fail(RawQuery(query): RawQuery) -> ApiResult<Json<PaymentFailed>> {
    let redirect =
        FailRedirect::from_query(query.as_deref().unwrap_or_default()).map_err(redirect_problem)?;
    Ok(Json(PaymentFailed {
        code: redirect.code,
        message: redirect.message,
        order_id: redirect.order_id,
    }))
}

fn redirect_problem(e: booking_toss::RedirectError) -> Problem {
    use booking_toss::RedirectError::{Invalid, Missing, Repeated};
    let field = match &e {
        Invalid { name, .. } | Missing(name) | Repeated(name) => (*name).to_owned(),
        _ => "query".to_owned(),
    };
    Problem::bad_request("invalid-redirect", e.to_string()).with("field", field)
}

/// What a webhook delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// The outcome, for the log.
    pub outcome: String,
}

/// Toss webhooks (`PAYMENT_STATUS_CHANGED`, `DEPOSIT_CALLBACK`), verified by looking the
/// payment up at Toss and applied once per transmission.
#[utoipa::path(post, path = "/v1/webhooks/toss", tag = "payments", security(()),
    request_body(content = Object, description = "the webhook as Toss sends it"),
    responses((status = 200, body = WebhookAnswer), (status = 400, body = Problem),
        (status = 403, body = Problem)))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAnswer>)> {
    match state.webhooks.handle(&headers, &body).await {
        Ok(outcome) => {
            let status = StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::OK);
            Ok((
                status,
                Json(WebhookAnswer {
                    outcome: format!("{outcome:?}"),
                }),
            ))
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(Problem::new(
                status,
                "webhook-refused",
                "The webhook was not applied",
                e.to_string(),
            ))
        }
    }
}
