//! `TossGateway` under the faults Toss and the network produce: every open outcome is settled
//! by a look-up (never by charging again), and nothing open is reported as failed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use booking_core::clock::ManualClock;
use booking_core::ids::{PaymentId, UserId};
use booking_core::money::{Currency, Money};
use booking_core::policy::Sleeper;
use booking_core::ports::gateway::{
    ConfirmRequest, GatewayError, GatewayIdempotencyKey, GatewayOrderId, GatewayStatus,
    PaymentGateway, PaymentKey,
};
use booking_core::testkit::start_time;
use booking_toss::fake::{FakeFault, FakeOp};
use booking_toss::{IN_FLIGHT_PAUSE, SecretKey, TossClient, TossGateway};

use crate::support::{Toss, short_timeouts};

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

/// An authenticated payment of `amount` won and the confirm the service would send for it.
fn authenticated(toss: &Toss, amount: i64, idempotency: &str) -> ConfirmRequest {
    let order_ref = GatewayOrderId::for_payment(PaymentId::new());
    let payment = toss.authenticate(order_ref.as_str(), amount);
    ConfirmRequest::new(
        PaymentKey::new(payment.payment_key).unwrap(),
        order_ref,
        krw(amount),
        UserId::new(),
        GatewayIdempotencyKey::new(idempotency).unwrap(),
    )
}

/// Toss handles the confirm slowly and the client's read timeout fires first: an unknown
/// outcome (the look-up right after finds the payment still in progress), settled once Toss
/// is done by the look-up, and by the resend with the same key, with one charge.
#[tokio::test]
async fn a_read_timeout_after_sending_is_an_unknown_outcome() {
    let toss = Toss::on(ManualClock::new(start_time()), |c| c, short_timeouts()).await;
    let request = authenticated(&toss, 30_000, "confirm:slow");
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Latency {
            delay: Duration::from_millis(800),
        },
    );
    let answer = toss.gateway.confirm(&request).await;
    assert!(
        matches!(&answer, Err(GatewayError::Unknown { reason }) if reason.contains("timed out")),
        "{answer:?}"
    );
    assert_eq!(toss.fake().stats().charges, 0, "Toss is still handling it");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let settled = toss.gateway.lookup(&request.order_ref).await.unwrap();
    assert_eq!(
        (settled.status, settled.total),
        (GatewayStatus::Done, krw(30_000))
    );
    let resent = toss.gateway.confirm(&request).await.unwrap();
    assert_eq!(resent.status, GatewayStatus::Done);
    let stats = toss.fake().stats();
    assert_eq!((stats.charges, stats.replays), (1, 1));
}

/// Toss charges and the connection closes before the answer: the gateway looks the payment
/// up, finds it approved for our order and amount, and answers with it.
#[tokio::test]
async fn a_lost_answer_is_settled_by_the_gateways_own_look_up() {
    let toss = Toss::start().await;
    let request = authenticated(&toss, 12_000, "confirm:lost");
    toss.fake()
        .fail_next(FakeOp::Confirm, FakeFault::LoseResponse);
    let paid = toss.gateway.confirm(&request).await.unwrap();
    assert_eq!(
        (paid.status, paid.total),
        (GatewayStatus::Done, krw(12_000))
    );
    let stats = toss.fake().stats();
    assert_eq!(
        (stats.confirm_calls, stats.charges, stats.lookups),
        (1, 1, 1)
    );
}

/// `ALREADY_PROCESSED_PAYMENT` (a confirm under another key, a back button on the success
/// page) is settled by the look-up: paid for our order and amount means paid; still open
/// means open; aborted means rejected with the abort's code.
#[tokio::test]
async fn already_processed_is_settled_by_comparing_order_and_amount() {
    let toss = Toss::start().await;
    let request = authenticated(&toss, 8_000, "confirm:first");
    toss.gateway.confirm(&request).await.unwrap();
    let mut again = request.clone();
    again.idempotency_key = GatewayIdempotencyKey::new("confirm:second").unwrap();
    let settled = toss.gateway.confirm(&again).await.unwrap();
    assert_eq!(settled.status, GatewayStatus::Done);

    let open = authenticated(&toss, 8_000, "confirm:open");
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::error("ALREADY_PROCESSED_PAYMENT"),
    );
    assert_eq!(
        toss.gateway.confirm(&open).await,
        Err(GatewayError::AlreadyProcessed {
            code: "ALREADY_PROCESSED_PAYMENT".to_owned()
        })
    );

    let declined = authenticated(&toss, 8_000, "confirm:declined");
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Decline {
            code: "REJECT_CARD_COMPANY".to_owned(),
        },
    );
    assert!(matches!(
        toss.gateway.confirm(&declined).await,
        Err(GatewayError::Rejected { code, .. }) if code == "REJECT_CARD_COMPANY"
    ));
    assert_eq!(
        toss.gateway
            .lookup(&declined.order_ref)
            .await
            .unwrap()
            .status,
        GatewayStatus::Aborted
    );
    let mut back_button = declined.clone();
    back_button.idempotency_key = GatewayIdempotencyKey::new("confirm:back").unwrap();
    assert!(matches!(
        toss.gateway.confirm(&back_button).await,
        Err(GatewayError::Rejected { code, .. }) if code == "REJECT_CARD_COMPANY"
    ));
    assert_eq!(toss.fake().stats().charges, 1);
}

/// A key reused for another payment replays the first payment's answer at Toss (the confirm
/// URL is fixed and the body is not compared): the gateway notices the other order id and
/// refuses, and the second payment is not charged.
#[tokio::test]
async fn a_replay_of_another_payment_is_refused() {
    let toss = Toss::start().await;
    let first = authenticated(&toss, 5_000, "confirm:shared");
    toss.gateway.confirm(&first).await.unwrap();
    let second = authenticated(&toss, 5_000, "confirm:shared");
    assert!(matches!(
        toss.gateway.confirm(&second).await,
        Err(GatewayError::Rejected { code, .. }) if code == "PAYMENT_MISMATCH"
    ));
    assert_eq!(
        toss.gateway.lookup(&second.order_ref).await.unwrap().status,
        GatewayStatus::InProgress
    );
    assert_eq!(toss.fake().stats().charges, 1);
}

/// Codes Toss may add later keep their raw code: a 4xx is final, a 5xx an open outcome.
#[tokio::test]
async fn undocumented_codes_are_classed_by_status() {
    let toss = Toss::start().await;
    let request = authenticated(&toss, 3_000, "confirm:new-code");
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Error {
            status: 422,
            code: "SOMETHING_NEW".to_owned(),
        },
    );
    assert!(matches!(
        toss.gateway.confirm(&request).await,
        Err(GatewayError::Rejected { code, .. }) if code == "SOMETHING_NEW"
    ));
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Error {
            status: 503,
            code: "SOMETHING_NEW".to_owned(),
        },
    );
    assert!(matches!(
        toss.gateway.confirm(&request).await,
        Err(GatewayError::Unknown { reason }) if reason.contains("SOMETHING_NEW")
    ));
    toss.fake()
        .fail_next(FakeOp::Confirm, FakeFault::error("UNKNOWN_PAYMENT_ERROR"));
    assert!(matches!(
        toss.gateway.confirm(&request).await,
        Err(GatewayError::Unknown { .. })
    ));
    assert_eq!(toss.fake().stats().charges, 0);
    assert_eq!(
        toss.gateway.confirm(&request).await.unwrap().status,
        GatewayStatus::Done
    );
}

/// An answer that is not a payment (a proxy's error page, a truncated body) after a confirm
/// was sent is an open outcome; a look-up is retryable.
#[tokio::test]
async fn unreadable_answers_are_never_taken_as_success() {
    let toss = Toss::start().await;
    let request = authenticated(&toss, 4_000, "confirm:garbage");
    for (status, body) in [
        (200, &b"<html>ok</html>"[..]),
        (502, b"Bad Gateway"),
        (200, b"{\"paymentKey\":1}"),
    ] {
        toss.fake().fail_next(
            FakeOp::Confirm,
            FakeFault::Respond {
                status,
                body: body.to_vec(),
            },
        );
        let answer = toss.gateway.confirm(&request).await;
        assert!(
            matches!(answer, Err(GatewayError::Unknown { .. })),
            "{status}: {answer:?}"
        );
    }
    toss.fake().fail_next(
        FakeOp::Lookup,
        FakeFault::Respond {
            status: 200,
            body: b"[]".to_vec(),
        },
    );
    assert!(matches!(
        toss.gateway.lookup(&request.order_ref).await,
        Err(GatewayError::Retryable { .. })
    ));
    assert_eq!(toss.fake().stats().charges, 0);
}

/// No server: nothing was sent, so the confirm is retryable.
#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = TossClient::builder(SecretKey::new(crate::support::SECRET).unwrap())
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let gateway = TossGateway::new(client);
    let request = ConfirmRequest::new(
        PaymentKey::new("tfake1").unwrap(),
        GatewayOrderId::for_payment(PaymentId::new()),
        krw(1_000),
        UserId::new(),
        GatewayIdempotencyKey::new("confirm:nowhere").unwrap(),
    );
    assert!(matches!(
        gateway.confirm(&request).await,
        Err(GatewayError::Retryable { code, .. }) if code == "CONNECT_FAILED"
    ));
}

/// Records the pauses asked for and waits a fixed real time for each.
#[derive(Debug, Default)]
struct RecordingPause(Mutex<Vec<Duration>>);

#[async_trait::async_trait]
impl Sleeper for RecordingPause {
    async fn sleep(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A confirm sent while the first with its key is still being handled gets 409; the gateway
/// pauses and resends until the first is done, then answers with its payment.
#[tokio::test]
async fn a_request_in_flight_is_resent_after_a_pause() {
    let toss = Toss::start().await;
    let pauses = Arc::new(RecordingPause::default());
    let gateway = toss.gateway.clone().with_sleeper(pauses.clone());
    let request = authenticated(&toss, 6_000, "confirm:in-flight");
    toss.fake().fail_next(
        FakeOp::Confirm,
        FakeFault::Latency {
            delay: Duration::from_millis(150),
        },
    );
    let first = {
        let gateway = gateway.clone();
        let request = request.clone();
        tokio::spawn(async move { gateway.confirm(&request).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = gateway.confirm(&request).await.unwrap();
    assert_eq!(second.status, GatewayStatus::Done);
    assert_eq!(first.await.unwrap().unwrap().status, GatewayStatus::Done);
    let asked = pauses.0.lock().unwrap().clone();
    assert!(
        !asked.is_empty() && asked.iter().all(|p| *p == IN_FLIGHT_PAUSE),
        "{asked:?}"
    );
    let stats = toss.fake().stats();
    assert!(stats.in_flight_conflicts >= 1);
    assert_eq!(stats.charges, 1);
}

/// A partial cancel whose answer is lost is an unknown outcome for the service to resend; a
/// full cancel of a payment already cancelled in full under another key is done (checked by a
/// look-up); a partial one, or one the look-up does not confirm, stays refused.
#[tokio::test]
async fn cancels_settle_without_refunding_twice() {
    let toss = Toss::start().await;
    let request = authenticated(&toss, 10_000, "confirm:c");
    toss.gateway.confirm(&request).await.unwrap();
    let cancel = |amount: Option<i64>, key: &str| {
        booking_core::ports::gateway::CancelRequest::new(
            request.payment_key.clone(),
            amount.map(krw),
            "refund",
            GatewayIdempotencyKey::new(key).unwrap(),
        )
    };
    toss.fake()
        .fail_next(FakeOp::Cancel, FakeFault::LoseResponse);
    assert!(matches!(
        toss.gateway.cancel(&cancel(Some(4_000), "refund:1")).await,
        Err(GatewayError::Unknown { .. })
    ));
    assert_eq!(
        toss.gateway
            .cancel(&cancel(Some(4_000), "refund:1"))
            .await
            .unwrap()
            .balance,
        krw(6_000)
    );
    toss.gateway
        .cancel(&cancel(None, "refund:2"))
        .await
        .unwrap();
    let again = toss
        .gateway
        .cancel(&cancel(None, "refund:3"))
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.balance),
        (GatewayStatus::Canceled, krw(0))
    );
    assert!(matches!(
        toss.gateway.cancel(&cancel(Some(1), "refund:4")).await,
        Err(GatewayError::Rejected { code, .. }) if code == "ALREADY_CANCELED_PAYMENT"
    ));
    toss.fake()
        .fail_next(FakeOp::Cancel, FakeFault::error("ALREADY_CANCELED_PAYMENT"));
    let open = authenticated(&toss, 2_000, "confirm:d");
    toss.gateway.confirm(&open).await.unwrap();
    let mut not_cancelled = cancel(None, "refund:5");
    not_cancelled.payment_key = open.payment_key.clone();
    assert!(matches!(
        toss.gateway.cancel(&not_cancelled).await,
        Err(GatewayError::Rejected { code, .. }) if code == "ALREADY_CANCELED_PAYMENT"
    ));
    assert_eq!(toss.fake().stats().refunds, 2);
}
