//! No answer body — any JSON, under any status — makes the client or the gateway panic, and
//! none is taken for a payment it is not.

use booking_core::ids::{PaymentId, UserId};
use booking_core::money::{Currency, Money};
use booking_core::ports::gateway::{
    ConfirmRequest, GatewayIdempotencyKey, GatewayOrderId, PaymentGateway, PaymentKey,
};
use booking_toss::fake::{FakeFault, FakeOp};
use booking_toss::{CancelParams, ConfirmParams, IdempotencyKey, TossError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::support::{Toss, won};

/// JSON values shaped like Toss's answers: objects whose keys are often the fields the client
/// reads, holding any kind of value.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12_f64..1e12).prop_map(Value::from),
        prop::sample::select(vec![
            "DONE",
            "CANCELED",
            "IN_PROGRESS",
            "카드",
            "NORMAL",
            "PROVIDER_ERROR",
            "",
            "order-00001",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    let keys = prop_oneof![
        prop::sample::select(vec![
            "paymentKey",
            "orderId",
            "status",
            "totalAmount",
            "balanceAmount",
            "approvedAt",
            "cancels",
            "cancelAmount",
            "card",
            "amount",
            "method",
            "type",
            "secret",
            "failure",
            "code",
            "message",
            "virtualAccount",
            "easyPay",
            "canceledAt",
            "cancelStatus",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,10}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn status() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        200_u16, 201, 400, 401, 403, 404, 409, 429, 500, 502, 503,
    ])
}

#[test]
fn no_answer_body_panics_the_client_or_the_gateway() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let toss = runtime.block_on(Toss::start());
    let settled = std::sync::atomic::AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(json(), status()), |(body, status)| {
            // A payment and keys of its own per case: a case whose answer makes the gateway
            // resend (a 409) may really charge, and its replays must not meet the next case.
            let order_ref = GatewayOrderId::for_payment(PaymentId::new());
            let open = toss.authenticate(order_ref.as_str(), 10_000);
            let params = ConfirmParams {
                payment_key: open.payment_key.clone(),
                order_id: open.order_id.clone(),
                amount: won(10_000),
            };
            let request = ConfirmRequest::new(
                PaymentKey::new(open.payment_key.as_str()).unwrap(),
                order_ref.clone(),
                Money::new(10_000, Currency::KRW).unwrap(),
                UserId::new(),
                GatewayIdempotencyKey::new(format!("confirm:{order_ref}")).unwrap(),
            );
            let key = IdempotencyKey::new(format!("props:{order_ref}")).unwrap();
            runtime.block_on(async {
                let fake = toss.fake();
                let bytes = serde_json::to_vec(&body).unwrap();
                let respond = || FakeFault::Respond {
                    status,
                    body: bytes.clone(),
                };
                for op in [FakeOp::Confirm, FakeOp::Cancel, FakeOp::Lookup] {
                    fake.fail_next(op, respond());
                }
                let answers: [Result<_, TossError>; 3] = [
                    toss.client.confirm(&params, &key).await,
                    toss.client
                        .cancel(&open.payment_key, &CancelParams::full("props"), &key)
                        .await,
                    toss.client.payment(&open.payment_key).await,
                ];
                for answer in &answers {
                    if !(200..=299).contains(&status) {
                        prop_assert!(answer.is_err(), "{status}: {answer:?}");
                    }
                    if let Err(TossError::Api { code, .. }) = answer {
                        prop_assert_eq!(
                            Some(code.as_str()),
                            body.get("code").and_then(Value::as_str)
                        );
                    }
                }

                let lookups = fake.stats().lookups;
                fake.fail_next(FakeOp::Confirm, respond());
                fake.fail_next(FakeOp::Lookup, respond());
                let through_gateway = toss.gateway.confirm(&request).await;
                if let Ok(payment) = &through_gateway {
                    prop_assert_eq!(&payment.order_ref, &order_ref);
                    prop_assert_eq!(payment.total, request.amount);
                    settled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if fake.stats().lookups == lookups {
                    // The gateway did not look the payment up: use up the scripted answer.
                    let _ = toss.client.payment(&open.payment_key).await;
                }
                Ok::<(), TestCaseError>(())
            })
        })
        .unwrap();
    // Only a confirm the gateway reported as paid charged (after a 409 it resends for real).
    assert_eq!(
        toss.fake().stats().charges,
        settled.load(std::sync::atomic::Ordering::Relaxed)
    );
}
