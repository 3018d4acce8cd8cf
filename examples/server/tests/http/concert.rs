//! The concert flow: queue token → dates → seats → hold → points charge → pay.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Server, User};

/// Joins the event's waiting room and polls until admitted.
pub(crate) async fn admitted_token(server: &Server, user: &User, event: &str) -> String {
    let joined = server
        .post(user, "/v1/queue/tokens", &json!({ "event": event }))
        .await;
    assert_eq!(joined.status, 201, "{:#}", joined.body);
    let token = joined.body["token"].as_str().expect("token").to_owned();
    for _ in 0..100 {
        let status = server.get(user, &format!("/v1/queue/tokens/{token}")).await;
        assert_eq!(status.status, 200, "{:#}", status.body);
        if status.body["status"] == "admitted" {
            assert!(status.body["expires_at"].is_string());
            return token;
        }
        assert_eq!(status.body["status"], "waiting");
        assert!(status.body["position"].as_u64().expect("position") >= 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never admitted");
}

#[tokio::test]
async fn concert_flow_with_queue_token_and_points() {
    concert_flow(&Server::start().await).await;
}

/// The whole concert flow on `server`.
pub(crate) async fn concert_flow(server: &Server) {
    let user = server.login(Some("GOLD")).await;
    let concert = server.event(&user, "concert").await;
    assert_eq!(concert["waiting_room"], true);
    let event = concert["id"].as_str().expect("id");

    let dates = server.performances(&user, event).await;
    assert_eq!(dates.len(), 2, "two dates");
    for date in &dates {
        assert_eq!(date["seats_total"], 50);
        assert_eq!(date["seats_available"], 50);
    }
    let performance = dates[0]["id"].as_str().expect("id");
    let seats = server.seats(&user, performance).await;
    assert_eq!(seats.len(), 50);
    let seat = seats.iter().find(|s| s["class"] == "R").expect("an R seat");
    assert_eq!(seat["price"], 120_000);
    let order_body = json!({ "sale": performance, "seats": [seat["ticket"]] });

    // Without an admitted queue token the hold is refused, and nothing is held.
    let refused = server.post(&user, "/v1/orders", &order_body).await;
    refused.assert_problem(403, "not-admitted");

    let token = admitted_token(server, &user, event).await;
    // An admission is the user's own: someone else presenting it is refused.
    let stranger = server.login(None).await;
    let borrowed = server
        .call(
            Method::POST,
            "/v1/orders",
            Some(&stranger),
            Some(&order_body),
            &[("Queue-Token", &token)],
        )
        .await;
    borrowed.assert_problem(403, "not-admitted");
    let placed = server
        .call(
            Method::POST,
            "/v1/orders",
            Some(&user),
            Some(&order_body),
            &[("Queue-Token", &token)],
        )
        .await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    let order = &placed.body;
    assert_eq!(order["state"], "Pending");
    // GOLD members save 10%; the quote says which rules applied and why the others did not.
    assert_eq!(order["total"], 108_000);
    assert_eq!(order["quote"]["applied"][0]["rule"], "member-grade");
    let not_applied: Vec<&str> = order["quote"]["not_applied"]
        .as_array()
        .expect("not_applied")
        .iter()
        .map(|n| n["rule"].as_str().expect("rule"))
        .collect();
    assert!(not_applied.contains(&"flight-window"), "{not_applied:?}");
    assert!(not_applied.contains(&"coupon-open10k"), "{not_applied:?}");
    let order_id = order["id"].as_str().expect("id");

    // The held seat is no longer available, on the seat map and in the counts.
    let seats = server.seats(&user, performance).await;
    let held = seats
        .iter()
        .find(|s| s["ticket"] == seat["ticket"])
        .expect("seat");
    assert_eq!(held["available"], false);
    assert_eq!(
        server.performances(&user, event).await[0]["seats_available"],
        49
    );

    // Not enough points: declined, nothing paid.
    let short = server
        .post(
            &user,
            &format!("/v1/orders/{order_id}/payments"),
            &json!({ "method": "points" }),
        )
        .await;
    short.assert_problem(402, "payment-rejected");

    let charged = server
        .post(&user, "/v1/wallet/charge", &json!({ "amount": 150_000 }))
        .await;
    assert_eq!(charged.status, 200, "{:#}", charged.body);
    assert_eq!(charged.body["balance"], 150_000);

    let paid = server
        .post(
            &user,
            &format!("/v1/orders/{order_id}/payments"),
            &json!({ "method": "points" }),
        )
        .await;
    assert_eq!(paid.status, 200, "{:#}", paid.body);
    assert_eq!(paid.body["state"], "Confirmed");
    assert_eq!(server.balance(&user).await, 150_000 - 108_000);
    let read = server.get(&user, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(read.body["state"], "Confirmed");
}
