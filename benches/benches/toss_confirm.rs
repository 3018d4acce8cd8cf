//! `TossClient::confirm` round trips against the in-process fake Toss server, next to a raw
//! reqwest POST of the same body with the same headers to the same fake, reading the answer
//! as JSON. Both confirm a fresh authenticated payment each time, from 8 tasks at once; the
//! sessions are created before timing. The figure is the client's overhead on top of HTTP:
//! building the body, the idempotency key, reading the answer into the typed `Payment`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use booking_benches::{Summary, criterion, median_ns, time_ratio, timed};
use booking_toss::fake::{FakeToss, FakeTossConfig, FakeTossServer, SessionSpec};
use booking_toss::{Amount, ConfirmParams, IdempotencyKey, SecretKey, Status, TossClient};
use tokio::runtime::Runtime;

/// Tasks the confirms are split over.
const TASKS: u64 = 8;
const SECRET: &str = "test_sk_bench_toss_confirm";
const AMOUNT: i64 = 129_000;

/// The fake, the client, and a raw HTTP client with the same credentials.
struct Bench {
    server: FakeTossServer,
    client: TossClient,
    raw: reqwest::Client,
    confirm_url: String,
    authorization: String,
    next_order: AtomicU64,
}

impl Bench {
    fn open(rt: &Runtime) -> Bench {
        let key = SecretKey::new(SECRET).unwrap();
        let server = rt
            .block_on(FakeTossServer::start(FakeToss::new(FakeTossConfig::new(
                key.clone(),
            ))))
            .unwrap();
        let client = TossClient::builder(key)
            .base_url(server.url())
            .build()
            .unwrap();
        let authorization = {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:"));
            format!("Basic {encoded}")
        };
        Bench {
            confirm_url: format!("{}/v1/payments/confirm", server.url()),
            raw: reqwest::Client::new(),
            server,
            client,
            authorization,
            next_order: AtomicU64::new(0),
        }
    }

    /// `n` payments authenticated in the window (not timed): (payment key, order id). `timed`
    /// runs a whole number of confirms per task, so callers round up to that.
    fn sessions(&self, n: u64) -> Arc<Mutex<Vec<(String, String)>>> {
        let sessions = (0..n)
            .map(|_| {
                let order = format!(
                    "bench-{:012}",
                    self.next_order.fetch_add(1, Ordering::Relaxed)
                );
                let spec = SessionSpec::card(order.clone(), Amount::new(AMOUNT).unwrap());
                (self.server.fake().authenticate(&spec).payment_key, order)
            })
            .collect();
        Arc::new(Mutex::new(sessions))
    }
}

fn take(sessions: &Mutex<Vec<(String, String)>>) -> (String, String) {
    sessions
        .lock()
        .unwrap()
        .pop()
        .expect("a session per confirm")
}

/// The client: typed parameters, the key, the typed answer.
async fn client_confirm(bench: &Bench, sessions: &Mutex<Vec<(String, String)>>) {
    let (payment_key, order_id) = take(sessions);
    let key = IdempotencyKey::new(format!("confirm:{order_id}")).unwrap();
    let params = ConfirmParams {
        payment_key,
        order_id,
        amount: Amount::new(AMOUNT).unwrap(),
    };
    let payment = bench.client.confirm(&params, &key).await.unwrap();
    assert_eq!(payment.status, Status::Done);
}

/// By hand: the same JSON body and headers with reqwest, the answer read as JSON.
async fn raw_confirm(bench: &Bench, sessions: &Mutex<Vec<(String, String)>>) {
    let (payment_key, order_id) = take(sessions);
    let body = serde_json::to_vec(&serde_json::json!({
        "paymentKey": payment_key,
        "orderId": order_id,
        "amount": AMOUNT,
    }))
    .unwrap();
    let response = bench
        .raw
        .post(&bench.confirm_url)
        .header("authorization", &bench.authorization)
        .header("content-type", "application/json")
        .header("idempotency-key", format!("confirm:{order_id}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let answer: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["status"], "DONE");
}

fn main() {
    let mut c = criterion();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bench = Arc::new(Bench::open(&rt));

    let mut g = c.benchmark_group("toss_confirm");
    g.bench_function("client", |b| {
        b.iter_custom(|iters| {
            let sessions = bench.sessions(iters.div_ceil(TASKS) * TASKS);
            let bench = Arc::clone(&bench);
            timed(&rt, iters, TASKS, move || {
                let (bench, sessions) = (Arc::clone(&bench), Arc::clone(&sessions));
                async move { client_confirm(&bench, &sessions).await }
            })
        })
    });
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let sessions = bench.sessions(iters.div_ceil(TASKS) * TASKS);
            let bench = Arc::clone(&bench);
            timed(&rt, iters, TASKS, move || {
                let (bench, sessions) = (Arc::clone(&bench), Arc::clone(&sessions));
                async move { raw_confirm(&bench, &sessions).await }
            })
        })
    });
    g.finish();

    let mut s =
        Summary::new("Toss confirm round trips against the in-process fake (HTTP/1.1, loopback)");
    s.criterion_row(
        "confirm: wall time per round trip",
        "toss_confirm",
        "client",
        "raw",
        "8 tasks, 2 workers; raw: reqwest POST of the same body and headers, answer read as JSON",
    );
    if let (Some(client), Some(raw)) = (
        median_ns("toss_confirm", "client"),
        median_ns("toss_confirm", "raw"),
    ) {
        s.row(
            "confirm: round trips per second",
            format!("{:.0} /s", 1e9 / client),
            format!("{:.0} /s", 1e9 / raw),
            time_ratio(client, raw),
            "from the medians above (target ≥ 0.90x)",
        );
    }
    s.print();
}
