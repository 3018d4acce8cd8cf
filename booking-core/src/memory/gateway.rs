//! [`FakeGateway`]: a scriptable card gateway in memory, for tests and demos.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, Timestamp};
use crate::money::Money;
use crate::policy::Sleeper;
use crate::ports::backend::gateway::validate_cancel_reason;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayCancel, GatewayError, GatewayIdempotencyKey,
    GatewayOrderId, GatewayPayment, GatewayStatus, PaymentGateway, PaymentKey,
};

/// Which gateway operation a scripted [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayOp {
    /// [`PaymentGateway::confirm`].
    Confirm,
    /// [`PaymentGateway::cancel`].
    Cancel,
    /// [`PaymentGateway::lookup`].
    Lookup,
}

/// A failure the fake plays once, on the next call of its operation (or of its operation for
/// one payment: [`FakeGateway::fail_next_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fails with [`GatewayError::Retryable`] and this code; nothing is processed.
    Transient(String),
    /// Fails with [`GatewayError::Rejected`] and this code; nothing is processed. Whether a
    /// repeat of the request under the same idempotency key is refused again or processed
    /// afresh depends on [`FakeGateway::keep_refusals`].
    Reject(String),
    /// The request is lost on the way: [`GatewayError::Unknown`], nothing is processed.
    TimeoutBeforeProcessing,
    /// The gateway processes the request (money moves) and the answer is lost:
    /// [`GatewayError::Unknown`]. A retry with the same idempotency key gets the stored answer.
    TimeoutAfterProcessing,
}

/// What the fake has done, for assertions such as "charged exactly once".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeGatewayStats {
    /// Calls to `confirm`, replays and failures included.
    pub confirm_calls: u64,
    /// Confirms that actually collected money.
    pub charges: u64,
    /// Calls to `cancel`, replays and failures included.
    pub cancel_calls: u64,
    /// Cancels that actually returned money.
    pub refunds: u64,
    /// Calls to `lookup`.
    pub lookups: u64,
}

/// A card gateway in memory that behaves like a real one where it matters:
///
/// - a payment must be authenticated first ([`open_session`](Self::open_session), the buyer's
///   step in the gateway's window) and is confirmed only for exactly that amount;
/// - confirm and cancel are idempotent by key: a repeat replays the first successful answer
///   (whatever its body) and moves no more money;
/// - a payment is charged at most once per order id (`ALREADY_PROCESSED_PAYMENT` otherwise);
/// - partial cancels never exceed the balance;
/// - a refusal is forgotten by default, so a repeat under the same idempotency key is
///   processed afresh; [`keep_refusals`](Self::keep_refusals) makes the fake keep refusals
///   under their key and replay them, as some gateways do;
/// - faults are scripted per operation ([`fail_next`](Self::fail_next)), or per operation on
///   one payment ([`fail_next_for`](Self::fail_next_for)), so tests can play transient errors,
///   rejections and timeouts after charging, in order, to the caller they mean;
/// - every call can be made slow ([`with_latency`](Self::with_latency)).
///
/// Clones share the same state.
#[derive(Debug, Clone)]
pub struct FakeGateway {
    state: Arc<Mutex<FakeState>>,
    clock: Arc<dyn Clock>,
    /// How long every call takes, and what it waits on.
    latency: Option<(Duration, Arc<dyn Sleeper>)>,
}

/// Identifies a stored answer: operation, payment key (for cancels), idempotency key.
type ReplyKey = (GatewayOp, Option<PaymentKey>, GatewayIdempotencyKey);

/// How a mutating call begins.
enum Start {
    /// The same request was answered before: answer as then.
    Replay(Result<GatewayPayment, GatewayError>),
    /// Go on, possibly with a fault to play after processing.
    Proceed(Option<Fault>),
}

#[derive(Debug, Default)]
struct FakeState {
    payments: HashMap<GatewayOrderId, GatewayPayment>,
    by_key: HashMap<PaymentKey, GatewayOrderId>,
    /// Answers replayed to repeats of the same request: successes, and refusals when they
    /// are kept.
    replies: HashMap<ReplyKey, Result<GatewayPayment, GatewayError>>,
    script: HashMap<GatewayOp, VecDeque<Fault>>,
    /// Faults aimed at one payment, played before the general script.
    aimed: HashMap<(GatewayOp, GatewayOrderId), VecDeque<Fault>>,
    keep_refusals: bool,
    stats: FakeGatewayStats,
    next_key: u64,
}

impl FakeState {
    fn next_fault(&mut self, op: GatewayOp, order_ref: Option<&GatewayOrderId>) -> Option<Fault> {
        if let Some(order_ref) = order_ref
            && let Some(fault) = self
                .aimed
                .get_mut(&(op, order_ref.clone()))
                .and_then(VecDeque::pop_front)
        {
            return Some(fault);
        }
        self.script.get_mut(&op).and_then(VecDeque::pop_front)
    }

    /// Replays a stored answer, plays a fault scripted to stop the call, or lets it proceed.
    fn start(
        &mut self,
        op: GatewayOp,
        key: &ReplyKey,
        order_ref: Option<&GatewayOrderId>,
    ) -> Result<Start, GatewayError> {
        if let Some(reply) = self.replies.get(key) {
            return Ok(Start::Replay(reply.clone()));
        }
        let fault = self.next_fault(op, order_ref);
        match fault.as_ref().and_then(fault_before) {
            Some(err) => Err(self.refused(key, err)),
            None => Ok(Start::Proceed(fault)),
        }
    }

    /// Keeps a refusal under its key when refusals are kept; hands the error back.
    fn refused(&mut self, key: &ReplyKey, err: GatewayError) -> GatewayError {
        if self.keep_refusals && matches!(err, GatewayError::Rejected { .. }) {
            self.replies.insert(key.clone(), Err(err.clone()));
        }
        err
    }

    /// Stores the answer for replays and hands it out, unless the fault loses it.
    fn finish(
        &mut self,
        key: ReplyKey,
        reply: Result<GatewayPayment, GatewayError>,
        fault: Option<Fault>,
    ) -> Result<GatewayPayment, GatewayError> {
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => return Err(self.refused(&key, err)),
        };
        self.replies.insert(key, Ok(reply.clone()));
        match fault {
            Some(Fault::TimeoutAfterProcessing) => Err(lost_answer()),
            _ => Ok(reply),
        }
    }

    /// Processes a confirm: approves the authenticated payment, or refuses.
    fn approve(
        &mut self,
        request: &ConfirmRequest,
        now: Timestamp,
    ) -> Result<GatewayPayment, GatewayError> {
        let not_found = || {
            rejected(
                "NOT_FOUND_PAYMENT_SESSION",
                "no authenticated payment for this key",
            )
        };
        let order_ref = self
            .by_key
            .get(&request.payment_key)
            .cloned()
            .ok_or_else(not_found)?;
        let payment = self.payments.get_mut(&order_ref).ok_or_else(not_found)?;
        if order_ref != request.order_ref || payment.total != request.amount {
            return Err(rejected(
                "INVALID_REQUEST",
                "order id or amount differs from the authenticated payment",
            ));
        }
        if payment.status != GatewayStatus::InProgress {
            return Err(GatewayError::AlreadyProcessed {
                code: "ALREADY_PROCESSED_PAYMENT".to_owned(),
            });
        }
        payment.status = GatewayStatus::Done;
        payment.approved_at = Some(now);
        let reply = payment.clone();
        self.stats.charges = self.stats.charges.saturating_add(1);
        Ok(reply)
    }

    /// Processes a cancel: returns all or part of the balance, or refuses.
    fn refund(
        &mut self,
        request: &CancelRequest,
        now: Timestamp,
    ) -> Result<GatewayPayment, GatewayError> {
        let transaction_key = self.mint_key("fake_cancel");
        let order_ref = self
            .by_key
            .get(&request.payment_key)
            .cloned()
            .ok_or(GatewayError::NotFound)?;
        let payment = self
            .payments
            .get_mut(&order_ref)
            .ok_or(GatewayError::NotFound)?;
        if !matches!(
            payment.status,
            GatewayStatus::Done | GatewayStatus::PartialCanceled
        ) {
            return Err(rejected(
                "NOT_CANCELABLE_PAYMENT",
                "the payment is not in a cancellable state",
            ));
        }
        let amount = request.amount.unwrap_or(payment.balance);
        if amount.is_zero() {
            return Err(rejected(
                "INVALID_REQUEST",
                "cancel amount must be positive",
            ));
        }
        let balance = payment
            .balance
            .checked_sub(amount)
            .map_err(|_| rejected("NOT_CANCELABLE_AMOUNT", "cancel amount exceeds the balance"))?;
        payment.balance = balance;
        payment.status = if balance.is_zero() {
            GatewayStatus::Canceled
        } else {
            GatewayStatus::PartialCanceled
        };
        payment.cancels.push(GatewayCancel {
            amount,
            reason: request.reason.clone(),
            transaction_key,
            canceled_at: now,
        });
        let reply = payment.clone();
        self.stats.refunds = self.stats.refunds.saturating_add(1);
        Ok(reply)
    }

    fn mint_key(&mut self, prefix: &str) -> String {
        self.next_key = self.next_key.saturating_add(1);
        format!("{prefix}_{:016x}", self.next_key)
    }
}

fn rejected(code: &str, message: &str) -> GatewayError {
    GatewayError::Rejected {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// Turns a scripted fault into its error, for the faults that stop a call before processing.
fn fault_before(fault: &Fault) -> Option<GatewayError> {
    match fault {
        Fault::Transient(code) => Some(GatewayError::Retryable {
            code: code.clone(),
            message: "scripted transient failure".to_owned(),
            retry_after: None,
        }),
        Fault::Reject(code) => Some(rejected(code, "scripted rejection")),
        Fault::TimeoutBeforeProcessing => Some(GatewayError::Unknown {
            reason: "timed out before the gateway processed the request".to_owned(),
        }),
        Fault::TimeoutAfterProcessing => None,
    }
}

fn lost_answer() -> GatewayError {
    GatewayError::Unknown {
        reason: "timed out after the gateway processed the request".to_owned(),
    }
}

impl FakeGateway {
    /// An empty fake that stamps times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        FakeGateway {
            state: Arc::default(),
            clock,
            latency: None,
        }
    }

    /// Makes every call take `latency`, waited on `sleeper` before the call is processed (so
    /// a `ManualSleeper` keeps tests in virtual time, a `TokioSleeper` makes it real).
    #[must_use]
    pub fn with_latency(mut self, latency: Duration, sleeper: Arc<dyn Sleeper>) -> Self {
        self.latency = Some((latency, sleeper));
        self
    }

    async fn travel(&self) {
        if let Some((latency, sleeper)) = &self.latency {
            sleeper.sleep(*latency).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // Each call finishes its writes before releasing the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The buyer authenticates a payment of `amount` for `order_ref` in the gateway's window;
    /// returns the payment key the success redirect would carry. Opening the same order id
    /// again returns the same key.
    pub fn open_session(
        &self,
        order_ref: &GatewayOrderId,
        amount: Money,
    ) -> Result<PaymentKey, GatewayError> {
        let mut state = self.lock();
        if let Some(existing) = state.payments.get(order_ref) {
            return Ok(existing.payment_key.clone());
        }
        let key = PaymentKey::new(state.mint_key("fake_pay"))?;
        state.by_key.insert(key.clone(), order_ref.clone());
        state.payments.insert(
            order_ref.clone(),
            GatewayPayment {
                payment_key: key.clone(),
                order_ref: order_ref.clone(),
                status: GatewayStatus::InProgress,
                total: amount,
                balance: amount,
                approved_at: None,
                cancels: Vec::new(),
            },
        );
        Ok(key)
    }

    /// Plays `fault` on the next call of `op` (faults queue up in order).
    pub fn fail_next(&self, op: GatewayOp, fault: Fault) {
        self.lock().script.entry(op).or_default().push_back(fault);
    }

    /// Plays `fault` on the next call of `op` for the payment of `order_ref` (a cancel is
    /// matched by its payment key), whoever makes it, before any fault of
    /// [`fail_next`](Self::fail_next). Faults for one payment queue up in order.
    pub fn fail_next_for(&self, op: GatewayOp, order_ref: &GatewayOrderId, fault: Fault) {
        self.lock()
            .aimed
            .entry((op, order_ref.clone()))
            .or_default()
            .push_back(fault);
    }

    /// Whether a refusal ([`GatewayError::Rejected`], scripted or real) is kept under the
    /// request's idempotency key and replayed to every repeat of that key, as some gateways
    /// do, or forgotten so that a repeat is processed afresh, as others do (the default). The
    /// service must be right under both.
    pub fn keep_refusals(&self, keep: bool) {
        self.lock().keep_refusals = keep;
    }

    /// Counters of what the fake has done.
    pub fn stats(&self) -> FakeGatewayStats {
        self.lock().stats
    }

    /// The fake's record for `order_ref`.
    pub fn payment(&self, order_ref: &GatewayOrderId) -> Option<GatewayPayment> {
        self.lock().payments.get(order_ref).cloned()
    }
}

#[async_trait]
impl PaymentGateway for FakeGateway {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError> {
        self.travel().await;
        let now = self.clock.now();
        let mut state = self.lock();
        state.stats.confirm_calls = state.stats.confirm_calls.saturating_add(1);
        let reply_key = (GatewayOp::Confirm, None, request.idempotency_key.clone());
        let fault = match state.start(GatewayOp::Confirm, &reply_key, Some(&request.order_ref))? {
            Start::Replay(reply) => return reply,
            Start::Proceed(fault) => fault,
        };
        let reply = state.approve(request, now);
        state.finish(reply_key, reply, fault)
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError> {
        validate_cancel_reason(&request.reason)?;
        self.travel().await;
        let now = self.clock.now();
        let mut state = self.lock();
        state.stats.cancel_calls = state.stats.cancel_calls.saturating_add(1);
        let reply_key = (
            GatewayOp::Cancel,
            Some(request.payment_key.clone()),
            request.idempotency_key.clone(),
        );
        let order_ref = state.by_key.get(&request.payment_key).cloned();
        let fault = match state.start(GatewayOp::Cancel, &reply_key, order_ref.as_ref())? {
            Start::Replay(reply) => return reply,
            Start::Proceed(fault) => fault,
        };
        let reply = state.refund(request, now);
        state.finish(reply_key, reply, fault)
    }

    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        self.travel().await;
        let mut state = self.lock();
        state.stats.lookups = state.stats.lookups.saturating_add(1);
        if let Some(err) = state
            .next_fault(GatewayOp::Lookup, Some(order_ref))
            .as_ref()
            .and_then(fault_before)
        {
            return Err(err);
        }
        state
            .payments
            .get(order_ref)
            .cloned()
            .ok_or(GatewayError::NotFound)
    }
}

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Timestamp};
    use crate::ids::{PaymentId, UserId};
    use crate::money::Currency;

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
}
