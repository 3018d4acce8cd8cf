//! The flight flow: search → hold → Toss window → success URL → confirm → partial refund.

use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::support::{Server, reply};

#[tokio::test]
async fn flight_flow_through_the_fake_toss_refuses_a_tampered_url_and_refunds_part() {
    flight_flow(&Server::start().await).await;
}

/// The whole flight flow on `server`.
pub(crate) async fn flight_flow(server: &Server) {
    let user = server.login(None).await;
    let flight = server.flight(&user).await;
    assert_eq!(flight["number"], "KE1234");
    let fares = flight["fares"].as_array().expect("fares");
    assert_eq!(fares.len(), 2, "two fare classes");
    let economy = fares.iter().find(|f| f["class"] == "Y").expect("Y");
    assert_eq!(economy["seats_available"], economy["seats_total"]);
    let flight_id = flight["id"].as_str().expect("id");

    let seats = server.seats(&user, flight_id).await;
    let pair: Vec<_> = seats
        .iter()
        .filter(|s| s["class"] == "Y")
        .take(2)
        .map(|s| s["ticket"].clone())
        .collect();
    let placed = server
        .post(
            &user,
            "/v1/orders",
            &json!({ "sale": flight_id, "seats": pair }),
        )
        .await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    // Two economy seats, less the time-window discount on flights.
    assert_eq!(placed.body["total"], 2 * 89_000 - 5_000);
    assert_eq!(placed.body["quote"]["applied"][0]["rule"], "flight-window");
    let order_id = placed.body["id"].as_str().expect("id").to_owned();

    let checkout = server
        .post(
            &user,
            &format!("/v1/orders/{order_id}/payments"),
            &json!({ "method": "card" }),
        )
        .await;
    assert_eq!(checkout.status, 200, "{:#}", checkout.body);
    assert_eq!(checkout.body["amount"], 173_000);
    assert!(checkout.body["orderId"].is_string());
    assert!(
        checkout.body["successUrl"]
            .as_str()
            .expect("successUrl")
            .ends_with("/v1/payments/toss/success")
    );
    assert!(checkout.body["failUrl"].is_string());
    let checkout_url = checkout.body["checkoutUrl"].as_str().expect("checkoutUrl");

    // The browser's trip through the window ends in a redirect to the success URL.
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let window = browser.get(checkout_url).send().await.expect("widget");
    assert!(window.status().is_redirection(), "{}", window.status());
    let success = window.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(success.contains("amount=173000"), "{success}");

    // A tampered amount is refused before anything reaches Toss: nothing is charged.
    let tampered = success.replace("amount=173000", "amount=1000");
    let refused = reply(browser.get(&tampered).send().await.expect("tampered")).await;
    refused.assert_problem(422, "amount-mismatch");
    assert_eq!(refused.body["expected"], 173_000);
    assert_eq!(refused.body["given"], 1_000);
    let stats = server
        .call(Method::GET, "/fake-toss/__fake/stats", None, None, &[])
        .await;
    assert_eq!(stats.body["charges"], 0, "{:#}", stats.body);
    let unpaid = server.get(&user, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(unpaid.body["state"], "AwaitingPayment");

    let confirmed = reply(browser.get(&success).send().await.expect("success")).await;
    assert_eq!(confirmed.status, 200, "{:#}", confirmed.body);
    assert_eq!(confirmed.body["state"], "Confirmed");
    let stats = server
        .call(Method::GET, "/fake-toss/__fake/stats", None, None, &[])
        .await;
    assert_eq!(stats.body["charges"], 1);

    // A partial refund: one seat of two, exactly what it cost under the quote.
    let line = confirmed.body["lines"][0]["line"]
        .as_str()
        .expect("line")
        .to_owned();
    let refunded_seat = confirmed.body["lines"][0]["ticket"].clone();
    let refund = server
        .post(
            &user,
            &format!("/v1/orders/{order_id}/refunds"),
            &json!({ "lines": [{ "line": line }], "reason": "one traveller cannot come" }),
        )
        .await;
    assert_eq!(refund.status, 201, "{:#}", refund.body);
    assert_eq!(refund.body["amount"], 173_000 / 2);
    assert_eq!(refund.body["order"]["state"], "PartiallyRefunded");
    assert_eq!(refund.body["order"]["refunded"], 173_000 / 2);
    let stats = server
        .call(Method::GET, "/fake-toss/__fake/stats", None, None, &[])
        .await;
    assert_eq!(stats.body["refunds"], 1);
    // The refunded seat is back on sale.
    let seats = server.seats(&user, flight_id).await;
    let seat = seats
        .iter()
        .find(|s| s["ticket"] == refunded_seat)
        .expect("seat");
    assert_eq!(seat["available"], true);

    // The fail redirect says what Toss said; nothing changes.
    let failed = server
        .call(
            Method::GET,
            "/v1/payments/toss/fail?code=PAY_PROCESS_CANCELED&message=cancelled&orderId=x",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["code"], "PAY_PROCESS_CANCELED");
}

#[tokio::test]
async fn toss_webhooks_are_verified_and_applied_once() {
    let server = Server::start().await;
    flight_flow(&server).await;
    let fake = server.fake.as_ref().expect("the embedded fake Toss");
    let sent = fake.webhooks();
    // The payment (DONE) and the partial refund (PARTIAL_CANCELED).
    assert_eq!(sent.len(), 2, "the fake recorded the payment's webhooks");
    for webhook in &sent {
        let deliver = || {
            server
                .http
                .post(format!("{}/v1/webhooks/toss", server.base))
                .header("content-type", "application/json")
                .header(
                    "tosspayments-webhook-transmission-id",
                    &webhook.transmission_id,
                )
                .body(webhook.body.clone())
                .send()
        };
        let first = reply(deliver().await.expect("deliver")).await;
        assert_eq!(
            first.status, 200,
            "{}: {:#}",
            webhook.event_type, first.body
        );
        let outcome = first.body["outcome"].as_str().expect("outcome");
        assert!(!outcome.contains("NeedsAttention"), "{outcome}");
        let again = reply(deliver().await.expect("redeliver")).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body["outcome"], "Duplicate");
    }
    // Nothing in a webhook's body is trusted: one naming a payment Toss does not have is
    // refused as not authentic.
    let forged = server
        .http
        .post(format!("{}/v1/webhooks/toss", server.base))
        .header("content-type", "application/json")
        .header("tosspayments-webhook-transmission-id", "forged-1")
        .body(
            json!({
                "eventType": "PAYMENT_STATUS_CHANGED",
                "createdAt": "2026-01-01T00:00:00.000000",
                "data": { "paymentKey": "forged_key", "orderId": "forged-order", "status": "DONE" }
            })
            .to_string(),
        )
        .send()
        .await
        .expect("forged");
    reply(forged).await.assert_problem(403, "webhook-refused");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_card_confirm_finish() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let order = server.hold_flight_seat(&user).await;
    let id = order["id"].as_str().expect("id");
    let checkout = server
        .post(
            &user,
            &format!("/v1/orders/{id}/payments"),
            &json!({ "method": "card" }),
        )
        .await;
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let window = browser
        .get(checkout.body["checkoutUrl"].as_str().expect("checkoutUrl"))
        .send()
        .await
        .expect("widget");
    let success = window.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    // Toss takes a while to answer this confirm.
    let fault = json!({ "op": "confirm", "fault": { "kind": "latency", "delay": "600ms" } });
    let scripted = server
        .call(
            Method::POST,
            "/fake-toss/__fake/faults",
            None,
            Some(&fault),
            &[],
        )
        .await;
    assert_eq!(scripted.status, 204);

    let confirming =
        tokio::spawn(
            async move { reply(browser.get(&success).send().await.expect("success")).await },
        );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    server
        .stop()
        .await
        .expect("the server drains and stops cleanly");
    let confirmed = confirming.await.expect("task");
    assert_eq!(confirmed.status, 200, "{:#}", confirmed.body);
    assert_eq!(confirmed.body["state"], "Confirmed");
}
