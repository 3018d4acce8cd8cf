//! Version 1: the records' serde form from before the stored form was versioned (no `v`).
//!
//! Fields appeared over time, each optional in the rows of its time: a pending refund's
//! `request_id`, `requested` and `sending_until`, an order's `settled_refunds` (replaced by
//! `refund_answers` when refunds started keeping their final answers), a payment's `failure`.
//! An order's unknown fields are ignored, as serde did when these rows were read as the
//! records; a payment never had others.

use serde::Deserialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::discount::{LineId, Quote};
use crate::ids::{CouponId, EventId, HoldId, PaymentId, UserId};
use crate::money::Money;
use crate::ports::store::{
    OrderLine, OrderRecord, PendingRefund, REFUND_ANSWERS_KEPT, RefundAnswer, RefundOutcome,
};

use super::v2::{self, Answer, Line};

/// A stored order of version 1.
#[derive(Debug, Deserialize)]
pub(super) struct Order {
    order: crate::machine::Order,
    user: UserId,
    event: EventId,
    hold: HoldId,
    lines: Vec<Line>,
    quote: Quote,
    coupons: Vec<CouponId>,
    payment: Option<PaymentId>,
    refunds_started: u32,
    pending_refund: Option<Pending>,
    /// Before refund answers: the settled refunds that carried a request id.
    #[serde(default)]
    settled_refunds: Vec<Settled>,
    /// After refund answers.
    #[serde(default)]
    refund_answers: Vec<Answer>,
    created_at: Timestamp,
}

/// A refund in flight, as version 1 kept it.
#[derive(Debug, Deserialize)]
pub(super) struct Pending {
    seq: u32,
    lines: Vec<(LineId, u32)>,
    amount: Money,
    reason: String,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    requested: Vec<(LineId, Option<u32>)>,
    #[serde(default)]
    sending_until: Option<Timestamp>,
}

/// A settled refund remembered by its request id, before refund answers were kept.
#[derive(Debug, Deserialize)]
pub(super) struct Settled {
    request_id: String,
    seq: u32,
    amount: Money,
}

impl From<Order> for OrderRecord {
    fn from(o: Order) -> Self {
        // A settled refund is answered as refunded, with the lines it asked for unknown
        // (empty `requested`). Answers kept in the row already win over settled refunds of
        // the same sequence number.
        let mut answers: Vec<RefundAnswer> = o
            .refund_answers
            .into_iter()
            .map(RefundAnswer::from)
            .collect();
        for settled in o.settled_refunds {
            if answers.iter().all(|a| a.seq != settled.seq) {
                answers.push(RefundAnswer {
                    seq: settled.seq,
                    request_id: Some(settled.request_id),
                    requested: Vec::new(),
                    outcome: RefundOutcome::Refunded {
                        amount: settled.amount,
                    },
                });
            }
        }
        answers.sort_by_key(|a| a.seq);
        let excess = answers.len().saturating_sub(REFUND_ANSWERS_KEPT);
        answers.drain(..excess);
        OrderRecord {
            order: o.order,
            user: o.user,
            event: o.event,
            hold: o.hold,
            lines: o.lines.into_iter().map(OrderLine::from).collect(),
            quote: o.quote,
            coupons: o.coupons,
            payment: o.payment,
            refunds_started: o.refunds_started,
            pending_refund: o.pending_refund.map(|p| PendingRefund {
                seq: p.seq,
                lines: p.lines,
                amount: p.amount,
                reason: p.reason,
                request_id: p.request_id,
                requested: p.requested,
                sending_until: p.sending_until,
            }),
            refund_answers: answers,
            created_at: o.created_at,
        }
    }
}

/// The payment stored as `value` in version 1: the shape of version 2 without `v`, and
/// without `failure` in rows written before failures were kept.
pub(super) fn payment(mut value: Value) -> Result<v2::Payment, serde_json::Error> {
    if let Some(fields) = value.as_object_mut() {
        fields.insert("v".to_owned(), Value::from(2_u64));
        fields.entry("failure").or_insert(Value::Null);
    }
    serde_json::from_value(value)
}
