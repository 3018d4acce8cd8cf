//! Webhooks from the fake Toss server to a `WebhookHandler` over the flight's service:
//! verified before use, applied once however often Toss sends them, forgeries refused.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use booking_core::machine::{OrderStateKind, PaymentState};
use booking_core::ports::gateway::{GatewayOrderId, PaymentKey};
use booking_core::service::{Confirmation, RefundRequest};
use booking_toss::fake::{SentWebhook, SessionSpec};
use booking_toss::webhooks::{RETRIED_COUNT_HEADER, TRANSMISSION_ID_HEADER, WebhookAction};
use booking_toss::{
    Amount, CancelParams, GATEWAY_NAME, IdempotencyKey, WebhookError, WebhookHandler,
    WebhookOutcome,
};

use crate::flight::Flight;

fn handler(f: &Flight) -> WebhookHandler {
    WebhookHandler::new(
        f.toss.client.clone(),
        f.service.clone(),
        f.backend.idempotency.clone(),
    )
}

fn headers(transmission_id: &str, retried: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(TRANSMISSION_ID_HEADER, transmission_id.parse().unwrap());
    headers.insert(RETRIED_COUNT_HEADER, retried.to_string().parse().unwrap());
    headers
}

/// The last webhook the fake produced of `event_type` whose body mentions `needle`.
fn webhook(f: &Flight, event_type: &str, needle: &str) -> SentWebhook {
    f.toss
        .fake()
        .webhooks()
        .into_iter()
        .rev()
        .find(|w| w.event_type == event_type && String::from_utf8_lossy(&w.body).contains(needle))
        .unwrap_or_else(|| panic!("no {event_type} webhook mentioning {needle}"))
}

async fn deliver(
    handler: &WebhookHandler,
    sent: &SentWebhook,
    retried: usize,
) -> Result<WebhookOutcome, WebhookError> {
    handler
        .handle(&headers(&sent.transmission_id, retried), &sent.body)
        .await
}

/// Toss charged, the answer and the gateway's look-up were lost: the payment is unknown.
/// Toss's `DONE` webhook settles it — verified by a look-up — and its seven retries change
/// nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_done_webhook_settles_an_unknown_payment_once() {
    let f = Flight::open().await;
    let order = f.paid_but_unknown(&f.seats[..1]).await;
    let handler = handler(&f);
    let done = webhook(&f, "PAYMENT_STATUS_CHANGED", "\"DONE\"");
    match deliver(&handler, &done, 0).await.unwrap() {
        WebhookOutcome::Applied(WebhookAction::Reconciled(report)) => assert_eq!(report.paid, 1),
        other => panic!("{other:?}"),
    }
    let paid = f.service.order(order).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    for retried in 1..=7 {
        assert_eq!(
            deliver(&handler, &done, retried).await.unwrap(),
            WebhookOutcome::Duplicate
        );
    }
    assert_eq!(f.service.order(order).await.unwrap(), paid);
    let stats = f.toss.fake().stats();
    assert_eq!((stats.confirm_calls, stats.charges), (1, 1));
}

/// A body claiming a payment Toss does not have is refused; one claiming `DONE` for a payment
/// still in progress is checked against Toss, which says otherwise, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_status_webhooks_change_nothing() {
    let f = Flight::open().await;
    let handler = handler(&f);
    let (order, confirmation) = f.held_and_authenticated(&f.seats[..1]).await;
    let forged = |payment_key: &str| {
        serde_json::to_vec(&serde_json::json!({
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": "2027-01-15T09:00:00.000000",
            "data": {
                "paymentKey": payment_key,
                "orderId": confirmation.order_ref.as_str(),
                "status": "DONE",
                "totalAmount": confirmation.amount.minor(),
            }
        }))
        .unwrap()
    };
    let refused = handler
        .handle(&headers("whtrans_forged_1", 0), &forged("tfake-made-up"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WebhookError::NotAuthentic(_)),
        "{refused:?}"
    );
    assert_eq!(refused.http_status(), 403);
    let outcome = handler
        .handle(
            &headers("whtrans_forged_2", 0),
            &forged(confirmation.payment_key.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(outcome, WebhookOutcome::Applied(WebhookAction::UpToDate));
    let record = f.service.order(order).await.unwrap();
    assert_eq!(record.order.state().kind(), OrderStateKind::AwaitingPayment);
    assert_eq!(f.toss.fake().stats().charges, 0);
    let malformed = handler
        .handle(&HeaderMap::new(), &forged("x"))
        .await
        .unwrap_err();
    assert_eq!(malformed.http_status(), 400);
}

/// A cancel made at Toss (its dashboard), full or partial, cannot be recorded as a refund of
/// particular lines: it is flagged for a person, and our books are left as they are. Our own
/// refunds' webhooks find the books in line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_made_at_toss_are_flagged() {
    let f = Flight::open().await;
    let handler = handler(&f);
    let (order, confirmation) = f.held_and_authenticated(&f.seats[..2]).await;
    let paid = f.service.confirm_payment(&confirmation).await.unwrap();
    let key = confirmation.payment_key.as_str();

    // Our own refund of one seat: its webhook finds the books in line.
    let line = paid.lines[0].line.clone();
    f.service
        .refund_lines(&RefundRequest::new(order, "one seat").line(line))
        .await
        .unwrap();
    let ours = webhook(&f, "PAYMENT_STATUS_CHANGED", "\"PARTIAL_CANCELED\"");
    assert_eq!(
        deliver(&handler, &ours, 0).await.unwrap(),
        WebhookOutcome::Applied(WebhookAction::UpToDate)
    );

    // The rest cancelled in Toss's dashboard.
    f.toss
        .client
        .cancel(
            key,
            &CancelParams::full("dashboard"),
            &IdempotencyKey::new("dash:1").unwrap(),
        )
        .await
        .unwrap();
    let outside = webhook(&f, "PAYMENT_STATUS_CHANGED", "\"CANCELED\"");
    assert!(matches!(
        deliver(&handler, &outside, 0).await.unwrap(),
        WebhookOutcome::NeedsAttention(_)
    ));
    let record = f.service.order(order).await.unwrap();
    assert_eq!(
        record.order.state().kind(),
        OrderStateKind::PartiallyRefunded
    );
    assert_eq!(f.toss.fake().stats().refunds, 2, "nothing refunded twice");
}

/// Toss voids a payment window the buyer left: its `EXPIRED` webhook releases the order's
/// seats at once, without waiting for the sweeper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_window_releases_the_order() {
    let f = Flight::open().await;
    let handler = handler(&f);
    let (order, confirmation) = f.held_and_authenticated(&f.seats[..2]).await;
    // The buyer asked for more time: the hold outlives Toss's window.
    f.toss.clock.advance(Duration::from_secs(5 * 60));
    let extended = f.service.extend_hold(order).await;
    assert!(extended.is_ok(), "{extended:?}");
    f.toss.clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(f.tickets_available().await, 1, "still held");
    // A look-up after the window voids the payment at Toss, which sends the webhook.
    f.toss
        .client
        .payment(confirmation.payment_key.as_str())
        .await
        .unwrap();
    let expired = webhook(&f, "PAYMENT_STATUS_CHANGED", "\"EXPIRED\"");
    assert_eq!(
        deliver(&handler, &expired, 0).await.unwrap(),
        WebhookOutcome::Applied(WebhookAction::Released)
    );
    let record = f.service.order(order).await.unwrap();
    assert_eq!(record.order.state().kind(), OrderStateKind::Cancelled);
    assert_eq!(f.tickets_available().await, 3);
}

/// A virtual account: the confirm issues it and leaves the payment open; the deposit
/// callback, checked against the payment's secret, settles it as paid. A callback with
/// another secret is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_callback_is_checked_by_its_secret() {
    let f = Flight::open().await;
    let handler = handler(&f);
    let order = f.service.hold(&f.request(&f.seats[..1])).await.unwrap();
    let intent = f
        .service
        .start_payment(order.order.id(), GATEWAY_NAME)
        .await
        .unwrap();
    let spec = SessionSpec::virtual_account(
        intent.order_ref.as_str(),
        Amount::from_money(intent.amount).unwrap(),
    );
    let open = f.toss.fake().authenticate(&spec);
    let confirmation = Confirmation::new(
        intent.order_ref.clone(),
        PaymentKey::new(open.payment_key).unwrap(),
        intent.amount,
    );
    assert!(
        f.service.confirm_payment(&confirmation).await.is_err(),
        "not paid until the deposit"
    );
    let issued = webhook(&f, "PAYMENT_STATUS_CHANGED", "WAITING_FOR_DEPOSIT");
    assert_eq!(
        deliver(&handler, &issued, 0).await.unwrap(),
        WebhookOutcome::Applied(WebhookAction::UpToDate)
    );

    let forged = serde_json::to_vec(&serde_json::json!({
        "createdAt": "2027-01-15T09:00:00.000000",
        "secret": "ps_guessed",
        "status": "DONE",
        "transactionKey": "x",
        "orderId": intent.order_ref.as_str(),
    }))
    .unwrap();
    let refused = handler
        .handle(&headers("whtrans_forged_deposit", 0), &forged)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WebhookError::NotAuthentic(_)),
        "{refused:?}"
    );

    f.toss.fake().deposit(intent.order_ref.as_str()).unwrap();
    let deposit = webhook(&f, "DEPOSIT_CALLBACK", intent.order_ref.as_str());
    match deliver(&handler, &deposit, 0).await.unwrap() {
        WebhookOutcome::Applied(WebhookAction::Reconciled(report)) => assert_eq!(report.paid, 1),
        other => panic!("{other:?}"),
    }
    let paid = f.service.order(order.order.id()).await.unwrap();
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    assert_eq!(f.payment_state(order.order.id()).await, PaymentState::Done);
}

/// Over HTTP: the fake posts each webhook with Toss's headers to the configured URL, the
/// handler answers 200, and a redelivery (Toss's retry) is answered 200 as a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_posted_to_the_configured_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/toss/webhooks", listener.local_addr().unwrap());
    let f = Flight::open_with(|config| config.webhook_url(url.parse().unwrap())).await;
    let handler = handler(&f);
    let app = axum::Router::new().route(
        "/toss/webhooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            async move {
                let status = match handler.handle(&headers, &body).await {
                    Ok(outcome) => outcome.http_status(),
                    Err(error) => error.http_status(),
                };
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (order, confirmation) = f.held_and_authenticated(&f.seats[..1]).await;
    f.service.confirm_payment(&confirmation).await.unwrap();
    let done = wait_for_delivery(&f, confirmation.order_ref.clone()).await;
    assert_eq!(done.deliveries, [Some(200)]);
    assert_eq!(
        f.toss.fake().redeliver(&done.transmission_id).await,
        Some(200)
    );
    let record = f.service.order(order).await.unwrap();
    assert_eq!(record.order.state().kind(), OrderStateKind::Confirmed);
}

/// The `DONE` webhook of `order_ref`, once its first delivery has been answered.
async fn wait_for_delivery(f: &Flight, order_ref: GatewayOrderId) -> SentWebhook {
    for _ in 0..500 {
        let sent = f.toss.fake().webhooks().into_iter().find(|w| {
            String::from_utf8_lossy(&w.body).contains(order_ref.as_str())
                && w.deliveries.first().is_some_and(Option::is_some)
        });
        if let Some(sent) = sent {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the webhook of {order_ref} was not delivered within 5 s");
}
