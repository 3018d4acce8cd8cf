//! The client against the fake, endpoint by endpoint: what Toss documents for each call.

use std::time::Duration;

use base64::Engine as _;
use booking_toss::fake::{FakeFault, FakeOp, SessionSpec};
use booking_toss::{
    CancelParams, CancelStatus, ConfirmParams, Endpoint, ErrorClass, IdempotencyKey,
    RefundReceiveAccount, SecretKey, Status, SuccessRedirect, TossClient, TossError,
};

use crate::support::{SECRET, Toss, won};

fn confirm_params(payment: &booking_toss::Payment, amount: i64) -> ConfirmParams {
    ConfirmParams {
        payment_key: payment.payment_key.clone(),
        order_id: payment.order_id.clone(),
        amount: won(amount),
    }
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap()
}

fn code_of(error: &TossError) -> (u16, &str) {
    match error {
        TossError::Api { status, code, .. } => (*status, code),
        other => panic!("not a Toss error body: {other:?}"),
    }
}

#[tokio::test]
async fn confirm_then_look_up_by_key_and_by_order() {
    let toss = Toss::start().await;
    let open = toss.authenticate("order-contract-1", 15_000);
    assert_eq!(open.status, Status::InProgress);
    let done = toss
        .client
        .confirm(&confirm_params(&open, 15_000), &key("confirm:1"))
        .await
        .unwrap();
    assert_eq!(done.status, Status::Done);
    assert_eq!(
        (done.total_amount, done.balance_amount),
        (Some(won(15_000)), Some(won(15_000)))
    );
    assert!(done.approved_at_time().is_some());
    assert!(done.last_transaction_key.is_some());
    let by_key = toss.client.payment(&open.payment_key).await.unwrap();
    let by_order = toss
        .client
        .payment_by_order("order-contract-1")
        .await
        .unwrap();
    assert_eq!(by_key, done);
    assert_eq!(by_order, done);
    let stats = toss.fake().stats();
    assert_eq!(
        (stats.confirm_calls, stats.charges, stats.lookups),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn partial_then_full_cancel_track_the_balance() {
    let toss = Toss::start().await;
    let open = toss.authenticate("order-contract-2", 15_000);
    toss.client
        .confirm(&confirm_params(&open, 15_000), &key("confirm:2"))
        .await
        .unwrap();
    let part = toss
        .client
        .cancel(
            &open.payment_key,
            &CancelParams::partial("one seat", won(3_000)),
            &key("refund:2:1"),
        )
        .await
        .unwrap();
    assert_eq!(part.status, Status::PartialCanceled);
    assert_eq!(part.balance_amount, Some(won(12_000)));
    let first = &part.cancel_list()[0];
    assert_eq!(first.cancel_amount, won(3_000));
    assert_eq!(first.refundable_amount, Some(won(12_000)));
    assert_eq!(first.cancel_status, Some(CancelStatus::Done));
    assert_eq!(part.last_transaction_key, first.transaction_key);

    let over = toss
        .client
        .cancel(
            &open.payment_key,
            &CancelParams::partial("too much", won(12_001)),
            &key("refund:2:2"),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&over), (403, "NOT_CANCELABLE_AMOUNT"));
    assert_eq!(over.class(Endpoint::Cancel), ErrorClass::Stop);

    let rest = toss
        .client
        .cancel(
            &open.payment_key,
            &CancelParams::full("the rest"),
            &key("refund:2:3"),
        )
        .await
        .unwrap();
    assert_eq!(rest.status, Status::Canceled);
    assert_eq!(rest.balance_amount, Some(won(0)));
    assert_eq!(
        rest.total_amount,
        Some(won(15_000)),
        "the total never changes"
    );
    let returned: i64 = rest
        .cancel_list()
        .iter()
        .map(|c| c.cancel_amount.value())
        .sum();
    assert_eq!(returned, 15_000);

    let again = toss
        .client
        .cancel(
            &open.payment_key,
            &CancelParams::full("again"),
            &key("refund:2:4"),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&again), (400, "ALREADY_CANCELED_PAYMENT"));
    assert_eq!(toss.fake().stats().refunds, 2);
}

/// The same key replays the first answer; another key on a confirmed payment is
/// `ALREADY_PROCESSED_PAYMENT`, an open outcome to look up.
#[tokio::test]
async fn a_repeated_key_replays_the_first_answer() {
    let toss = Toss::start().await;
    let open = toss.authenticate("order-contract-3", 5_000);
    let params = confirm_params(&open, 5_000);
    let first = toss
        .client
        .confirm(&params, &key("confirm:3"))
        .await
        .unwrap();
    let replay = toss
        .client
        .confirm(&params, &key("confirm:3"))
        .await
        .unwrap();
    assert_eq!(first, replay);
    let other = toss
        .client
        .confirm(&params, &key("confirm:3:other"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&other), (400, "ALREADY_PROCESSED_PAYMENT"));
    assert_eq!(other.class(Endpoint::Confirm), ErrorClass::Reconcile);
    let refund = CancelParams::partial("seat", won(1_000));
    let cancelled = toss
        .client
        .cancel(&open.payment_key, &refund, &key("refund:3"))
        .await
        .unwrap();
    let again = toss
        .client
        .cancel(&open.payment_key, &refund, &key("refund:3"))
        .await
        .unwrap();
    assert_eq!(cancelled, again);
    let stats = toss.fake().stats();
    assert_eq!((stats.charges, stats.refunds, stats.replays), (1, 1, 2));
}

/// While the first request with a key is being handled, a second one is told 409.
#[tokio::test]
async fn a_request_in_flight_answers_409() {
    let toss = Toss::start().await;
    let open = toss.authenticate("order-contract-4", 7_000);
    let params = confirm_params(&open, 7_000);
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Latency {
            delay: Duration::from_millis(300),
        },
    );
    let client = toss.client.clone();
    let slow_params = params.clone();
    let first = tokio::spawn(async move { client.confirm(&slow_params, &key("confirm:4")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = toss
        .client
        .confirm(&params, &key("confirm:4"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&second), (409, "IDEMPOTENT_REQUEST_PROCESSING"));
    assert_eq!(second.class(Endpoint::Confirm), ErrorClass::InFlight);
    assert_eq!(first.await.unwrap().unwrap().status, Status::Done);
    let third = toss
        .client
        .confirm(&params, &key("confirm:4"))
        .await
        .unwrap();
    assert_eq!(third.status, Status::Done);
    assert_eq!(toss.fake().stats().charges, 1);
}

/// A confirm ten minutes after authentication finds no session; the payment expired.
#[tokio::test]
async fn the_confirm_window_closes_after_ten_minutes() {
    let toss = Toss::start().await;
    let late = toss.authenticate("order-contract-5", 9_000);
    let in_time = toss.authenticate("order-contract-6", 9_000);
    toss.clock.advance(Duration::from_secs(9 * 60 + 59));
    let done = toss
        .client
        .confirm(&confirm_params(&in_time, 9_000), &key("confirm:6"))
        .await
        .unwrap();
    assert_eq!(done.status, Status::Done);
    toss.clock.advance(Duration::from_secs(1));
    let refused = toss
        .client
        .confirm(&confirm_params(&late, 9_000), &key("confirm:5"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), (404, "NOT_FOUND_PAYMENT_SESSION"));
    assert_eq!(refused.class(Endpoint::Confirm), ErrorClass::Stop);
    let expired = toss.client.payment(&late.payment_key).await.unwrap();
    assert_eq!(expired.status, Status::Expired);
    assert_eq!(expired.failure.unwrap().code, "EXPIRED_PAYMENT");
    assert_eq!(toss.fake().stats().charges, 1);
}

#[tokio::test]
async fn credentials_are_checked() {
    let toss = Toss::start().await;
    let open = toss.authenticate("order-contract-7", 1_000);
    let stranger = TossClient::builder(SecretKey::new("test_sk_someone_else").unwrap())
        .base_url(toss.server.url())
        .build()
        .unwrap();
    let refused = stranger.payment(&open.payment_key).await.unwrap_err();
    assert_eq!(code_of(&refused), (401, "UNAUTHORIZED_KEY"));
    assert_eq!(refused.class(Endpoint::Lookup), ErrorClass::Stop);

    let url = format!("{}/v1/payments/{}", toss.server.url(), open.payment_key);
    let http = reqwest::Client::new();
    let no_colon = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let status = |auth: Option<String>| {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some(format!("Basic {no_colon}"))).await, 403);
    assert_eq!(status(Some("Bearer x".to_owned())).await, 403);
    assert_eq!(toss.fake().stats().unauthorized, 4);
}

#[tokio::test]
async fn keys_over_300_characters_are_refused() {
    let toss = Toss::start().await;
    assert!(
        IdempotencyKey::new("k".repeat(301)).is_err(),
        "the client never sends one"
    );
    let open = toss.authenticate("order-contract-8", 1_000);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:"));
    let body = serde_json::to_vec(&confirm_params(&open, 1_000)).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/payments/confirm", toss.server.url()))
        .header("authorization", format!("Basic {credentials}"))
        .header("idempotency-key", "k".repeat(301))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let text = String::from_utf8_lossy(&answer.bytes().await.unwrap()).into_owned();
    assert!(text.contains("INVALID_IDEMPOTENCY_KEY"), "{text}");
    assert_eq!(toss.fake().stats().charges, 0);
}

/// Fields out of Toss's limits are refused before anything is sent.
#[tokio::test]
async fn bad_fields_never_leave_the_client() {
    let toss = Toss::start().await;
    let bad_order = ConfirmParams {
        payment_key: "pk".into(),
        order_id: "short".into(),
        amount: won(1),
    };
    let refused = toss
        .client
        .confirm(&bad_order, &key("c"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TossError::InvalidRequest(_)),
        "{refused:?}"
    );
    let mut bad_account = CancelParams::full("refund");
    bad_account.refund_receive_account = Some(RefundReceiveAccount {
        bank: "88".into(),
        account_number: "12-34".into(),
        holder_name: "구매자".into(),
    });
    let refused = toss
        .client
        .cancel("pk", &bad_account, &key("r"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TossError::InvalidRequest(_)),
        "{refused:?}"
    );
    assert!(toss.client.payment_by_order("no").await.is_err());
    let stats = toss.fake().stats();
    assert_eq!(
        (stats.confirm_calls, stats.cancel_calls, stats.lookups),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn unknown_payments_are_not_found() {
    let toss = Toss::start().await;
    let missing = toss.client.payment("tfake-missing").await.unwrap_err();
    assert_eq!(code_of(&missing), (404, "NOT_FOUND_PAYMENT"));
    let missing = toss
        .client
        .payment_by_order("order-missing")
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), (404, "NOT_FOUND_PAYMENT"));
    let cancel = toss
        .client
        .cancel("tfake-missing", &CancelParams::full("x"), &key("r"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&cancel), (404, "NOT_FOUND_PAYMENT"));
}

/// A virtual account: the confirm issues it with a secret, the deposit approves it.
#[tokio::test]
async fn a_virtual_account_waits_for_its_deposit() {
    let toss = Toss::start().await;
    let open = toss.fake().authenticate(&SessionSpec::virtual_account(
        "order-contract-9",
        won(50_000),
    ));
    let issued = toss
        .client
        .confirm(&confirm_params(&open, 50_000), &key("confirm:9"))
        .await
        .unwrap();
    assert_eq!(issued.status, Status::WaitingForDeposit);
    assert!(issued.secret.is_some());
    let account = issued.virtual_account.as_ref().unwrap();
    assert!(account.account_number.as_deref().unwrap().starts_with('X'));
    assert_eq!(toss.fake().stats().charges, 0);
    let paid = toss.fake().deposit("order-contract-9").unwrap();
    assert_eq!(paid.status, Status::Done);
    assert_eq!(
        toss.client.payment(&open.payment_key).await.unwrap().status,
        Status::Done
    );
    assert_eq!(toss.fake().stats().charges, 1);
}

/// The fake's payment window, driven like a browser: the redirect carries what
/// `SuccessRedirect` reads.
#[tokio::test]
async fn the_widget_redirects_to_the_success_url() {
    let toss = Toss::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = reqwest::Url::parse_with_params(
        &format!("{}/__fake/widget", toss.server.url()),
        &[
            ("orderId", "order-widget-1"),
            ("amount", "42000"),
            ("successUrl", "https://shop.example/pay/success?cart=7"),
            ("failUrl", "https://shop.example/pay/fail"),
        ],
    )
    .unwrap();
    let answer = http.get(url).send().await.unwrap();
    assert!(answer.status().is_redirection());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://shop.example/pay/success?cart=7&"),
        "{location}"
    );
    let redirect = SuccessRedirect::from_url(&location).unwrap();
    assert_eq!(redirect.amount, 42_000);
    assert_eq!(redirect.order_ref.as_str(), "order-widget-1");
    let payment = toss
        .client
        .payment(redirect.payment_key.as_str())
        .await
        .unwrap();
    assert_eq!(payment.status, Status::InProgress);
    assert_eq!(payment.total_amount, Some(won(42_000)));
}
