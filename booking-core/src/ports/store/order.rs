//! An order as the store keeps it: its state machine, lines, quote, coupons, payment and
//! refunds.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::discount::{LineId, Quote};
use crate::ids::{CouponId, EventId, HoldId, PaymentId, StockId, TicketId, UserId};
use crate::machine::Order;
use crate::money::Money;

/// What one order line sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemRef {
    /// One ticket.
    Ticket {
        /// Which.
        ticket: TicketId,
    },
    /// `quantity` units of a stock.
    Stock {
        /// Which.
        stock: StockId,
        /// How many units.
        quantity: u32,
    },
}

/// One line of an order: an item and how much of it has been refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderLine {
    /// The line's id in the order's quote.
    pub line: LineId,
    /// What it sells.
    pub item: ItemRef,
    /// Units of this line refunded so far.
    pub refunded_units: u32,
}

impl OrderLine {
    /// Line `line` of a new order, selling `item`, nothing refunded.
    pub fn new(line: LineId, item: ItemRef) -> Self {
        OrderLine {
            line,
            item,
            refunded_units: 0,
        }
    }

    /// Units on the line: 1 for a ticket, the quantity for stock.
    pub fn units(&self) -> u32 {
        match self.item {
            ItemRef::Ticket { .. } => 1,
            ItemRef::Stock { quantity, .. } => quantity,
        }
    }
}

/// An order with everything the store keeps beside its state machine.
///
/// The record's version is its order's version: every change to the record goes with a
/// transition of the order, so one compare-and-set covers it all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderRecord {
    /// The state machine: state, total, refunded amount, deadline, version.
    pub order: Order,
    /// The buyer.
    pub user: UserId,
    /// The event the items belong to.
    pub event: EventId,
    /// The hold that keeps the items for this order.
    pub hold: HoldId,
    /// What is sold.
    pub lines: Vec<OrderLine>,
    /// The price the buyer was quoted and charged, with its per-line allocation.
    pub quote: Quote,
    /// Coupons reserved or used by this order.
    pub coupons: Vec<CouponId>,
    /// The payment attempt in progress or that paid, if any.
    pub payment: Option<PaymentId>,
    /// How many refunds have been started; refund `n` (from 1) sends the gateway the
    /// idempotency key `refund:<order>:<n>`.
    pub refunds_started: u32,
    /// The refund in flight, while the order is cancelling: sent again under the same key
    /// until it settles, or until the gateway's refusal is confirmed and it is abandoned.
    pub pending_refund: Option<PendingRefund>,
    /// The final answers of the latest refunds (at most [`REFUND_ANSWERS_KEPT`], oldest
    /// dropped first), so that a repeated request is answered as the first time.
    #[serde(default)]
    pub refund_answers: Vec<RefundAnswer>,
    /// When the order was placed.
    pub created_at: Timestamp,
}

/// A refund that was started and has not ended yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingRefund {
    /// Which refund of the order this is (from 1).
    pub seq: u32,
    /// Units refunded per line.
    pub lines: Vec<(LineId, u32)>,
    /// The amount, from the quote's allocation.
    pub amount: Money,
    /// Why, as told to the gateway.
    pub reason: String,
    /// The caller's id for the request that started it, if it gave one.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The lines as the request asked for them (`None`: every unit left), sorted by line: a
    /// request that reuses the id for other lines is told apart from a repeat.
    #[serde(default)]
    pub requested: Vec<(LineId, Option<u32>)>,
    /// Until when one caller holds the sending of this refund to the gateway; no other caller
    /// sends it before then. `None`: nobody is sending it (the last send ended without an
    /// answer that settles it), so the next caller takes it over.
    #[serde(default)]
    pub sending_until: Option<Timestamp>,
}

/// How many refund answers an [`OrderRecord`] remembers.
pub const REFUND_ANSWERS_KEPT: usize = 256;

/// The final answer to one refund of an order, kept so that a repeat of its request gets the
/// same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefundAnswer {
    /// Which refund of the order it was (from 1).
    pub seq: u32,
    /// The caller's id for the request, if it gave one.
    pub request_id: Option<String>,
    /// The lines as the request asked for them, sorted by line.
    pub requested: Vec<(LineId, Option<u32>)>,
    /// How it ended.
    pub outcome: RefundOutcome,
}

/// How a refund ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RefundOutcome {
    /// The gateway returned `amount` to the buyer.
    Refunded {
        /// What was returned.
        amount: Money,
    },
    /// The gateway refused the refund, and a lookup confirmed that nothing was returned: the
    /// refund was abandoned and the order is paid as before.
    Rejected {
        /// The gateway's code.
        code: String,
        /// The gateway's message.
        message: String,
    },
}

impl OrderRecord {
    /// A new order: `order` (its state machine) of `user` for `lines` of `event`, held by
    /// `hold`, priced by `quote`, placed at `created_at`; no coupons, payment or refund yet.
    pub fn new(
        order: Order,
        user: UserId,
        event: EventId,
        hold: HoldId,
        lines: Vec<OrderLine>,
        quote: Quote,
        created_at: Timestamp,
    ) -> Self {
        OrderRecord {
            order,
            user,
            event,
            hold,
            lines,
            quote,
            coupons: Vec::new(),
            payment: None,
            refunds_started: 0,
            pending_refund: None,
            refund_answers: Vec::new(),
            created_at,
        }
    }

    /// The record's version (its order's).
    pub fn version(&self) -> u64 {
        self.order.version()
    }

    /// The line that sells `item`, if the order has one.
    pub fn line_of(&self, item: &ItemRef) -> Option<&OrderLine> {
        self.lines.iter().find(|l| match (l.item, item) {
            (ItemRef::Ticket { ticket: a }, ItemRef::Ticket { ticket: b }) => a == *b,
            (ItemRef::Stock { stock: a, .. }, ItemRef::Stock { stock: b, .. }) => a == *b,
            _ => false,
        })
    }

    /// The answer of the refund requested with `request_id`, if it has ended.
    pub fn refund_answer(&self, request_id: &str) -> Option<&RefundAnswer> {
        self.refund_answers
            .iter()
            .find(|a| a.request_id.as_deref() == Some(request_id))
    }

    /// Records the final answer of refund `answer.seq`, forgetting the oldest beyond
    /// [`REFUND_ANSWERS_KEPT`].
    pub fn remember_refund(&mut self, answer: RefundAnswer) {
        self.refund_answers.push(answer);
        let excess = self
            .refund_answers
            .len()
            .saturating_sub(REFUND_ANSWERS_KEPT);
        self.refund_answers.drain(..excess);
    }
}
