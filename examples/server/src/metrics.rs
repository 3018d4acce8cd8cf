//! Prometheus metrics: request counts and latency histograms per route (a middleware), and the
//! booking figures — holds, sales, expiries, payment outcomes, queue length.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `booking_holds_total` | counter | `kind` (`seats`, `stock`) |
//! | `booking_sales_total` | counter | `gateway` |
//! | `booking_payments_total` | counter | `gateway`, `outcome` |
//! | `booking_expired_orders_total` | counter | |
//! | `booking_queue_waiting` | gauge | `event` |

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process's Prometheus recorder, installed on first use; every app in the process (tests
/// start several) renders the same registry.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Only an empty bucket list is refused.
            let builder = match builder.set_buckets(&BUCKETS) {
                Ok(with_buckets) => with_buckets,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// Counts the request and times it, labelled by its route pattern (`/v1/orders/{id}`, never
/// the raw path, so ids do not create series).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        // The fake Toss is a nested service: its routes are not matched by this router.
        None if request.uri().path().starts_with("/fake-toss/") => "/fake-toss/*".to_owned(),
        None => "unmatched".to_owned(),
    };
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed());
    response
}

/// A hold placed.
pub fn hold_placed(kind: &'static str) {
    metrics::counter!("booking_holds_total", "kind" => kind).increment(1);
}

/// A payment's outcome: `paid`, or the problem's slug.
pub fn payment_outcome(gateway: &str, outcome: &str) {
    metrics::counter!("booking_payments_total", "gateway" => gateway.to_owned(), "outcome" => outcome.to_owned())
        .increment(1);
    if outcome == "paid" {
        metrics::counter!("booking_sales_total", "gateway" => gateway.to_owned()).increment(1);
    }
}

/// Orders the sweeper expired.
pub fn orders_expired(n: u32) {
    metrics::counter!("booking_expired_orders_total").increment(u64::from(n));
}

/// Buyers waiting in `event`'s room.
pub fn queue_waiting(event: &str, waiting: u64) {
    // A gauge is an f64; a waiting-room length is far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("booking_queue_waiting", "event" => event.to_owned()).set(waiting as f64);
}
