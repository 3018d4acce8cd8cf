//! The server's request bodies and query strings: `example_server::app` driven with tower's
//! `oneshot`, on the embedded default (SQLite under a temporary directory, the in-process
//! fake Toss, everything else in memory). Whatever the request, the answer is never a 5xx, and
//! every error is `application/problem+json`.
//!
//! Input: a route selector byte, the path parameter and query (`id?query`), a 0 byte, the body.
//! In both, `$SALE`, `$SALE2`, `$SALE3`, `$SEAT`, `$STOCK`, `$EVENT` and `$ORDER` stand for
//! real ids of the demo catalog and of the last order placed, so the fuzzer reaches past the
//! "not found" answers.
#![no_main]

use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, header};
use example_server::{AppState, Config};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const ROUTES: [(&str, &str); 20] = [
    ("POST", "/v1/orders"),
    ("GET", "/v1/orders/{}"),
    ("POST", "/v1/orders/{}/extend"),
    ("POST", "/v1/orders/{}/cancel"),
    ("POST", "/v1/orders/{}/refunds"),
    ("POST", "/v1/orders/{}/payments"),
    ("GET", "/v1/payments/toss/success"),
    ("GET", "/v1/payments/toss/fail"),
    ("POST", "/v1/webhooks/toss"),
    ("GET", "/v1/wallet"),
    ("POST", "/v1/wallet/charge"),
    ("GET", "/v1/flights"),
    ("GET", "/v1/performances/{}/seats"),
    ("GET", "/v1/events/{}/performances"),
    ("POST", "/v1/queue/tokens"),
    ("GET", "/v1/queue/tokens/{}"),
    ("POST", "/v1/coupons/{}/claim"),
    ("POST", "/v1/auth/demo"),
    ("GET", "/v1/coupons"),
    ("POST", "/v1/admin/upkeep"),
];

struct Harness {
    runtime: Runtime,
    app: Router,
    token: String,
    admin: String,
    ids: Vec<(&'static str, String)>,
    last_order: Mutex<String>,
}

async fn call(app: &Router, request: Request<Body>) -> (u16, Option<String>, Value) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| match e {});
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (
        status,
        kind,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

async fn build() -> (Router, String, String, Vec<(&'static str, String)>) {
    booking_toss::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("booking-fuzz-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = Config::with_data_dir(&dir);
    config.bind = listener.local_addr().unwrap();
    let state = AppState::build(config).await.unwrap();
    let admin = state.admin_token.to_string();
    let app = example_server::app(state.clone());
    // The fake Toss is reached over loopback, as in the binary.
    tokio::spawn(example_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let login = Request::post("/v1/auth/demo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let token = text(&call(&app, login).await.2["token"]);
    let events = call(&app, get("/v1/events", &token)).await.2;
    let mut ids = Vec::new();
    let mut sales = Vec::new();
    for event in events.as_array().into_iter().flatten() {
        let id = text(&event["id"]);
        let performances = call(&app, get(&format!("/v1/events/{id}/performances"), &token)).await;
        for p in performances.2.as_array().into_iter().flatten() {
            sales.push(text(&p["id"]));
            if let Some(stock) = p["stock"][0]["stock"].as_str() {
                ids.push(("$STOCK", stock.to_owned()));
            }
        }
        ids.push(("$EVENT", id));
    }
    let flights = call(&app, get("/v1/flights?from=ICN&to=CJU", &token))
        .await
        .2;
    let flight = text(&flights[0]["id"]);
    let seats = call(
        &app,
        get(&format!("/v1/performances/{flight}/seats"), &token),
    )
    .await
    .2;
    ids.push(("$SEAT", text(&seats[0]["ticket"])));
    ids.push(("$SALE3", sales.get(1).cloned().unwrap_or_default()));
    ids.push(("$SALE2", sales.first().cloned().unwrap_or_default()));
    ids.push(("$SALE", flight));
    (app, token, admin, ids)
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (app, token, admin, ids) = runtime.block_on(build());
        // The runtime is kept: it runs the listener the fake Toss is reached on.
        Harness {
            runtime,
            app,
            token,
            admin,
            ids,
            last_order: Mutex::new(String::new()),
        }
    })
}

impl Harness {
    fn fill(&self, text: &str) -> String {
        let mut text = text.replace(
            "$ORDER",
            &self
                .last_order
                .lock()
                .map(|o| o.clone())
                .unwrap_or_default(),
        );
        for (name, id) in &self.ids {
            text = text.replace(name, id);
        }
        text
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    let (method, template) = ROUTES[usize::from(selector) % ROUTES.len()];
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let target = h.fill(&String::from_utf8_lossy(&rest[..split]));
    let body = h.fill(&String::from_utf8_lossy(
        rest.get(split + 1..).unwrap_or_default(),
    ));
    let (param, query) = target.split_once('?').unwrap_or((&target, ""));
    let fallback = h.fill(if template.contains("coupons") {
        "OPEN10K"
    } else {
        "$ORDER"
    });
    let param = if param.is_empty() {
        fallback.as_str()
    } else {
        param
    };
    let mut path = template.replace("{}", param);
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let token = if template.contains("admin") {
        &h.admin
    } else {
        &h.token
    };
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
        .uri(&path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if selector >= 128 {
        request = request.header("idempotency-key", format!("fuzz-{}", selector % 8));
    }
    let Ok(request) = request.body(Body::from(body.clone())) else {
        return; // Not a URI a client could send.
    };
    let (status, kind, answer) = h.runtime.block_on(call(&h.app, request));
    assert!(
        status < 500,
        "{method} {path} {body:?} answered {status}: {answer:#}"
    );
    if status >= 400 {
        assert_eq!(
            kind.as_deref(),
            Some("application/problem+json"),
            "{method} {path}: {answer:#}"
        );
    }
    if status == 201 && template == "/v1/orders" {
        if let (Some(id), Ok(mut last)) = (answer["id"].as_str(), h.last_order.lock()) {
            *last = id.to_owned();
        }
    }
});
