//! The fake gateway's books: payments, stored answers, scripted faults, and how a confirm and
//! a cancel are processed.

use std::collections::{HashMap, VecDeque};

use crate::clock::Timestamp;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayCancel, GatewayError, GatewayIdempotencyKey,
    GatewayOrderId, GatewayPayment, GatewayStatus, PaymentKey,
};

use super::{FakeGatewayStats, Fault, GatewayOp};

/// Identifies a stored answer: operation, payment key (for cancels), idempotency key.
pub(super) type ReplyKey = (GatewayOp, Option<PaymentKey>, GatewayIdempotencyKey);

/// How a mutating call begins.
pub(super) enum Start {
    /// The same request was answered before: answer as then.
    Replay(Result<GatewayPayment, GatewayError>),
    /// Go on, possibly with a fault to play after processing.
    Proceed(Option<Fault>),
}

#[derive(Debug, Default)]
pub(super) struct FakeState {
    pub(super) payments: HashMap<GatewayOrderId, GatewayPayment>,
    pub(super) by_key: HashMap<PaymentKey, GatewayOrderId>,
    /// Answers replayed to repeats of the same request: successes, and refusals when they
    /// are kept.
    pub(super) replies: HashMap<ReplyKey, Result<GatewayPayment, GatewayError>>,
    pub(super) script: HashMap<GatewayOp, VecDeque<Fault>>,
    /// Faults aimed at one payment, played before the general script.
    pub(super) aimed: HashMap<(GatewayOp, GatewayOrderId), VecDeque<Fault>>,
    pub(super) keep_refusals: bool,
    pub(super) stats: FakeGatewayStats,
    pub(super) next_key: u64,
}

impl FakeState {
    pub(super) fn next_fault(
        &mut self,
        op: GatewayOp,
        order_ref: Option<&GatewayOrderId>,
    ) -> Option<Fault> {
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
    pub(super) fn start(
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
    pub(super) fn refused(&mut self, key: &ReplyKey, err: GatewayError) -> GatewayError {
        if self.keep_refusals && matches!(err, GatewayError::Rejected { .. }) {
            self.replies.insert(key.clone(), Err(err.clone()));
        }
        err
    }

    /// Stores the answer for replays and hands it out, unless the fault loses it.
    pub(super) fn finish(
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
    pub(super) fn approve(
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
    pub(super) fn refund(
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

    pub(super) fn mint_key(&mut self, prefix: &str) -> String {
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
pub(super) fn fault_before(fault: &Fault) -> Option<GatewayError> {
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
