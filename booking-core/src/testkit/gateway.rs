//! The [`PaymentGateway`] suite: the port's contract, checked on any gateway.
//!
//! A gateway backend provides a [`GatewayHarness`] — the gateway plus what only a test can do:
//! play the buyer's authentication in the payment window, script a fault on the next call,
//! count the money moved — and a [`GatewayHarnessFactory`] that builds a fresh one per test.
//! Then one macro call runs every case:
//!
//! ```ignore
//! booking_core::gateway_conformance_tests!(my_backend::HarnessFactory);
//! ```
//!
//! The contract the cases check: a confirm collects exactly the authenticated amount and a
//! tampered amount is refused; confirm and cancel are idempotent by key (a repeat, also a
//! concurrent one, moves no more money); partial cancels add up and never pass the balance;
//! `lookup` tells the truth; transient failures are `Retryable` and move nothing, final ones
//! are `Rejected`; an outcome lost after processing is settled by `lookup` and a resend with
//! the same key, never by moving money again. Fault codes are Toss's (`PROVIDER_ERROR`,
//! `REJECT_CARD_PAYMENT`, …), the vocabulary of [`GatewayError`]'s codes.
//!
//! [`MemoryGatewayHarness`] runs the suite on booking-core's [`FakeGateway`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::fixtures::krw;
use super::start_time;
use crate::clock::ManualClock;
use crate::ids::{PaymentId, UserId};
use crate::memory::{FakeGateway, Fault, GatewayOp};
use crate::money::Money;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayIdempotencyKey, GatewayOrderId,
    GatewayPayment, GatewayStatus, PaymentGateway, PaymentKey,
};

/// Money a gateway moved, as counted by its harness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyMoves {
    /// Confirms that collected money.
    pub charges: u64,
    /// Cancels that returned money.
    pub refunds: u64,
}

/// A gateway under test, with the buyer's step and scripted faults.
#[async_trait]
pub trait GatewayHarness: Send + Sync + 'static {
    /// The gateway under test.
    fn gateway(&self) -> Arc<dyn PaymentGateway>;

    /// The buyer authenticates a payment of `amount` for `order_ref` in the gateway's window;
    /// returns the payment key the success redirect would carry.
    async fn authenticate(&self, order_ref: &GatewayOrderId, amount: Money) -> PaymentKey;

    /// Plays `fault` on the next call of `op` (faults queue in order):
    /// [`Fault::Transient`] and [`Fault::Reject`] answer with their code and move nothing;
    /// [`Fault::TimeoutBeforeProcessing`] loses the request, [`Fault::TimeoutAfterProcessing`]
    /// processes it and loses the answer.
    async fn fail_next(&self, op: GatewayOp, fault: Fault);

    /// The money moved so far.
    async fn money_moves(&self) -> MoneyMoves;
}

/// Builds a fresh [`GatewayHarness`] per test.
#[async_trait]
pub trait GatewayHarnessFactory: Send + Sync + 'static {
    /// A new harness reading time from `clock`, or `None` when its server is not configured
    /// and this is not CI (print one `skipped: …` line before returning).
    async fn harness(&self, clock: ManualClock) -> Option<Arc<dyn GatewayHarness>>;
}

/// booking-core's [`FakeGateway`] as a harness.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryGatewayHarness;

/// The harness of one [`FakeGateway`].
#[derive(Debug, Clone)]
struct FakeGatewayHarness(FakeGateway);

#[async_trait]
impl GatewayHarness for FakeGatewayHarness {
    fn gateway(&self) -> Arc<dyn PaymentGateway> {
        Arc::new(self.0.clone())
    }

    async fn authenticate(&self, order_ref: &GatewayOrderId, amount: Money) -> PaymentKey {
        self.0.open_session(order_ref, amount).unwrap()
    }

    async fn fail_next(&self, op: GatewayOp, fault: Fault) {
        self.0.fail_next(op, fault);
    }

    async fn money_moves(&self) -> MoneyMoves {
        let stats = self.0.stats();
        MoneyMoves {
            charges: stats.charges,
            refunds: stats.refunds,
        }
    }
}

#[async_trait]
impl GatewayHarnessFactory for MemoryGatewayHarness {
    async fn harness(&self, clock: ManualClock) -> Option<Arc<dyn GatewayHarness>> {
        Some(Arc::new(FakeGatewayHarness(FakeGateway::new(Arc::new(
            clock,
        )))))
    }
}

/// A gateway suite test, boxed so the macro can pass any of them to [`run_gateway`].
pub type GatewaySuiteFn = fn(Arc<dyn GatewayHarness>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs one gateway suite test on a fresh harness from `factory`, on a two-thread tokio
/// runtime.
///
/// # Panics
/// If the runtime cannot be built, or the test fails.
pub fn run_gateway<F: GatewayHarnessFactory>(factory: &F, name: &str, test: GatewaySuiteFn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime for the gateway conformance test");
    runtime.block_on(async {
        let Some(harness) = factory.harness(ManualClock::new(start_time())).await else {
            return;
        };
        tracing::debug!(test = name, "gateway conformance test");
        test(harness).await;
    });
}

/// Runs the whole gateway suite against the harnesses `$factory` builds: one `#[test]` per
/// case, in a module named `gateway_suite`. Invoke it at the top level of an integration test.
#[macro_export]
macro_rules! gateway_conformance_tests {
    ($factory:expr) => {
        mod gateway_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__gateway_cases!($factory;
                gateway_confirms_exactly_the_authenticated_amount,
                gateway_refuses_a_tampered_amount,
                gateway_confirm_is_idempotent_by_key,
                gateway_concurrent_confirms_charge_once,
                gateway_partial_cancels_add_up_within_the_balance,
                gateway_cancel_is_idempotent_by_key,
                gateway_lookup_tells_the_truth,
                gateway_transient_errors_move_nothing,
                gateway_final_errors_are_rejections,
                gateway_lost_confirm_answer_is_settled_by_lookup,
                gateway_lost_cancel_answer_is_settled_by_lookup,
                gateway_request_lost_before_processing_moves_nothing,
            );
        }
    };
}

/// One `#[test]` per listed gateway case (used by [`gateway_conformance_tests!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __gateway_cases {
    ($factory:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::gateway::run_gateway(&$factory, stringify!($name), |harness| {
                    ::std::boxed::Box::pin($crate::testkit::gateway::$name(harness))
                });
            }
        )+
    };
}

/// A fresh order id for one payment attempt.
fn order_ref() -> GatewayOrderId {
    GatewayOrderId::for_payment(PaymentId::new())
}

fn key(text: &str) -> GatewayIdempotencyKey {
    GatewayIdempotencyKey::new(text).unwrap()
}

/// A confirm of `amount` won with idempotency key `idempotency`.
fn confirm(
    order: &GatewayOrderId,
    payment: &PaymentKey,
    amount: i64,
    idempotency: &str,
) -> ConfirmRequest {
    ConfirmRequest {
        payment_key: payment.clone(),
        order_ref: order.clone(),
        amount: krw(amount),
        customer: UserId::new(),
        idempotency_key: key(idempotency),
    }
}

/// A cancel of `amount` won (all that is left for `None`) with key `idempotency`.
fn cancel(payment: &PaymentKey, amount: Option<i64>, idempotency: &str) -> CancelRequest {
    CancelRequest {
        payment_key: payment.clone(),
        amount: amount.map(krw),
        reason: "the buyer asked".to_owned(),
        idempotency_key: key(idempotency),
    }
}

/// A payment of `amount` won authenticated and confirmed; returns its order id and key.
async fn paid(h: &Arc<dyn GatewayHarness>, amount: i64) -> (GatewayOrderId, PaymentKey) {
    let order = order_ref();
    let payment = h.authenticate(&order, krw(amount)).await;
    let done = h
        .gateway()
        .confirm(&confirm(
            &order,
            &payment,
            amount,
            &format!("confirm:{order}"),
        ))
        .await
        .unwrap();
    assert_eq!(done.status, GatewayStatus::Done);
    (order, payment)
}

fn charged(status: GatewayStatus) -> bool {
    matches!(
        status,
        GatewayStatus::Done | GatewayStatus::PartialCanceled | GatewayStatus::Canceled
    )
}

/// The payment collected `amount` won and nothing was cancelled.
fn assert_collected(
    payment: &GatewayPayment,
    order: &GatewayOrderId,
    key: &PaymentKey,
    amount: i64,
) {
    assert_eq!(payment.status, GatewayStatus::Done);
    assert_eq!(&payment.order_ref, order);
    assert_eq!(&payment.payment_key, key);
    assert_eq!(payment.total, krw(amount));
    assert_eq!(payment.balance, krw(amount));
    assert!(payment.cancels.is_empty());
}

/// A confirm collects exactly the authenticated amount, and the look-up agrees.
pub async fn gateway_confirms_exactly_the_authenticated_amount(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(15_000)).await;
    let done = gw
        .confirm(&confirm(&order, &payment, 15_000, "confirm:exact"))
        .await
        .unwrap();
    assert_collected(&done, &order, &payment, 15_000);
    assert!(done.approved_at.is_some(), "an approval has a time");
    let seen = gw.lookup(&order).await.unwrap();
    assert_collected(&seen, &order, &payment, 15_000);
    assert_eq!(h.money_moves().await.charges, 1);
}

/// A confirm for another amount than the authenticated one (a tampered success URL), or of
/// another order's payment, is refused and collects nothing; the right confirm still works.
pub async fn gateway_refuses_a_tampered_amount(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(15_000)).await;
    for (amount, idempotency) in [(1_500, "confirm:low"), (15_001, "confirm:high")] {
        let refused = gw
            .confirm(&confirm(&order, &payment, amount, idempotency))
            .await;
        assert!(
            matches!(
                refused,
                Err(GatewayError::Rejected { .. } | GatewayError::InvalidRequest(_))
            ),
            "{amount}: {refused:?}"
        );
    }
    let other_order = order_ref();
    h.authenticate(&other_order, krw(15_000)).await;
    let borrowed = gw
        .confirm(&confirm(&other_order, &payment, 15_000, "confirm:borrowed"))
        .await;
    assert!(
        matches!(borrowed, Err(GatewayError::Rejected { .. })),
        "{borrowed:?}"
    );
    assert_eq!(h.money_moves().await.charges, 0);
    let seen = gw.lookup(&order).await.unwrap();
    assert!(!charged(seen.status), "{:?}", seen.status);
    let done = gw
        .confirm(&confirm(&order, &payment, 15_000, "confirm:right"))
        .await
        .unwrap();
    assert_collected(&done, &order, &payment, 15_000);
    assert_eq!(h.money_moves().await.charges, 1);
}

/// A repeat of a confirm with its key answers with the payment and moves no more money; a
/// confirm of the same payment under another key moves none either.
pub async fn gateway_confirm_is_idempotent_by_key(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(20_000)).await;
    let request = confirm(&order, &payment, 20_000, "confirm:once");
    let first = gw.confirm(&request).await.unwrap();
    let again = gw.confirm(&request).await.unwrap();
    assert_collected(&first, &order, &payment, 20_000);
    assert_collected(&again, &order, &payment, 20_000);
    let other_key = gw
        .confirm(&confirm(&order, &payment, 20_000, "confirm:twice"))
        .await;
    match other_key {
        Ok(done) => assert_collected(&done, &order, &payment, 20_000),
        Err(GatewayError::AlreadyProcessed { .. }) => {}
        Err(e) => panic!("a second key for a paid payment: {e:?}"),
    }
    assert_eq!(h.money_moves().await.charges, 1);
}

/// Ten concurrent confirms of one payment with one key (a double click, a client retry):
/// one charge. Each answers with the payment, or — while the first is in flight — is told to
/// come back (`Retryable`) or that its outcome is open (`Unknown`); a later repeat answers
/// with the payment.
pub async fn gateway_concurrent_confirms_charge_once(h: Arc<dyn GatewayHarness>) {
    for round in 0..5 {
        let order = order_ref();
        let payment = h.authenticate(&order, krw(9_900)).await;
        let request = confirm(&order, &payment, 9_900, &format!("confirm:race:{round}"));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let gw = h.gateway();
                let request = request.clone();
                tokio::spawn(async move { gw.confirm(&request).await })
            })
            .collect();
        let mut answered = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(done) => {
                    assert_collected(&done, &order, &payment, 9_900);
                    answered += 1;
                }
                Err(GatewayError::Retryable { .. } | GatewayError::Unknown { .. }) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert!(answered >= 1, "round {round}: one confirm gets the payment");
        let later = h.gateway().confirm(&request).await.unwrap();
        assert_collected(&later, &order, &payment, 9_900);
        assert_eq!(h.money_moves().await.charges, round + 1, "round {round}");
    }
}

/// Partial cancels reduce the balance one by one, a cancel above the balance is refused and
/// changes nothing, a full cancel takes what is left, and nothing can be cancelled after.
pub async fn gateway_partial_cancels_add_up_within_the_balance(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let (order, payment) = paid(&h, 10_000).await;
    let first = gw
        .cancel(&cancel(&payment, Some(3_000), "refund:1"))
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.balance, first.cancels.len()),
        (GatewayStatus::PartialCanceled, krw(7_000), 1)
    );
    let second = gw
        .cancel(&cancel(&payment, Some(2_500), "refund:2"))
        .await
        .unwrap();
    assert_eq!((second.balance, second.cancels.len()), (krw(4_500), 2));
    let too_much = gw.cancel(&cancel(&payment, Some(4_501), "refund:3")).await;
    assert!(
        matches!(too_much, Err(GatewayError::Rejected { .. })),
        "{too_much:?}"
    );
    assert_eq!(gw.lookup(&order).await.unwrap().balance, krw(4_500));
    let rest = gw
        .cancel(&cancel(&payment, None, "refund:4"))
        .await
        .unwrap();
    assert_eq!(
        (rest.status, rest.balance, rest.cancels.len()),
        (GatewayStatus::Canceled, krw(0), 3)
    );
    let returned: Vec<Money> = rest.cancels.iter().map(|c| c.amount).collect();
    assert_eq!(returned, [krw(3_000), krw(2_500), krw(4_500)]);
    let after = gw.cancel(&cancel(&payment, Some(1), "refund:5")).await;
    assert!(
        matches!(after, Err(GatewayError::Rejected { .. })),
        "{after:?}"
    );
    assert_eq!(h.money_moves().await.refunds, 3);
}

/// A repeat of a cancel with its key — one after the other, or ten at once — returns money
/// once (a concurrent repeat may be told to come back, or that its outcome is open).
pub async fn gateway_cancel_is_idempotent_by_key(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let (order, payment) = paid(&h, 10_000).await;
    let request = cancel(&payment, Some(3_000), "refund:once");
    let first = gw.cancel(&request).await.unwrap();
    let again = gw.cancel(&request).await.unwrap();
    assert_eq!((first.balance, again.balance), (krw(7_000), krw(7_000)));
    assert_eq!(h.money_moves().await.refunds, 1);
    let concurrent = cancel(&payment, Some(2_000), "refund:race");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let gw = h.gateway();
            let request = concurrent.clone();
            tokio::spawn(async move { gw.cancel(&request).await })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            Ok(answer) => assert_eq!(answer.balance, krw(5_000)),
            Err(GatewayError::Retryable { .. } | GatewayError::Unknown { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    let seen = gw.lookup(&order).await.unwrap();
    assert_eq!((seen.balance, seen.cancels.len()), (krw(5_000), 2));
    assert_eq!(h.money_moves().await.refunds, 2);
}

/// The look-up reports each stage as it is: unknown order, authenticated, approved,
/// partly and fully cancelled, cancels adding up to what left the balance.
pub async fn gateway_lookup_tells_the_truth(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    assert_eq!(gw.lookup(&order_ref()).await, Err(GatewayError::NotFound));
    let order = order_ref();
    let payment = h.authenticate(&order, krw(12_345)).await;
    let open = gw.lookup(&order).await.unwrap();
    assert!(
        matches!(
            open.status,
            GatewayStatus::Ready | GatewayStatus::InProgress
        ),
        "{:?}",
        open.status
    );
    assert_eq!((open.total, &open.payment_key), (krw(12_345), &payment));
    gw.confirm(&confirm(&order, &payment, 12_345, "confirm:truth"))
        .await
        .unwrap();
    let done = gw.lookup(&order).await.unwrap();
    assert_collected(&done, &order, &payment, 12_345);
    gw.cancel(&cancel(&payment, Some(345), "refund:truth:1"))
        .await
        .unwrap();
    let part = gw.lookup(&order).await.unwrap();
    assert_eq!(
        (part.status, part.balance),
        (GatewayStatus::PartialCanceled, krw(12_000))
    );
    gw.cancel(&cancel(&payment, None, "refund:truth:2"))
        .await
        .unwrap();
    let all = gw.lookup(&order).await.unwrap();
    assert_eq!(
        (all.status, all.balance, all.total),
        (GatewayStatus::Canceled, krw(0), krw(12_345))
    );
    let returned = Money::sum(krw(0).currency(), all.cancels.iter().map(|c| c.amount)).unwrap();
    assert_eq!(returned, krw(12_345));
}

/// A transient failure is `Retryable` and moves nothing; the resend with the same key does
/// the work once.
pub async fn gateway_transient_errors_move_nothing(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(8_000)).await;
    let request = confirm(&order, &payment, 8_000, "confirm:transient");
    h.fail_next(
        GatewayOp::Confirm,
        Fault::Transient("PROVIDER_ERROR".to_owned()),
    )
    .await;
    let failed = gw.confirm(&request).await;
    assert!(
        matches!(&failed, Err(GatewayError::Retryable { code, .. }) if code == "PROVIDER_ERROR"),
        "{failed:?}"
    );
    assert_eq!(h.money_moves().await.charges, 0);
    assert!(!charged(gw.lookup(&order).await.unwrap().status));
    assert_collected(
        &gw.confirm(&request).await.unwrap(),
        &order,
        &payment,
        8_000,
    );
    assert_eq!(h.money_moves().await.charges, 1);

    let refund = cancel(&payment, Some(1_000), "refund:transient");
    h.fail_next(
        GatewayOp::Cancel,
        Fault::Transient("FAILED_INTERNAL_SYSTEM_PROCESSING".to_owned()),
    )
    .await;
    let failed = gw.cancel(&refund).await;
    assert!(
        matches!(failed, Err(GatewayError::Retryable { .. })),
        "{failed:?}"
    );
    assert_eq!(h.money_moves().await.refunds, 0);
    assert_eq!(gw.lookup(&order).await.unwrap().balance, krw(8_000));
    assert_eq!(gw.cancel(&refund).await.unwrap().balance, krw(7_000));
    assert_eq!(h.money_moves().await.refunds, 1);
}

/// A final refusal is `Rejected` with the gateway's code and moves nothing.
pub async fn gateway_final_errors_are_rejections(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(8_000)).await;
    h.fail_next(
        GatewayOp::Confirm,
        Fault::Reject("REJECT_CARD_PAYMENT".to_owned()),
    )
    .await;
    let refused = gw
        .confirm(&confirm(&order, &payment, 8_000, "confirm:declined"))
        .await;
    assert!(
        matches!(&refused, Err(GatewayError::Rejected { code, .. }) if code == "REJECT_CARD_PAYMENT"),
        "{refused:?}"
    );
    assert_eq!(h.money_moves().await.charges, 0);
    assert!(!charged(gw.lookup(&order).await.unwrap().status));

    let (order, payment) = paid(&h, 6_000).await;
    h.fail_next(
        GatewayOp::Cancel,
        Fault::Reject("NOT_CANCELABLE_PAYMENT".to_owned()),
    )
    .await;
    let refused = gw
        .cancel(&cancel(&payment, Some(1_000), "refund:refused"))
        .await;
    assert!(
        matches!(&refused, Err(GatewayError::Rejected { code, .. }) if code == "NOT_CANCELABLE_PAYMENT"),
        "{refused:?}"
    );
    assert_eq!(h.money_moves().await.refunds, 0);
    assert_eq!(gw.lookup(&order).await.unwrap().balance, krw(6_000));
}

/// The confirm is processed and its answer lost: the gateway answers with the payment (it
/// settled the outcome itself) or with an unknown outcome; the look-up shows the charge, and
/// the resend with the same key answers with the payment without charging again.
pub async fn gateway_lost_confirm_answer_is_settled_by_lookup(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(30_000)).await;
    let request = confirm(&order, &payment, 30_000, "confirm:lost");
    h.fail_next(GatewayOp::Confirm, Fault::TimeoutAfterProcessing)
        .await;
    match gw.confirm(&request).await {
        Ok(done) => assert_collected(&done, &order, &payment, 30_000),
        Err(GatewayError::Unknown { .. } | GatewayError::AlreadyProcessed { .. }) => {}
        Err(e) => panic!("a lost answer is not {e:?}"),
    }
    assert_collected(&gw.lookup(&order).await.unwrap(), &order, &payment, 30_000);
    assert_collected(
        &gw.confirm(&request).await.unwrap(),
        &order,
        &payment,
        30_000,
    );
    assert_eq!(h.money_moves().await.charges, 1);
}

/// The cancel is processed and its answer lost: the look-up shows it applied, and the resend
/// with the same key returns no more money.
pub async fn gateway_lost_cancel_answer_is_settled_by_lookup(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let (order, payment) = paid(&h, 10_000).await;
    let refund = cancel(&payment, Some(4_000), "refund:lost");
    h.fail_next(GatewayOp::Cancel, Fault::TimeoutAfterProcessing)
        .await;
    match gw.cancel(&refund).await {
        Ok(answer) => assert_eq!(answer.balance, krw(6_000)),
        Err(GatewayError::Unknown { .. }) => {}
        Err(e) => panic!("a lost answer is not {e:?}"),
    }
    let seen = gw.lookup(&order).await.unwrap();
    assert_eq!((seen.balance, seen.cancels.len()), (krw(6_000), 1));
    assert_eq!(gw.cancel(&refund).await.unwrap().balance, krw(6_000));
    assert_eq!(h.money_moves().await.refunds, 1);
}

/// The request is lost before the gateway processed it: the caller cannot tell (unknown, or
/// retryable), the look-up shows nothing collected, and the resend with the same key does the
/// work once.
pub async fn gateway_request_lost_before_processing_moves_nothing(h: Arc<dyn GatewayHarness>) {
    let gw = h.gateway();
    let order = order_ref();
    let payment = h.authenticate(&order, krw(5_000)).await;
    let request = confirm(&order, &payment, 5_000, "confirm:dropped");
    h.fail_next(GatewayOp::Confirm, Fault::TimeoutBeforeProcessing)
        .await;
    let lost = gw.confirm(&request).await;
    assert!(
        matches!(
            lost,
            Err(GatewayError::Unknown { .. } | GatewayError::Retryable { .. })
        ),
        "{lost:?}"
    );
    assert!(!charged(gw.lookup(&order).await.unwrap().status));
    assert_eq!(h.money_moves().await.charges, 0);
    assert_collected(
        &gw.confirm(&request).await.unwrap(),
        &order,
        &payment,
        5_000,
    );
    assert_eq!(h.money_moves().await.charges, 1);
}
