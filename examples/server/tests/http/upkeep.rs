//! Holds that lapse, extensions, the admin calls and the webhook endpoint.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Reply, Server};

#[tokio::test]
async fn a_lapsed_hold_frees_its_seat_at_once_and_cannot_be_paid_or_extended() {
    let server = Server::start_with(|c| c.hold_ttl = Duration::from_secs(1)).await;
    let first = server.login(None).await;
    let (sale, seat) = server.flight_seat(&first).await;
    let body = json!({ "sale": sale, "seats": [seat] });
    let placed = server.post(&first, "/v1/orders", &body).await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    let order = placed.body["id"].as_str().expect("id").to_owned();

    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // The lapsed hold is free without waiting for any sweep: someone else takes the seat.
    let second = server.login(None).await;
    let taken = server.post(&second, "/v1/orders", &body).await;
    assert_eq!(taken.status, 201, "{:#}", taken.body);

    let extend = server
        .post(&first, &format!("/v1/orders/{order}/extend"), &json!({}))
        .await;
    extend.assert_problem(410, "hold-expired");
    let pay = server
        .post(
            &first,
            &format!("/v1/orders/{order}/payments"),
            &json!({ "method": "card" }),
        )
        .await;
    assert!(pay.status.is_client_error(), "{:#}", pay.body);
    assert_eq!(pay.headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn an_extension_moves_the_deadline_forward() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let placed = server.hold_flight_seat(&user).await;
    let order = placed["id"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let extended = server
        .post(&user, &format!("/v1/orders/{order}/extend"), &json!({}))
        .await;
    assert_eq!(extended.status, 200, "{:#}", extended.body);
    let before: jiff::Timestamp = placed["expires_at"]
        .as_str()
        .expect("t")
        .parse()
        .expect("ts");
    let after: jiff::Timestamp = extended.body["expires_at"]
        .as_str()
        .expect("t")
        .parse()
        .expect("ts");
    assert!(after > before, "{before} -> {after}");
}

const ADMIN_TOKEN: &str = "admin-secret-for-tests";

/// `POST path` with the admin token.
async fn admin_post(server: &Server, path: &str, body: &serde_json::Value) -> Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    server
        .call(
            Method::POST,
            path,
            None,
            Some(body),
            &[("Authorization", &auth)],
        )
        .await
}

#[tokio::test]
async fn admin_calls_need_the_admin_token_and_run_upkeep_and_admissions() {
    // No timed admissions or upkeep during the test: only the admin calls do them.
    let server = Server::start_with(|c| {
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.admit_every = Duration::from_secs(3600);
        c.upkeep_every = Duration::from_secs(3600);
        c.relay_every = Duration::from_secs(3600);
        c.relay_on_write = false;
    })
    .await;
    let user = server.login(None).await;

    server.hold_flight_seat(&user).await;
    let upkeep = admin_post(&server, "/v1/admin/upkeep", &json!({})).await;
    assert_eq!(upkeep.status, 200, "{:#}", upkeep.body);
    assert!(
        upkeep.body["outbox_relayed"].as_u64().expect("relayed") >= 1,
        "the hold's events"
    );
    assert_eq!(upkeep.body["orders_expired"], 0);
    let again = admin_post(&server, "/v1/admin/upkeep", &json!({})).await;
    assert_eq!(
        again.body["outbox_relayed"], 0,
        "relayed entries are acknowledged"
    );

    let event = server.event(&user, "concert").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let joined = server
        .post(&user, "/v1/queue/tokens", &json!({ "event": event }))
        .await;
    assert_eq!(joined.body["status"], "waiting");
    assert_eq!(joined.body["position"], 1);
    let token = joined.body["token"].as_str().expect("token").to_owned();
    let admit = format!("/v1/admin/queue/{event}/admit");
    let admitted = admin_post(&server, &admit, &json!({ "count": 1 })).await;
    assert_eq!(admitted.status, 200, "{:#}", admitted.body);
    assert_eq!(admitted.body["admitted"], 1);
    let status = server
        .get(&user, &format!("/v1/queue/tokens/{token}"))
        .await;
    assert_eq!(status.body["status"], "admitted", "{:#}", status.body);

    let wrong = server
        .call(
            Method::POST,
            "/v1/admin/upkeep",
            None,
            Some(&json!({})),
            &[("Authorization", "Bearer nope")],
        )
        .await;
    wrong.assert_problem(403, "forbidden");
    let user_token = server.post(&user, &admit, &json!({ "count": 1 })).await;
    user_token.assert_problem(403, "forbidden");
    let bad_count = admin_post(&server, &admit, &json!({ "count": 0 })).await;
    bad_count.assert_problem(422, "invalid-field");
}

#[tokio::test]
async fn a_malformed_webhook_is_refused_with_a_problem() {
    let server = Server::start().await;
    let reply = server
        .call(
            Method::POST,
            "/v1/webhooks/toss",
            None,
            Some(&json!({ "eventType": 1 })),
            &[],
        )
        .await;
    reply.assert_problem(400, "webhook-refused");
}
