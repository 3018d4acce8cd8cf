//! Version 2: every field of the records, written as they stand since the stored form was
//! versioned. Frozen: a change of shape is a new version.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::discount::{LineId, Quote};
use crate::ids::{CouponId, EventId, HoldId, PaymentId, StockId, TicketId, UserId};
use crate::money::Money;
use crate::ports::gateway::{GatewayOrderId, PaymentKey};
use crate::ports::store::{
    FailureCause, ItemRef, OrderLine, OrderRecord, PaymentFailure, PaymentRecord, PendingRefund,
    RefundAnswer, RefundOutcome,
};

use super::CURRENT_VERSION;

/// A stored order. The quote is borrowed when writing, so encoding copies no quote.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Order<'a> {
    v: u64,
    order: crate::machine::Order,
    user: UserId,
    event: EventId,
    hold: HoldId,
    lines: Vec<Line>,
    quote: Cow<'a, Quote>,
    coupons: Vec<CouponId>,
    payment: Option<PaymentId>,
    refunds_started: u32,
    pending_refund: Option<Pending>,
    refund_answers: Vec<Answer>,
    created_at: Timestamp,
}

/// A stored order line (the same shape in version 1).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Line {
    line: LineId,
    item: Item,
    refunded_units: u32,
}

/// What a stored line sells (the same shape in version 1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum Item {
    Ticket { ticket: TicketId },
    Stock { stock: StockId, quantity: u32 },
}

/// A stored refund in flight.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pending {
    seq: u32,
    lines: Vec<(LineId, u32)>,
    amount: Money,
    reason: String,
    request_id: Option<String>,
    requested: Vec<(LineId, Option<u32>)>,
    sending_until: Option<Timestamp>,
}

/// A stored refund answer (the same shape in version 1, once refund answers were kept).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    pub(super) seq: u32,
    pub(super) request_id: Option<String>,
    pub(super) requested: Vec<(LineId, Option<u32>)>,
    pub(super) outcome: Outcome,
}

/// How a stored refund ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum Outcome {
    Refunded { amount: Money },
    Rejected { code: String, message: String },
}

/// A stored payment.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Payment {
    v: u64,
    payment: crate::machine::Payment,
    gateway: String,
    order_ref: GatewayOrderId,
    payment_key: Option<PaymentKey>,
    customer: UserId,
    updated_at: Timestamp,
    failure: Option<Failure>,
}

/// Why a gateway failed a stored payment (the same shape in version 1).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Failure {
    cause: Cause,
    code: String,
    message: String,
}

/// The kind of a stored failure, by the names version 1 used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) enum Cause {
    Rejected,
    Unavailable,
    Invalid,
}

impl<'a> From<&'a OrderRecord> for Order<'a> {
    fn from(r: &'a OrderRecord) -> Self {
        Order {
            v: CURRENT_VERSION,
            order: r.order.clone(),
            user: r.user,
            event: r.event,
            hold: r.hold,
            lines: r.lines.iter().map(Line::from).collect(),
            quote: Cow::Borrowed(&r.quote),
            coupons: r.coupons.clone(),
            payment: r.payment,
            refunds_started: r.refunds_started,
            pending_refund: r.pending_refund.as_ref().map(Pending::from),
            refund_answers: r.refund_answers.iter().map(Answer::from).collect(),
            created_at: r.created_at,
        }
    }
}

impl From<Order<'_>> for OrderRecord {
    fn from(o: Order<'_>) -> Self {
        OrderRecord {
            order: o.order,
            user: o.user,
            event: o.event,
            hold: o.hold,
            lines: o.lines.into_iter().map(OrderLine::from).collect(),
            quote: o.quote.into_owned(),
            coupons: o.coupons,
            payment: o.payment,
            refunds_started: o.refunds_started,
            pending_refund: o.pending_refund.map(PendingRefund::from),
            refund_answers: o
                .refund_answers
                .into_iter()
                .map(RefundAnswer::from)
                .collect(),
            created_at: o.created_at,
        }
    }
}

impl From<&OrderLine> for Line {
    fn from(l: &OrderLine) -> Self {
        Line {
            line: l.line.clone(),
            item: Item::from(l.item),
            refunded_units: l.refunded_units,
        }
    }
}

impl From<Line> for OrderLine {
    fn from(l: Line) -> Self {
        OrderLine {
            line: l.line,
            item: ItemRef::from(l.item),
            refunded_units: l.refunded_units,
        }
    }
}

impl From<ItemRef> for Item {
    fn from(item: ItemRef) -> Self {
        match item {
            ItemRef::Ticket { ticket } => Item::Ticket { ticket },
            ItemRef::Stock { stock, quantity } => Item::Stock { stock, quantity },
        }
    }
}

impl From<Item> for ItemRef {
    fn from(item: Item) -> Self {
        match item {
            Item::Ticket { ticket } => ItemRef::Ticket { ticket },
            Item::Stock { stock, quantity } => ItemRef::Stock { stock, quantity },
        }
    }
}

impl From<&PendingRefund> for Pending {
    fn from(p: &PendingRefund) -> Self {
        Pending {
            seq: p.seq,
            lines: p.lines.clone(),
            amount: p.amount,
            reason: p.reason.clone(),
            request_id: p.request_id.clone(),
            requested: p.requested.clone(),
            sending_until: p.sending_until,
        }
    }
}

impl From<Pending> for PendingRefund {
    fn from(p: Pending) -> Self {
        PendingRefund {
            seq: p.seq,
            lines: p.lines,
            amount: p.amount,
            reason: p.reason,
            request_id: p.request_id,
            requested: p.requested,
            sending_until: p.sending_until,
        }
    }
}

impl From<&RefundAnswer> for Answer {
    fn from(a: &RefundAnswer) -> Self {
        Answer {
            seq: a.seq,
            request_id: a.request_id.clone(),
            requested: a.requested.clone(),
            outcome: match &a.outcome {
                RefundOutcome::Refunded { amount } => Outcome::Refunded { amount: *amount },
                RefundOutcome::Rejected { code, message } => Outcome::Rejected {
                    code: code.clone(),
                    message: message.clone(),
                },
            },
        }
    }
}

impl From<Answer> for RefundAnswer {
    fn from(a: Answer) -> Self {
        RefundAnswer {
            seq: a.seq,
            request_id: a.request_id,
            requested: a.requested,
            outcome: match a.outcome {
                Outcome::Refunded { amount } => RefundOutcome::Refunded { amount },
                Outcome::Rejected { code, message } => RefundOutcome::Rejected { code, message },
            },
        }
    }
}

impl From<&PaymentRecord> for Payment {
    fn from(r: &PaymentRecord) -> Self {
        Payment {
            v: CURRENT_VERSION,
            payment: r.payment,
            gateway: r.gateway.clone(),
            order_ref: r.order_ref.clone(),
            payment_key: r.payment_key.clone(),
            customer: r.customer,
            updated_at: r.updated_at,
            failure: r.failure.as_ref().map(Failure::from),
        }
    }
}

impl From<Payment> for PaymentRecord {
    fn from(p: Payment) -> Self {
        PaymentRecord {
            payment: p.payment,
            gateway: p.gateway,
            order_ref: p.order_ref,
            payment_key: p.payment_key,
            customer: p.customer,
            updated_at: p.updated_at,
            failure: p.failure.map(PaymentFailure::from),
        }
    }
}

impl From<&PaymentFailure> for Failure {
    fn from(f: &PaymentFailure) -> Self {
        Failure {
            cause: match f.cause {
                FailureCause::Rejected => Cause::Rejected,
                FailureCause::Unavailable => Cause::Unavailable,
                FailureCause::Invalid => Cause::Invalid,
            },
            code: f.code.clone(),
            message: f.message.clone(),
        }
    }
}

impl From<Failure> for PaymentFailure {
    fn from(f: Failure) -> Self {
        let cause = match f.cause {
            Cause::Rejected => FailureCause::Rejected,
            Cause::Unavailable => FailureCause::Unavailable,
            Cause::Invalid => FailureCause::Invalid,
        };
        PaymentFailure::new(cause, f.code, f.message)
    }
}
