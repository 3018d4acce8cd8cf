//! Tests of `points`.

use super::*;
use crate::clock::{ManualClock, Timestamp};
use crate::ids::{PaymentId, UserId};
use crate::memory::MemoryWalletStore;
use crate::money::Currency;
use crate::ports::gateway::GatewayIdempotencyKey;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

async fn funded(balance: i64) -> (PointsGateway, Arc<MemoryWalletStore>, UserId) {
    let wallet = Arc::new(MemoryWalletStore::new());
    let clock = Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH));
    let user = UserId::new();
    let topup = LedgerRef::new("topup:1").unwrap();
    wallet
        .credit(user, krw(balance), &topup, clock.now())
        .await
        .unwrap();
    (PointsGateway::new(wallet.clone(), clock), wallet, user)
}

fn confirm_request(user: UserId, amount: i64) -> ConfirmRequest {
    let order_ref = GatewayOrderId::for_payment(PaymentId::new());
    ConfirmRequest {
        payment_key: PointsGateway::payment_key(&order_ref).unwrap(),
        order_ref,
        amount: krw(amount),
        customer: user,
        idempotency_key: GatewayIdempotencyKey::new("confirm:1").unwrap(),
    }
}

fn cancel_request(confirm: &ConfirmRequest, amount: Option<i64>, key: &str) -> CancelRequest {
    CancelRequest {
        payment_key: confirm.payment_key.clone(),
        amount: amount.map(krw),
        reason: "refund".to_owned(),
        idempotency_key: GatewayIdempotencyKey::new(key).unwrap(),
    }
}

#[tokio::test]
async fn pays_refunds_and_rebuilds_from_the_ledger() {
    let (gw, wallet, user) = funded(50_000).await;
    let req = confirm_request(user, 30_000);
    let paid = gw.confirm(&req).await.unwrap();
    assert_eq!(
        (paid.status, paid.balance),
        (GatewayStatus::Done, krw(30_000))
    );
    assert_eq!(
        gw.confirm(&req).await.unwrap(),
        paid,
        "a repeat debits nothing more"
    );
    assert_eq!(
        wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(20_000)
    );

    let p = gw
        .cancel(&cancel_request(&req, Some(10_000), "refund:1"))
        .await
        .unwrap();
    assert_eq!(
        (p.status, p.balance),
        (GatewayStatus::PartialCanceled, krw(20_000))
    );
    let again = gw
        .cancel(&cancel_request(&req, Some(10_000), "refund:1"))
        .await
        .unwrap();
    assert_eq!(again, p, "a retried refund is applied once");
    assert!(matches!(
        gw.cancel(&cancel_request(&req, Some(20_001), "refund:2")).await,
        Err(GatewayError::Rejected { code, .. }) if code == "NOT_CANCELABLE_AMOUNT"
    ));
    let p = gw
        .cancel(&cancel_request(&req, None, "refund:3"))
        .await
        .unwrap();
    assert_eq!(
        (p.status, p.balance, p.cancels.len()),
        (GatewayStatus::Canceled, krw(0), 2)
    );
    assert_eq!(
        wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(50_000)
    );
    assert_eq!(gw.lookup(&req.order_ref).await.unwrap(), p);
}

#[tokio::test]
async fn insufficient_points_are_a_final_rejection_and_move_nothing() {
    let (gw, wallet, user) = funded(1_000).await;
    let req = confirm_request(user, 1_001);
    assert!(
        matches!(gw.confirm(&req).await, Err(GatewayError::Rejected { code, .. }) if code == "INSUFFICIENT_POINTS")
    );
    assert_eq!(gw.lookup(&req.order_ref).await, Err(GatewayError::NotFound));
    assert_eq!(
        wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(1_000)
    );
}

#[tokio::test]
async fn foreign_payment_keys_are_refused() {
    let (gw, _, user) = funded(1_000).await;
    let mut req = confirm_request(user, 500);
    req.payment_key = PaymentKey::new("points_someoneelse").unwrap();
    assert!(matches!(
        gw.confirm(&req).await,
        Err(GatewayError::Rejected { .. })
    ));
    let bogus = CancelRequest {
        payment_key: PaymentKey::new("card_123").unwrap(),
        amount: None,
        reason: "x".to_owned(),
        idempotency_key: GatewayIdempotencyKey::new("k").unwrap(),
    };
    assert_eq!(gw.cancel(&bogus).await, Err(GatewayError::NotFound));
}

/// Concurrent refunds of one payment with distinct keys never return more than was paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_never_exceed_the_charge() {
    for _ in 0..50 {
        let (gw, wallet, user) = funded(10_000).await;
        let gw = Arc::new(gw);
        let req = confirm_request(user, 10_000);
        gw.confirm(&req).await.unwrap();
        let tasks = (0..8).map(|i| {
            let gw = Arc::clone(&gw);
            let cancel = cancel_request(&req, Some(3_000), &format!("refund:{i}"));
            tokio::spawn(async move { gw.cancel(&cancel).await })
        });
        for t in tasks {
            let _ = t.await.unwrap();
        }
        let p = gw.lookup(&req.order_ref).await.unwrap();
        let refunded: i64 = p.cancels.iter().map(|c| c.amount.minor()).sum();
        assert!(refunded <= 10_000);
        assert_eq!(p.balance, krw(10_000 - refunded));
        assert_eq!(
            wallet.balance(user, Currency::KRW).await.unwrap(),
            krw(refunded)
        );
    }
}
