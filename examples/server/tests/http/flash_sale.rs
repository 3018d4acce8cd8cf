//! The flash sale: counted stock and a first-come coupon.

use serde_json::json;

use crate::support::Server;

#[tokio::test]
async fn flash_sale_with_a_first_come_coupon() {
    flash_sale_flow(Server::start().await).await;
}

/// The flow of [`flash_sale_with_a_first_come_coupon`] on `server` (embedded, or on Redis).
pub(crate) async fn flash_sale_flow(server: Server) {
    let buyer = server.login(None).await;
    let sale = server.event(&buyer, "flash-sale").await;
    let performances = server
        .performances(&buyer, sale["id"].as_str().expect("id"))
        .await;
    let drop = &performances[0];
    let sale_id = drop["id"].as_str().expect("id");
    let stock = &drop["stock"][0];
    assert_eq!(stock["available"], 100);
    assert_eq!(stock["price"], 159_000);

    let campaigns = server.get(&buyer, "/v1/coupons").await;
    let campaign = &campaigns.body[0];
    assert_eq!(campaign["code"], "OPEN10K");
    assert_eq!(campaign["remaining"], 100);
    let campaign_id = campaign["id"].as_str().expect("id");

    // A coupon not claimed cannot be presented.
    let order_body = json!({
        "sale": sale_id,
        "stock": [{ "stock": stock["stock"], "quantity": 2 }],
        "coupon": "OPEN10K",
    });
    let unclaimed = server.post(&buyer, "/v1/orders", &order_body).await;
    unclaimed.assert_problem(422, "coupon-unusable");
    assert_eq!(unclaimed.body["field"], "coupon");

    let claimed = server
        .post(
            &buyer,
            &format!("/v1/coupons/{campaign_id}/claim"),
            &json!({}),
        )
        .await;
    assert_eq!(claimed.status, 201, "{:#}", claimed.body);
    assert_eq!(claimed.body["code"], "OPEN10K");
    assert_eq!(claimed.body["state"], "issued");
    // Claiming again returns the same coupon and uses no more of the budget.
    let again = server
        .post(
            &buyer,
            &format!("/v1/coupons/{campaign_id}/claim"),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 201);
    let campaigns = server.get(&buyer, "/v1/coupons").await;
    assert_eq!(campaigns.body[0]["remaining"], 99);

    let placed = server.post(&buyer, "/v1/orders", &order_body).await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    assert_eq!(placed.body["total"], 2 * 159_000 - 10_000);
    assert_eq!(placed.body["quote"]["applied"][0]["rule"], "coupon-open10k");
    assert_eq!(placed.body["lines"][0]["quantity"], 2);
    let order_id = placed.body["id"].as_str().expect("id");
    let left = server
        .performances(&buyer, sale["id"].as_str().expect("id"))
        .await;
    assert_eq!(left[0]["stock"][0]["available"], 98);

    let charged = server
        .post(&buyer, "/v1/wallet/charge", &json!({ "amount": 400_000 }))
        .await;
    assert_eq!(charged.status, 200, "{:#}", charged.body);
    let paid = server
        .post(
            &buyer,
            &format!("/v1/orders/{order_id}/payments"),
            &json!({ "method": "points" }),
        )
        .await;
    assert_eq!(paid.status, 200, "{:#}", paid.body);
    assert_eq!(paid.body["state"], "Confirmed");
    assert_eq!(server.balance(&buyer).await, 400_000 - 308_000);

    // The coupon is spent: a second order cannot use it again.
    let second = server.post(&buyer, "/v1/orders", &order_body).await;
    second.assert_problem(409, "coupon-unusable");
}

#[tokio::test]
async fn the_coupon_budget_is_first_come_first_served_under_a_rush() {
    let server = Server::start().await;
    let first = server.login(None).await;
    let campaigns = server.get(&first, "/v1/coupons").await;
    let campaign = campaigns.body[0]["id"].as_str().expect("id").to_owned();
    let budget = campaigns.body[0]["budget"].as_u64().expect("budget");
    assert_eq!(budget, 100);
    let mut users = vec![first];
    for _ in 1..130 {
        users.push(server.login(None).await);
    }
    let mut claims = Vec::new();
    for user in users {
        let http = server.http.clone();
        let url = format!("{}/v1/coupons/{campaign}/claim", server.base);
        claims.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(&user.token)
                .send()
                .await
                .expect("claim");
            crate::support::reply(response).await
        }));
    }
    let mut issued = 0;
    for claim in claims {
        let reply = claim.await.expect("task");
        if reply.status == 201 {
            issued += 1;
        } else {
            reply.assert_problem(409, "coupon-unusable");
        }
    }
    assert_eq!(issued, 100, "exactly the budget is issued");
    let campaigns = server.get(&server.login(None).await, "/v1/coupons").await;
    assert_eq!(campaigns.body[0]["remaining"], 0);
}
