//! [`IdempotencyLayer`]: `Idempotency-Key` on POST requests, over booking-core's
//! [`IdempotencyStore`] port, with the IETF draft's semantics.
//!
//! | the key … | answer |
//! |---|---|
//! | is new | the request runs; its status and body are stored (a 5xx is not: a retry runs again) |
//! | was used for the same request, finished | the stored status and body again, with `Idempotent-Replayed: true` |
//! | was used for the same request, still running | 409 problem, `Retry-After` |
//! | was used for another request (method, path or JSON body differ) | 422 problem |
//! | is malformed | 400 problem |
//!
//! Keys are scoped: the layer asks a function for the request's [`Scope`] (here, the signed-in
//! user), so two users never see each other's records. A request without a key, without a
//! scope (not signed in: the handler answers 401) or whose body is not JSON (the handler
//! answers the problem) passes through unrecorded. The layer is independent of this server:
//! give it any `IdempotencyStore` and scope function.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use booking_core::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyKey, IdempotencyStore, REPLAYED_HEADER, Scope,
    StoredOutcome,
};
use tower::{Layer, Service};

use crate::problem::{PROBLEM_JSON, Problem};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Finds the scope of a request's keys; `None` lets the request pass unrecorded.
pub type ScopeFn = Arc<dyn Fn(&Parts) -> Option<Scope> + Send + Sync>;

/// The layer; see the module docs.
#[derive(Clone)]
pub struct IdempotencyLayer {
    store: Arc<dyn IdempotencyStore>,
    scope: ScopeFn,
    lease: Duration,
    body_limit: usize,
}

impl fmt::Debug for IdempotencyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("store", &self.store)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl IdempotencyLayer {
    /// Keys filed in `store` under the scope `scope` finds. `lease` must exceed the longest
    /// a request may run (a retry after it takes the key over); `body_limit` bounds the body
    /// read for the fingerprint.
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        scope: impl Fn(&Parts) -> Option<Scope> + Send + Sync + 'static,
        lease: Duration,
        body_limit: usize,
    ) -> Self {
        IdempotencyLayer {
            store,
            scope: Arc::new(scope),
            lease,
            body_limit,
        }
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotency {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`IdempotencyLayer`] wraps around an inner one.
#[derive(Clone, Debug)]
pub struct Idempotency<S> {
    inner: S,
    layer: IdempotencyLayer,
}

impl<S> Service<Request> for Idempotency<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move { Ok(handle(layer, inner, request).await) })
    }
}

async fn handle<S>(layer: IdempotencyLayer, mut inner: S, request: Request) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let Some(raw_key) = request.headers().get(IDEMPOTENCY_KEY_HEADER).cloned() else {
        return run(&mut inner, request).await;
    };
    if request.method() != Method::POST {
        return run(&mut inner, request).await;
    }
    let key = match raw_key.to_str().map(IdempotencyKey::new) {
        Ok(Ok(key)) => key,
        Ok(Err(e)) => return invalid_key(e.to_string()),
        Err(_) => return invalid_key("the key is not visible ASCII".to_owned()),
    };
    let (parts, body) = request.into_parts();
    let Some(scope) = (layer.scope)(&parts) else {
        return run(&mut inner, Request::from_parts(parts, body)).await;
    };
    let Ok(bytes) = axum::body::to_bytes(body, layer.body_limit).await else {
        return Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |p| p.as_str());
    let Ok(fingerprint) = Fingerprint::of_json_request(parts.method.as_str(), path, &bytes) else {
        // Not JSON: the handler answers with the problem; nothing is recorded.
        return run(&mut inner, Request::from_parts(parts, Body::from(bytes))).await;
    };
    let begun = layer
        .store
        .begin(&scope, &key, &fingerprint, layer.lease)
        .await;
    match begun {
        Ok(BeginOutcome::Claimed(claim)) => {
            let request = Request::from_parts(parts, Body::from(bytes));
            let response = run(&mut inner, request).await;
            finish(&layer, &claim, response).await
        }
        Ok(outcome @ BeginOutcome::InFlight { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "idempotency-key-in-flight",
            "A request with this Idempotency-Key is still being handled",
            "retry after the first request finished",
        )
        .with("field", "Idempotency-Key")
        .retry_after(outcome.retry_after_secs().unwrap_or(1))
        .into_response(),
        Ok(BeginOutcome::Replay(stored)) => replay(stored),
        Ok(BeginOutcome::Mismatch) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The Idempotency-Key was used for a different request",
            "use a new key for a new request",
        )
        .with("field", "Idempotency-Key")
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "idempotency store failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idempotency-unavailable",
                "Idempotency keys cannot be checked right now",
                "nothing was done; retry with the same key",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

async fn run<S>(inner: &mut S, request: Request) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    match inner.call(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Stores the response for replay (a 5xx abandons the claim instead) and sends it.
async fn finish(layer: &IdempotencyLayer, claim: &Claim, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "reading a response to store it");
            if let Err(e) = layer.store.abandon(claim).await {
                tracing::warn!(error = %e, "abandoning an idempotency claim");
            }
            return Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    let stored = if parts.status.is_server_error() {
        layer.store.abandon(claim).await
    } else {
        let outcome = StoredOutcome {
            status: parts.status.as_u16(),
            body: bytes.to_vec(),
        };
        layer.store.complete(claim, outcome).await
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "ending an idempotency claim");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The stored answer again. Only status and body are stored: the content type follows the
/// status (problem+json for errors).
fn replay(stored: StoredOutcome) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() || status.is_server_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

fn invalid_key(detail: String) -> Response {
    Problem::bad_request("idempotency-key-invalid", detail)
        .with("field", "Idempotency-Key")
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::Router;
    use axum::http::HeaderMap;
    use axum::http::header::AUTHORIZATION;
    use axum::routing::post;
    use booking_core::clock::SystemClock;
    use booking_core::memory::MemoryIdempotencyStore;
    use tower::ServiceExt;

    use super::*;

    /// An app whose handler counts its runs, answers `status`, and waits `delay` first; the
    /// scope is the `Authorization` header's value.
    fn app(runs: Arc<AtomicU32>, status: StatusCode, delay: Duration) -> Router {
        let store = Arc::new(MemoryIdempotencyStore::new(
            Arc::new(SystemClock),
            Duration::from_secs(60),
        ));
        let layer = IdempotencyLayer::new(
            store,
            |parts: &Parts| {
                let user = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
                Some(Scope::user("test", user))
            },
            Duration::from_secs(30),
            1024,
        );
        Router::new()
            .route(
                "/things",
                post(move || async move {
                    tokio::time::sleep(delay).await;
                    let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    (status, format!("{{\"run\":{n}}}"))
                }),
            )
            .layer(layer)
    }

    fn request(user: &str, key: &str, body: &str) -> Request {
        Request::post("/things")
            .header(AUTHORIZATION, user)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    async fn send(app: &Router, request: Request) -> (StatusCode, HeaderMap, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_retry_replays_and_a_changed_body_is_refused() {
        let runs = Arc::new(AtomicU32::new(0));
        let app = app(runs.clone(), StatusCode::CREATED, Duration::ZERO);
        let first = send(&app, request("alice", "k", "{\"a\":1,\"b\":2}")).await;
        assert_eq!(first.0, StatusCode::CREATED);
        // Key order does not matter: the fingerprint is over canonical JSON.
        let retry = send(&app, request("alice", "k", "{\"b\":2, \"a\":1}")).await;
        assert_eq!(
            (retry.0, retry.2.as_str()),
            (StatusCode::CREATED, first.2.as_str())
        );
        assert_eq!(retry.1[REPLAYED_HEADER], "true");
        let changed = send(&app, request("alice", "k", "{\"a\":2}")).await;
        assert_eq!(changed.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(changed.2.contains("/problems/idempotency-key-reused"));
        // Another user's identical key is theirs.
        let bob = send(&app, request("bob", "k", "{\"a\":1,\"b\":2}")).await;
        assert_eq!(bob.2, "{\"run\":2}");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_retry_while_the_first_runs_is_409_with_retry_after() {
        let runs = Arc::new(AtomicU32::new(0));
        let app = app(runs.clone(), StatusCode::OK, Duration::from_millis(300));
        let slow = tokio::spawn({
            let app = app.clone();
            async move { send(&app, request("alice", "k", "{}")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let early = send(&app, request("alice", "k", "{}")).await;
        assert_eq!(early.0, StatusCode::CONFLICT);
        assert!(early.2.contains("/problems/idempotency-key-in-flight"));
        assert!(early.1.contains_key(header::RETRY_AFTER));
        assert_eq!(slow.await.unwrap().0, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_error_is_not_stored_so_a_retry_runs_again() {
        let runs = Arc::new(AtomicU32::new(0));
        let app = app(
            runs.clone(),
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::ZERO,
        );
        send(&app, request("alice", "k", "{}")).await;
        let retry = send(&app, request("alice", "k", "{}")).await;
        assert_eq!(retry.2, "{\"run\":2}");
        assert!(!retry.1.contains_key(REPLAYED_HEADER));
    }
}
