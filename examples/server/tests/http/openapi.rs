//! The OpenAPI document: version 3.1, every route, every reference resolved.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::Server;

/// Every API route the server serves, as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/auth/demo"),
    ("post", "/v1/queue/tokens"),
    ("get", "/v1/queue/tokens/{token}"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}/performances"),
    ("get", "/v1/performances/{id}/seats"),
    ("get", "/v1/performances/{id}/seats/stream"),
    ("get", "/v1/flights"),
    ("get", "/v1/coupons"),
    ("post", "/v1/coupons/{id}/claim"),
    ("post", "/v1/orders"),
    ("get", "/v1/orders/{id}"),
    ("post", "/v1/orders/{id}/extend"),
    ("post", "/v1/orders/{id}/cancel"),
    ("post", "/v1/orders/{id}/refunds"),
    ("post", "/v1/orders/{id}/payments"),
    ("get", "/v1/payments/toss/success"),
    ("get", "/v1/payments/toss/fail"),
    ("post", "/v1/webhooks/toss"),
    ("get", "/v1/wallet"),
    ("post", "/v1/wallet/charge"),
    ("post", "/v1/admin/upkeep"),
    ("post", "/v1/admin/queue/{event}/admit"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_json_is_3_1_and_lists_every_route() {
    let server = Server::start().await;
    let doc = server
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(doc.status, 200);
    let doc = doc.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());

    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
            listed.insert((method.clone(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        listed, expected,
        "the document lists exactly the served routes"
    );

    // Every documented route is served: none answers 404 or 405 for its method.
    let user = server.login(None).await;
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "00000000-0000-7000-8000-000000000000")
            .replace("{token}", "00000000-0000-7000-8000-000000000000")
            .replace("{event}", "00000000-0000-7000-8000-000000000000");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let reply = server
            .call(method.clone(), &concrete, Some(&user), None, &[])
            .await;
        assert_ne!(reply.status, 405, "{method} {path}");
        // A 404 of a served route names what was not found; an unrouted path names nothing.
        if reply.status == 404 {
            assert!(
                reply.body["what"].is_string(),
                "{method} {path} is routed: {:#}",
                reply.body
            );
        }
    }

    // Every reference resolves to a schema of the document.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{reference} resolves"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // The interactive docs are served from the binary.
    let docs = server
        .http
        .get(format!("{}/docs/", server.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.expect("html").contains("swagger"));
}
