//! Tests of `gateway`.

use super::*;
use crate::clock::{ManualClock, Timestamp};
use crate::ids::{PaymentId, UserId};
use crate::money::Currency;
use crate::ports::gateway::GatewayIdempotencyKey;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

#[tokio::test]
async fn latency_is_waited_on_the_sleeper_before_each_call() {
    let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
    let sleeper = crate::policy::ManualSleeper::new(clock.clone());
    let (gw, req) = setup(1_000);
    let gw = gw.with_latency(Duration::from_millis(800), Arc::new(sleeper.clone()));
    gw.confirm(&req).await.unwrap();
    gw.lookup(&req.order_ref).await.unwrap();
    assert_eq!(sleeper.slept(), vec![Duration::from_millis(800); 2]);
    assert_eq!(clock.now().as_millisecond(), 1_600);
}

fn setup(amount: i64) -> (FakeGateway, ConfirmRequest) {
    let gw = FakeGateway::new(Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH)));
    let order_ref = GatewayOrderId::for_payment(PaymentId::new());
    let payment_key = gw.open_session(&order_ref, krw(amount)).unwrap();
    let request = ConfirmRequest {
        payment_key,
        order_ref,
        amount: krw(amount),
        customer: UserId::new(),
        idempotency_key: GatewayIdempotencyKey::new("confirm:1").unwrap(),
    };
    (gw, request)
}

fn cancel(request: &ConfirmRequest, amount: Option<i64>, key: &str) -> CancelRequest {
    CancelRequest {
        payment_key: request.payment_key.clone(),
        amount: amount.map(krw),
        reason: "buyer asked".to_owned(),
        idempotency_key: GatewayIdempotencyKey::new(key).unwrap(),
    }
}

#[tokio::test]
async fn confirm_replays_by_key_and_charges_once() {
    let (gw, req) = setup(15_000);
    let first = gw.confirm(&req).await.unwrap();
    assert_eq!(first.status, GatewayStatus::Done);
    assert_eq!(gw.confirm(&req).await.unwrap(), first);
    let mut other_key = req.clone();
    other_key.idempotency_key = GatewayIdempotencyKey::new("confirm:2").unwrap();
    assert!(matches!(
        gw.confirm(&other_key).await,
        Err(GatewayError::AlreadyProcessed { .. })
    ));
    assert_eq!(gw.stats().charges, 1);
    assert_eq!(gw.stats().confirm_calls, 3);
}

#[tokio::test]
async fn tampered_amounts_and_unknown_sessions_are_rejected() {
    let (gw, req) = setup(15_000);
    let mut cheaper = req.clone();
    cheaper.amount = krw(100);
    assert!(
        matches!(gw.confirm(&cheaper).await, Err(GatewayError::Rejected { code, .. }) if code == "INVALID_REQUEST")
    );
    let mut unknown = req.clone();
    unknown.payment_key = PaymentKey::new("nope").unwrap();
    assert!(
        matches!(gw.confirm(&unknown).await, Err(GatewayError::Rejected { code, .. }) if code == "NOT_FOUND_PAYMENT_SESSION")
    );
    assert_eq!(gw.stats().charges, 0);
    assert_eq!(
        gw.payment(&req.order_ref).unwrap().status,
        GatewayStatus::InProgress
    );
}

#[tokio::test]
async fn scripted_faults_play_in_order() {
    let (gw, req) = setup(10_000);
    gw.fail_next(
        GatewayOp::Confirm,
        Fault::Transient("PROVIDER_ERROR".into()),
    );
    gw.fail_next(
        GatewayOp::Confirm,
        Fault::Reject("REJECT_CARD_PAYMENT".into()),
    );
    assert!(matches!(
        gw.confirm(&req).await,
        Err(GatewayError::Retryable { .. })
    ));
    assert!(matches!(
        gw.confirm(&req).await,
        Err(GatewayError::Rejected { .. })
    ));
    assert_eq!(gw.stats().charges, 0);
    assert!(gw.confirm(&req).await.is_ok());
    assert_eq!(gw.stats().charges, 1);
}

#[tokio::test]
async fn timeout_after_charging_is_unknown_then_visible_by_lookup_and_replay() {
    let (gw, req) = setup(10_000);
    gw.fail_next(GatewayOp::Confirm, Fault::TimeoutAfterProcessing);
    assert!(matches!(
        gw.confirm(&req).await,
        Err(GatewayError::Unknown { .. })
    ));
    assert_eq!(
        gw.lookup(&req.order_ref).await.unwrap().status,
        GatewayStatus::Done
    );
    assert_eq!(gw.confirm(&req).await.unwrap().status, GatewayStatus::Done);
    assert_eq!(gw.stats().charges, 1, "never charged twice");
}

#[tokio::test]
async fn partial_cancels_accumulate_and_never_exceed_the_balance() {
    let (gw, req) = setup(10_000);
    gw.confirm(&req).await.unwrap();
    let p = gw
        .cancel(&cancel(&req, Some(3_000), "refund:1"))
        .await
        .unwrap();
    assert_eq!(
        (p.status, p.balance),
        (GatewayStatus::PartialCanceled, krw(7_000))
    );
    // The lost answer of a partial refund, retried with its key: refunded once.
    gw.fail_next(GatewayOp::Cancel, Fault::TimeoutAfterProcessing);
    assert!(matches!(
        gw.cancel(&cancel(&req, Some(2_000), "refund:2")).await,
        Err(GatewayError::Unknown { .. })
    ));
    let p = gw
        .cancel(&cancel(&req, Some(2_000), "refund:2"))
        .await
        .unwrap();
    assert_eq!(p.balance, krw(5_000));
    assert_eq!(gw.stats().refunds, 2);
    assert!(matches!(
        gw.cancel(&cancel(&req, Some(5_001), "refund:3")).await,
        Err(GatewayError::Rejected { code, .. }) if code == "NOT_CANCELABLE_AMOUNT"
    ));
    let p = gw.cancel(&cancel(&req, None, "refund:4")).await.unwrap();
    assert_eq!(
        (p.status, p.balance, p.cancels.len()),
        (GatewayStatus::Canceled, krw(0), 3)
    );
    assert!(matches!(
        gw.cancel(&cancel(&req, Some(1), "refund:5")).await,
        Err(GatewayError::Rejected { .. })
    ));
}

#[tokio::test]
async fn refusals_are_forgotten_or_kept_under_their_key() {
    for keep in [false, true] {
        let (gw, req) = setup(10_000);
        gw.keep_refusals(keep);
        gw.confirm(&req).await.unwrap();
        gw.fail_next(GatewayOp::Cancel, Fault::Reject("REFUND_REJECTED".into()));
        let refund = cancel(&req, Some(4_000), "refund:1");
        let refused = gw.cancel(&refund).await;
        assert!(
            matches!(&refused, Err(GatewayError::Rejected { code, .. }) if code == "REFUND_REJECTED")
        );
        let again = gw.cancel(&refund).await;
        if keep {
            assert_eq!(again, refused, "the kept refusal is replayed");
            assert_eq!(gw.stats().refunds, 0);
        } else {
            assert_eq!(again.unwrap().balance, krw(6_000), "processed afresh");
            assert_eq!(gw.stats().refunds, 1);
        }
        // A real refusal is kept too, and a new key is a new request.
        let too_much = cancel(&req, Some(20_000), "refund:2");
        assert!(gw.cancel(&too_much).await.is_err());
        assert!(gw.cancel(&too_much).await.is_err());
        assert!(
            gw.cancel(&cancel(&req, Some(1_000), "refund:3"))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn aimed_faults_hit_their_payment_only_and_first() {
    let (gw, mine) = setup(10_000);
    let other_ref = GatewayOrderId::for_payment(PaymentId::new());
    let other_key = gw.open_session(&other_ref, krw(5_000)).unwrap();
    let other = ConfirmRequest {
        payment_key: other_key,
        order_ref: other_ref,
        amount: krw(5_000),
        customer: UserId::new(),
        idempotency_key: GatewayIdempotencyKey::new("confirm:other").unwrap(),
    };
    gw.fail_next(GatewayOp::Confirm, Fault::Transient("GENERAL".into()));
    gw.fail_next_for(
        GatewayOp::Confirm,
        &mine.order_ref,
        Fault::Reject("AIMED".into()),
    );
    // The other payment meets only the general fault.
    assert!(
        matches!(gw.confirm(&other).await, Err(GatewayError::Retryable { code, .. }) if code == "GENERAL")
    );
    assert!(gw.confirm(&other).await.is_ok());
    assert!(
        matches!(gw.confirm(&mine).await, Err(GatewayError::Rejected { code, .. }) if code == "AIMED")
    );
    assert!(gw.confirm(&mine).await.is_ok());
    // A cancel is matched to its payment by the payment key.
    gw.fail_next_for(
        GatewayOp::Cancel,
        &mine.order_ref,
        Fault::TimeoutAfterProcessing,
    );
    assert!(
        gw.cancel(&cancel(&other, Some(1_000), "refund:o"))
            .await
            .is_ok()
    );
    assert!(matches!(
        gw.cancel(&cancel(&mine, Some(1_000), "refund:m")).await,
        Err(GatewayError::Unknown { .. })
    ));
    assert_eq!(gw.payment(&mine.order_ref).unwrap().balance, krw(9_000));
}

#[tokio::test]
async fn lookup_of_unknown_order_is_not_found() {
    let (gw, _) = setup(1);
    let other = GatewayOrderId::for_payment(PaymentId::new());
    assert_eq!(gw.lookup(&other).await, Err(GatewayError::NotFound));
}
