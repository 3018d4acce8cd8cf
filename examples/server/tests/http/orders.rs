//! Orders under concurrency and retries, and who may see them.

use reqwest::Method;
use serde_json::json;

use crate::support::Server;

#[tokio::test]
async fn one_hundred_clients_on_one_seat_one_wins_the_rest_get_409_problems() {
    let server = Server::start().await;
    let first = server.login(None).await;
    let (flight, seat) = server.flight_seat(&first).await;
    let mut users = vec![first];
    for _ in 1..100 {
        users.push(server.login(None).await);
    }
    let body = json!({ "sale": flight, "seats": [seat] });
    let mut tasks = Vec::new();
    for user in users {
        let http = server.http.clone();
        let url = format!("{}/v1/orders", server.base);
        let body = body.to_string();
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(&user.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("send");
            crate::support::reply(response).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        if reply.status == 201 {
            created += 1;
        } else {
            reply.assert_problem(409, "seat-unavailable");
            assert_eq!(
                reply.body["seats"],
                json!([seat]),
                "the problem lists the seat"
            );
        }
    }
    assert_eq!(created, 1, "exactly one client holds the seat");
}

#[tokio::test]
async fn a_retried_post_with_the_same_key_returns_the_same_order() {
    retried_post_flow(Server::start().await).await;
}

/// The flow of [`a_retried_post_with_the_same_key_returns_the_same_order`] on `server` (embedded, or on Redis).
pub(crate) async fn retried_post_flow(server: Server) {
    let user = server.login(None).await;
    let (flight, seat) = server.flight_seat(&user).await;
    let body = json!({ "sale": flight, "seats": [seat] });
    let key = [("Idempotency-Key", "order-attempt-1")];
    let first = server
        .call(Method::POST, "/v1/orders", Some(&user), Some(&body), &key)
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let retry = server
        .call(Method::POST, "/v1/orders", Some(&user), Some(&body), &key)
        .await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    assert_eq!(retry.body, first.body, "the same order, byte for byte");
    assert_eq!(retry.headers["idempotent-replayed"], "true");

    // The same key for another request is refused.
    let other = json!({ "sale": flight, "seats": [] });
    let reused = server
        .call(Method::POST, "/v1/orders", Some(&user), Some(&other), &key)
        .await;
    reused.assert_problem(422, "idempotency-key-reused");

    // Keys are per user: another user's identical key is theirs (the seat is taken by now).
    let someone = server.login(None).await;
    let theirs = server
        .call(
            Method::POST,
            "/v1/orders",
            Some(&someone),
            Some(&body),
            &key,
        )
        .await;
    theirs.assert_problem(409, "seat-unavailable");
    assert!(theirs.headers.get("idempotent-replayed").is_none());

    let malformed = server
        .call(
            Method::POST,
            "/v1/orders",
            Some(&user),
            Some(&body),
            &[("Idempotency-Key", "")],
        )
        .await;
    malformed.assert_problem(400, "idempotency-key-invalid");
}

#[tokio::test]
async fn another_users_order_is_a_404_and_stays_as_it_was() {
    let server = Server::start().await;
    let owner = server.login(None).await;
    let (flight, seat) = server.flight_seat(&owner).await;
    let placed = server
        .post(
            &owner,
            "/v1/orders",
            &json!({ "sale": flight, "seats": [seat] }),
        )
        .await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    let order = placed.body["id"].as_str().expect("id");

    let stranger = server.login(None).await;
    let read = server.get(&stranger, &format!("/v1/orders/{order}")).await;
    read.assert_problem(404, "not-found");
    let cancel = server
        .post(
            &stranger,
            &format!("/v1/orders/{order}/cancel"),
            &json!({ "reason": "mine now" }),
        )
        .await;
    cancel.assert_problem(404, "not-found");
    let pay = server
        .post(
            &stranger,
            &format!("/v1/orders/{order}/payments"),
            &json!({ "method": "card" }),
        )
        .await;
    pay.assert_problem(404, "not-found");
    let extend = server
        .post(&stranger, &format!("/v1/orders/{order}/extend"), &json!({}))
        .await;
    extend.assert_problem(404, "not-found");

    let mine = server.get(&owner, &format!("/v1/orders/{order}")).await;
    assert_eq!(mine.body, placed.body, "unchanged");

    // Without a token nothing is answered; admin calls need the admin token.
    let anonymous = server
        .call(Method::GET, &format!("/v1/orders/{order}"), None, None, &[])
        .await;
    anonymous.assert_problem(401, "unauthorized");
    let not_admin = server.post(&owner, "/v1/admin/upkeep", &json!({})).await;
    not_admin.assert_problem(403, "forbidden");

    // The owner cancels: the seat goes back on sale at once.
    let cancelled = server
        .post(
            &owner,
            &format!("/v1/orders/{order}/cancel"),
            &json!({ "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:#}", cancelled.body);
    assert_eq!(cancelled.body["state"], "Cancelled");
}

#[tokio::test]
async fn shutdown_drains_and_stops_cleanly() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let ready = server.call(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["database"], "sqlite");
    assert!(
        server
            .get(&user, "/v1/events")
            .await
            .headers
            .contains_key("x-request-id")
    );
    let metrics = server.call(Method::GET, "/metrics", None, None, &[]).await;
    let text = metrics.body.as_str().expect("text");
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/v1/events\""),
        "{text}"
    );
    server.stop().await.expect("stopped cleanly");
}
