//! An axum booking server on booking-core: the concert, flight and flash-sale flows over HTTP
//! with OpenAPI, RFC 9457 problem+json errors, idempotency keys, a waiting room and metrics.
//!
//! Run with: `cargo run -p example-server` (then open <http://127.0.0.1:3000/docs>).
//!
//! The router is built by [`app`], so tests and benches run the same app as the binary;
//! [`serve`] adds the background tasks and graceful shutdown.
//!
//! | module | what |
//! |---|---|
//! | [`config`] | flags and environment variables |
//! | [`backend`] | the ports built from the configuration (the one place to wire other backends) |
//! | [`state`] | [`AppState`]: services, catalog, signer, caches |
//! | [`catalog`], [`seed`] | what is on sale, and the demo data |
//! | [`routes`] | one module per resource, and the OpenAPI document |
//! | [`problem`], [`extract`] | problem+json errors, and the JSON extractor naming bad fields |
//! | [`auth`] | demo bearer tokens, the current user, the admin token |
//! | [`idempotency`] | the `Idempotency-Key` tower layer |
//! | [`read_cache`] | seat maps and flight searches, kept for a second |
//! | [`live`] | the live seat maps: outbox changes fanned out to streams, across processes with Redis |
//! | [`page`] | the seat-map page at `/`, embedded in the binary |
//! | [`metrics`], [`upkeep`] | Prometheus metrics; sweeper, reconciler, outbox relay, admissions |

pub mod auth;
pub mod backend;
pub mod catalog;
pub mod config;
pub mod extract;
pub mod idempotency;
pub mod live;
pub mod metrics;
pub mod page;
pub mod problem;
pub mod read_cache;
pub mod routes;
pub mod seed;
pub mod state;
pub mod upkeep;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

pub use config::Config;
pub use state::AppState;

use crate::idempotency::IdempotencyLayer;
use crate::live::Live;
use crate::problem::Problem;

/// The request id header, set when the client sent none and returned on every response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: the API, `/openapi.json`, `/docs`, the fake Toss at `/fake-toss`
/// (embedded default) and every cross-cutting layer.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = routes::router().split_for_parts();
    let mut router = api
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(page::router());
    if let Some(fake) = &state.fake_toss {
        router = router.nest_service("/fake-toss", fake.router());
    }
    let signer = state.signer.clone();
    let limit = state.config.body_limit;
    let idempotency = IdempotencyLayer::new(
        state.backend.idempotency.clone(),
        move |parts| signer.scope_of(parts),
        // Longer than a request may run (the timeout), so a retry never takes over a live one.
        state
            .config
            .request_timeout
            .saturating_add(Duration::from_secs(30)),
        limit,
    );
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %id,
                    user = tracing::field::Empty,
                    order = tracing::field::Empty,
                    payment = tracing::field::Empty,
                )
            }),
        )
        .layer(CatchPanicLayer::custom(|_| {
            Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(idempotency)
        .layer(RequestBodyLimitLayer::new(limit));
    router
        .layer(layers)
        .layer(middleware::from_fn_with_state(
            state.live.clone(),
            nudge_relay_after_writes,
        ))
        .route_layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

/// Answers every error that has no JSON body (an unknown route, a method not allowed, a
/// timeout, a body over the limit) as a problem.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return Problem::for_status(status).into_response();
    }
    response
}

/// Runs the outbox relay at once after a request that may have written (any method but GET,
/// and Toss's success redirect), so live streams see the change without waiting for a tick.
async fn nudge_relay_after_writes(
    State(live): State<Live>,
    request: Request,
    next: Next,
) -> Response {
    let writes =
        request.method() != Method::GET || request.uri().path().starts_with("/v1/payments/toss/");
    let response = next.run(request).await;
    if writes {
        live.nudge();
    }
    response
}

/// Serves `state`'s app on `listener` with the background tasks until `shutdown` completes,
/// then drains in-flight requests and stops the tasks.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = upkeep::Background::spawn(&state);
    let live = state.live.clone();
    let shutdown = async move {
        shutdown.await;
        // Live streams never end by themselves: end them, so the drain can finish.
        live.close();
    };
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    background.stop().await;
    served
}
