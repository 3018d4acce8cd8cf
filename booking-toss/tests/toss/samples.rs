//! Every sample of the Toss reference (§9) reads into the crate's types, and the fake answers
//! with the same shape.

use booking_toss::fake::FakeFault;
use booking_toss::fake::FakeOp;
use booking_toss::webhooks::WebhookEvent;
use booking_toss::{
    AcquireStatus, CancelStatus, Endpoint, ErrorClass, Failure, Method, Payment, PaymentType,
    Status, TossError,
};

use crate::support::{Toss, won};

/// §9.1: a confirmed card payment.
pub(crate) const DONE: &str = r#"{
  "mId": "tosspayments",
  "version": "2022-11-16",
  "lastTransactionKey": "B7103F204998813B889C77C043D09502",
  "paymentKey": "5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6",
  "orderId": "a4CWyWY5m89PNh7xJwhk1",
  "orderName": "토스 티셔츠 외 2건",
  "currency": "KRW",
  "method": "카드",
  "status": "DONE",
  "requestedAt": "2021-01-01T10:01:30+09:00",
  "approvedAt": "2021-01-01T10:05:40+09:00",
  "useEscrow": false,
  "cultureExpense": false,
  "card": {
    "amount": 15000,
    "issuerCode": "61",
    "acquirerCode": "31",
    "number": "12341234****123*",
    "installmentPlanMonths": 0,
    "isInterestFree": false,
    "interestPayer": null,
    "approveNo": "00000000",
    "useCardPoint": false,
    "cardType": "신용",
    "ownerType": "개인",
    "acquireStatus": "READY"
  },
  "virtualAccount": null,
  "transfer": null,
  "mobilePhone": null,
  "giftCertificate": null,
  "cashReceipt": null,
  "cashReceipts": null,
  "receipt": { "url": "https://merchants.tosspayments.com/web/serve/merchant/test_ck_ma60RZblrqy7RE0O2dx5rwzYWBn1/receipt/5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6" },
  "checkout": { "url": "https://api.tosspayments.com/v1/payments/5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6/checkout" },
  "discount": null,
  "cancels": null,
  "secret": null,
  "type": "NORMAL",
  "easyPay": null,
  "country": "KR",
  "failure": null,
  "totalAmount": 15000,
  "balanceAmount": 15000,
  "suppliedAmount": 13636,
  "vat": 1364,
  "taxFreeAmount": 0,
  "taxExemptionAmount": 0
}"#;

/// §9.2: the cancel guide's answer (keys left blank, cut after `cancels[0]`).
const CANCELED: &str = r#"{
  "mId": "tosspayments",
  "version": "2022-11-16",
  "lastTransactionKey": "",
  "paymentKey": "",
  "orderId": "",
  "orderName": "토스 티셔츠 외 2건",
  "currency": "KRW",
  "method": "카드",
  "status": "CANCELED",
  "requestedAt": "2022-01-01T11:31:29+09:00",
  "approvedAt": "2022-01-01T11:31:51+09:00",
  "useEscrow": false,
  "cultureExpense": false,
  "cancels": [
    {
      "cancelReason": "고객이 취소를 원함",
      "canceledAt": "2022-01-01T11:32:04+09:00",
      "cancelAmount": 10000,
      "taxFreeAmount": 0,
      "taxExemptionAmount": 0,
      "refundableAmount": 0
    }
  ]
}"#;

/// §9.2: the complete cancel element.
const CANCEL_ELEMENT: &str = r#"{"transactionKey":"090A796806E726BBB929F4A2CA7DB9A7","cancelReason":"테스트 결제 취소","taxExemptionAmount":0,"canceledAt":"2024-02-13T12:20:23+09:00","transferDiscountAmount":0,"easyPayDiscountAmount":0,"receiptKey":null,"cancelAmount":1000,"taxFreeAmount":0,"refundableAmount":0,"cancelStatus":"DONE","cancelRequestId":null}"#;

/// §9.3: error bodies, with the status and class each is answered with.
const ERRORS: [(&str, u16, ErrorClass); 8] = [
    (
        r#"{ "code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 입니다." }"#,
        404,
        ErrorClass::Stop,
    ),
    (
        r#"{ "code": "ALREADY_PROCESSED_PAYMENT", "message": "이미 처리된 결제 입니다." }"#,
        400,
        ErrorClass::Reconcile,
    ),
    (
        r#"{ "code": "PROVIDER_ERROR", "message": "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." }"#,
        400,
        ErrorClass::Retry,
    ),
    (
        r#"{ "code": "REJECT_CARD_PAYMENT", "message": "한도초과 혹은 잔액부족으로 결제에 실패했습니다." }"#,
        403,
        ErrorClass::Stop,
    ),
    (
        r#"{ "code": "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "message": "결제가 완료되지 않았어요. 다시 시도해주세요." }"#,
        500,
        ErrorClass::Retry,
    ),
    (
        r#"{ "code": "NOT_FOUND_PAYMENT_SESSION", "message": "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다." }"#,
        404,
        ErrorClass::Stop,
    ),
    (
        r#"{ "code": "INVALID_IDEMPOTENCY_KEY", "message": "멱등키는 300자 이하여야 합니다." }"#,
        400,
        ErrorClass::Stop,
    ),
    (
        r#"{ "code": "IDEMPOTENT_REQUEST_PROCESSING", "message": "이전 멱등 요청이 처리중입니다." }"#,
        409,
        ErrorClass::InFlight,
    ),
];

/// §9.4: a failed payment as a look-up shows it.
const ABORTED: &str = r#"{
  "mId": "tosspayments", "version": "2022-11-16",
  "lastTransactionKey": "B7103F204998813B889C77C043D09502",
  "paymentKey": "5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6",
  "orderId": "a4CWyWY5m89PNh7xJwhk1", "orderName": "토스 티셔츠 외 2건",
  "currency": "KRW", "method": "카드", "status": "ABORTED",
  "discount": null, "cancels": null, "secret": null, "type": "NORMAL",
  "easyPay": null, "country": "KR",
  "failure": { "code": "COMMON_ERROR", "message": "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." },
  "totalAmount": 15000, "balanceAmount": 15000, "suppliedAmount": 13636,
  "vat": 1364, "taxFreeAmount": 0, "taxExemptionAmount": 0
}"#;

/// §9.5: a status-change webhook (card block abbreviated in the docs).
pub(crate) const STATUS_WEBHOOK: &str = r#"{
  "eventType": "PAYMENT_STATUS_CHANGED",
  "createdAt": "2022-01-01T00:00:00.000000",
  "data": {
    "mId": "tosspayments",
    "version": "2022-11-16",
    "lastTransactionKey": "B7103F204998813B889C77C043D09502",
    "paymentKey": "<paymentKey>",
    "orderId": "<orderId>",
    "status": "DONE",
    "requestedAt": "2022-08-05T12:56:00+09:00",
    "approvedAt": "2022-08-05T12:56:21+09:00",
    "useEscrow": false,
    "card": { "issuerCode": "61", "acquirerCode": "31", "number": "48902300****406*", "installmentPlanMonths": 0, "amount": 10000 }
  }
}"#;

/// §9.5: a deposit callback (no `eventType`).
const DEPOSIT_WEBHOOK: &str = r#"{
  "createdAt": "2022-01-01T00:00:00.000000",
  "secret": "<secret from confirm response>",
  "status": "DONE",
  "transactionKey": "9FF15E1A29D0E77C218F57262BFA4986",
  "orderId": "<orderId>"
}"#;

#[test]
fn the_confirmed_payment_reads() {
    let payment: Payment = serde_json::from_str(DONE).unwrap();
    assert_eq!(payment.status, Status::Done);
    assert_eq!(payment.method, Some(Method::Card));
    assert_eq!(payment.payment_type, Some(PaymentType::Normal));
    assert_eq!(payment.total_amount, Some(won(15_000)));
    assert_eq!(payment.balance_amount, Some(won(15_000)));
    assert_eq!(
        (payment.supplied_amount, payment.vat),
        (Some(won(13_636)), Some(won(1_364)))
    );
    let card = payment.card.as_ref().unwrap();
    assert_eq!(card.acquire_status, Some(AcquireStatus::Ready));
    assert_eq!(card.amount, Some(won(15_000)));
    assert_eq!(
        payment.approved_at_time().unwrap().to_string(),
        "2021-01-01T01:05:40Z"
    );
    assert!(payment.was_approved());
    assert!(payment.cancel_list().is_empty());
}

#[test]
fn the_cancelled_payments_read() {
    let payment: Payment = serde_json::from_str(CANCELED).unwrap();
    assert_eq!(payment.status, Status::Canceled);
    assert_eq!(payment.total_amount, None, "the excerpt leaves amounts out");
    let cancel = &payment.cancel_list()[0];
    assert_eq!(cancel.cancel_amount, won(10_000));
    assert_eq!(cancel.refundable_amount, Some(won(0)));
    assert_eq!(cancel.transaction_key, None);
    let element: booking_toss::Cancel = serde_json::from_str(CANCEL_ELEMENT).unwrap();
    assert_eq!(element.cancel_status, Some(CancelStatus::Done));
    assert_eq!(element.cancel_amount, won(1_000));
    assert_eq!(
        element.transaction_key.as_deref(),
        Some("090A796806E726BBB929F4A2CA7DB9A7")
    );
    assert!(element.canceled_at_time().is_some());
}

#[test]
fn the_failed_payment_reads() {
    let payment: Payment = serde_json::from_str(ABORTED).unwrap();
    assert_eq!(payment.status, Status::Aborted);
    assert_eq!(payment.failure.unwrap().code, "COMMON_ERROR");
    assert!(
        !serde_json::from_str::<Payment>(ABORTED)
            .unwrap()
            .was_approved()
    );
}

#[test]
fn the_webhooks_read() {
    let WebhookEvent::PaymentStatusChanged { data, created_at } =
        WebhookEvent::parse(STATUS_WEBHOOK.as_bytes()).unwrap()
    else {
        panic!("a status change");
    };
    assert_eq!(data.status, Status::Done);
    assert_eq!(created_at.as_deref(), Some("2022-01-01T00:00:00.000000"));
    let WebhookEvent::DepositCallback(deposit) =
        WebhookEvent::parse(DEPOSIT_WEBHOOK.as_bytes()).unwrap()
    else {
        panic!("a deposit callback");
    };
    assert_eq!(deposit.status, Status::Done);
    assert!(deposit.secret.matches("<secret from confirm response>"));
}

/// Each documented error body, answered by the fake as Toss would, reaches the caller as its
/// code with the class the reference gives it.
#[tokio::test]
async fn the_error_bodies_read_with_their_class() {
    let toss = Toss::start().await;
    for (body, status, class) in ERRORS {
        let failure: Failure = serde_json::from_str(body).unwrap();
        toss.fake().fail_next(
            FakeOp::Lookup,
            FakeFault::Respond {
                status,
                body: body.as_bytes().to_vec(),
            },
        );
        let error = toss.client.payment("any-payment-key").await.unwrap_err();
        let TossError::Api {
            status: got,
            code,
            message,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            (*got, code.as_str(), message.as_str()),
            (status, failure.code.as_str(), failure.message.as_str())
        );
        assert_eq!(error.class(Endpoint::Confirm), class, "{code}");
    }
}

/// The fake's answer, as sent on the wire, carries every field of the documented one.
#[tokio::test]
async fn the_fake_answers_in_the_documented_shape() {
    use base64::Engine as _;
    let toss = Toss::start().await;
    let payment = toss.authenticate("a4CWyWY5m89PNh7xJwhk1", 15_000);
    let params = booking_toss::ConfirmParams {
        payment_key: payment.payment_key.clone(),
        order_id: payment.order_id.clone(),
        amount: won(15_000),
    };
    let key = booking_toss::IdempotencyKey::new("confirm:shape").unwrap();
    toss.client.confirm(&params, &key).await.unwrap();
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", crate::support::SECRET));
    let body = reqwest::Client::new()
        .get(format!(
            "{}/v1/payments/{}",
            toss.server.url(),
            payment.payment_key
        ))
        .header("authorization", format!("Basic {credentials}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let documented: serde_json::Value = serde_json::from_str(DONE).unwrap();
    for field in documented.as_object().unwrap().keys() {
        assert!(answer.get(field).is_some(), "the fake leaves out {field}");
    }
    assert_eq!(answer["status"], "DONE");
    assert_eq!(answer["method"], "카드");
    assert_eq!(
        (answer["totalAmount"].as_i64(), answer["vat"].as_i64()),
        (Some(15_000), Some(1_364))
    );
    assert!(answer["approvedAt"].as_str().unwrap().ends_with("+09:00"));
}
