//! Bad input: each case a 4xx problem naming the field, never a 500, and nothing changed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, Server, User};

/// Posts `raw` text as JSON.
async fn post_raw(server: &Server, user: &User, path: &str, raw: &str) -> Reply {
    let response = server
        .http
        .post(format!("{}{path}", server.base))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .expect("send");
    crate::support::reply(response).await
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_naming_the_field_and_changes_nothing() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let (sale, seat) = server.flight_seat(&user).await;
    let seats = server.seats(&user, &sale).await;
    let other_seat = seats[1]["ticket"].clone();
    // The flash sale's stock, and a seat of another sale (the concert).
    let drop_event = server.event(&user, "flash-sale").await;
    let drop = &server
        .performances(&user, drop_event["id"].as_str().expect("id"))
        .await[0];
    let (drop_sale, stock) = (drop["id"].clone(), drop["stock"][0]["stock"].clone());
    let concert = server.event(&user, "concert").await;
    let date = &server
        .performances(&user, concert["id"].as_str().expect("id"))
        .await[0];
    let concert_seat =
        server.seats(&user, date["id"].as_str().expect("id")).await[0]["ticket"].clone();

    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            "malformed JSON",
            format!("{{\"sale\": \"{sale}\", \"seats\": ["),
            400,
            "malformed-json",
            "body",
        ),
        (
            "trailing garbage",
            format!("{{\"sale\": \"{sale}\"}} x"),
            400,
            "malformed-json",
            "body",
        ),
        (
            "unknown field",
            json!({ "sale": sale, "seats": [seat], "colour": "red" }).to_string(),
            422,
            "invalid-field",
            "colour",
        ),
        (
            "wrong type",
            json!({ "sale": sale, "seats": [42] }).to_string(),
            422,
            "invalid-field",
            "seats[0]",
        ),
        (
            "not an id",
            json!({ "sale": "flight-1", "seats": [seat] }).to_string(),
            422,
            "invalid-field",
            "sale",
        ),
        (
            "missing field",
            json!({ "seats": [seat] }).to_string(),
            422,
            "invalid-field",
            "sale",
        ),
        (
            "negative quantity",
            json!({ "sale": drop_sale, "stock": [{ "stock": stock, "quantity": -1 }] }).to_string(),
            422,
            "invalid-field",
            "stock[0].quantity",
        ),
        (
            "zero quantity",
            json!({ "sale": drop_sale, "stock": [{ "stock": stock, "quantity": 0 }] }).to_string(),
            422,
            "invalid-field",
            "stock[0].quantity",
        ),
        (
            "quantity over u32",
            json!({ "sale": drop_sale, "stock": [{ "stock": stock, "quantity": 5_000_000_000u64 }] })
                .to_string(),
            422,
            "invalid-field",
            "stock[0].quantity",
        ),
        (
            "eleven units",
            json!({ "sale": drop_sale, "stock": [{ "stock": stock, "quantity": 11 }] }).to_string(),
            422,
            "invalid-field",
            "stock[0].quantity",
        ),
        (
            "stock of another sale",
            json!({ "sale": sale, "stock": [{ "stock": stock, "quantity": 1 }] }).to_string(),
            422,
            "invalid-field",
            "stock[0].stock",
        ),
        (
            "seat of another sale",
            json!({ "sale": sale, "seats": [seat, concert_seat] }).to_string(),
            422,
            "invalid-field",
            "seats[1]",
        ),
        (
            "seat listed twice",
            json!({ "sale": sale, "seats": [other_seat, seat, other_seat] }).to_string(),
            422,
            "invalid-field",
            "seats[2]",
        ),
        (
            "nothing to hold",
            json!({ "sale": sale, "seats": [] }).to_string(),
            422,
            "invalid-field",
            "seats",
        ),
        (
            "unknown sale",
            json!({ "sale": "00000000-0000-7000-8000-000000000000", "seats": [seat] }).to_string(),
            422,
            "invalid-field",
            "sale",
        ),
    ];
    for (case, raw, status, slug, field) in cases {
        let reply = post_raw(&server, &user, "/v1/orders", &raw).await;
        reply.assert_problem(status, slug);
        assert_eq!(reply.body["field"], field, "{case}: {:#}", reply.body);
    }

    let charges: Vec<(Value, &str)> = vec![
        (json!({ "amount": -5 }), "amount"),
        (json!({ "amount": 0 }), "amount"),
        (json!({ "amount": 1e30 }), "amount"),
        (json!({ "amount": "1000" }), "amount"),
        (json!({ "amount": 10_000_001 }), "amount"),
        (json!({ "amount": 100, "currency": "USD" }), "currency"),
    ];
    for (body, field) in charges {
        let reply = server.post(&user, "/v1/wallet/charge", &body).await;
        reply.assert_problem(422, "invalid-field");
        assert_eq!(reply.body["field"], field, "{body}: {:#}", reply.body);
    }
    let method = server
        .post(
            &user,
            "/v1/orders/00000000-0000-7000-8000-000000000000/payments",
            &json!({ "method": "cash" }),
        )
        .await;
    method.assert_problem(422, "invalid-field");
    assert_eq!(method.body["field"], "method");

    // A body over the limit (64 KiB by default) is refused before it is read whole.
    let big = format!(
        "{{\"sale\": \"{sale}\", \"coupon\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let reply = post_raw(&server, &user, "/v1/orders", &big).await;
    reply.assert_problem(413, "body-too-large");
    assert_eq!(reply.body["field"], "body");
    // The same through the idempotency layer, which reads the body to fingerprint it.
    let response = server
        .http
        .post(format!("{}/v1/orders", server.base))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .header("Idempotency-Key", "big-1")
        .body(big)
        .send()
        .await
        .expect("send");
    crate::support::reply(response)
        .await
        .assert_problem(413, "body-too-large");

    let untyped = server
        .http
        .post(format!("{}/v1/wallet/charge", server.base))
        .bearer_auth(&user.token)
        .body("{\"amount\": 5}")
        .send()
        .await
        .expect("send");
    crate::support::reply(untyped)
        .await
        .assert_problem(415, "unsupported-media-type");

    let bad_path = server.get(&user, "/v1/orders/not-an-id").await;
    bad_path.assert_problem(404, "not-found");
    let bad_query = server.get(&user, "/v1/flights?from=ICN").await;
    bad_query.assert_problem(400, "invalid-query");
    let bad_redirect = server
        .call(
            Method::GET,
            "/v1/payments/toss/success?orderId=abc&paymentKey=k&amount=12a&paymentType=NORMAL",
            None,
            None,
            &[],
        )
        .await;
    bad_redirect.assert_problem(400, "invalid-redirect");

    // Nothing changed: every seat is free, the stock whole, the wallet empty.
    let seats = server.seats(&user, &sale).await;
    assert!(seats.iter().all(|s| s["available"] == true));
    let drop = &server
        .performances(&user, drop_event["id"].as_str().expect("id"))
        .await[0];
    assert_eq!(drop["stock"][0]["available"], 100);
    assert_eq!(server.balance(&user).await, 0);
    let placed = server
        .post(
            &user,
            "/v1/orders",
            &json!({ "sale": sale, "seats": [seat] }),
        )
        .await;
    assert_eq!(
        placed.status, 201,
        "the seat is still free: {:#}",
        placed.body
    );
}
