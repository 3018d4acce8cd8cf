//! The booking store: inventory, orders, payments and the outbox, changed atomically.
//!
//! Every method that changes state is one atomic operation of the store (one transaction in
//! SQL, one critical section in memory) that either applies completely or not at all, and
//! appends the domain events it produced to the outbox in the same operation. Correctness comes
//! from conditions checked inside that operation — "held by this order", "version is still 7",
//! "held + sold + n <= capacity" — never from reading first and writing later.
//!
//! The operations follow the booking flow:
//!
//! | step | operation | atomically |
//! |---|---|---|
//! | hold | [`place_order`](BookingStore::place_order) | hold every ticket and stock line (all or nothing, lapsed holds count as free), insert the order |
//! | extend | [`extend_hold`](BookingStore::extend_hold) | move the order's and its items' deadline |
//! | start payment | [`start_payment`](BookingStore::start_payment) | order → awaiting payment (CAS), insert the payment |
//! | confirm | [`update_payment`](BookingStore::update_payment) | payment → confirming (CAS), and later failed or unknown |
//! | paid | [`mark_paid`](BookingStore::mark_paid) | payment done, order paid, every held item sold — or nothing, if an item was lost |
//! | refund | [`settle_refund`](BookingStore::settle_refund) | payment cancel, order refund, refunded items back on sale |
//! | sweep | [`expire_due`](BookingStore::expire_due) | per order: payment and order expired, items released; never an order whose payment is confirming |
//! | list orders | [`orders_of_user`](BookingStore::orders_of_user), [`orders_of_event`](BookingStore::orders_of_event) | a read: one [`OrderPage`] of a buyer's or an event's orders, newest first |

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::discount::{LineId, Quote};
use crate::ids::{CouponId, EventId, HoldId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{
    DomainEvent, Order, Payment, PaymentCommand, PaymentState, Rejection, Stock, StockError,
    Ticket, Transition,
};
use crate::money::Money;
use crate::ports::gateway::{GatewayOrderId, PaymentKey};

/// A seat (or other unit sold one by one) and what it sells for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TicketListing {
    /// The unit and its state.
    pub ticket: Ticket,
    /// The event it belongs to.
    pub event: EventId,
    /// The price class, matched by discount rules' item filters (`"R"`, `"economy"`).
    pub item: String,
    /// Tags matched by discount rules' tag filters.
    pub tags: BTreeSet<String>,
    /// The price of the unit before discounts.
    pub price: Money,
}

/// A counted inventory (general admission, product stock) and the price of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StockListing {
    /// The counts and their state.
    pub stock: Stock,
    /// The event it belongs to.
    pub event: EventId,
    /// The item name, matched by discount rules' item filters.
    pub item: String,
    /// Tags matched by discount rules' tag filters.
    pub tags: BTreeSet<String>,
    /// The price of one unit before discounts.
    pub price: Money,
}

impl TicketListing {
    /// `ticket` of `event`, in price class `item`, at `price` before discounts, untagged.
    pub fn new(ticket: Ticket, event: EventId, item: impl Into<String>, price: Money) -> Self {
        TicketListing {
            ticket,
            event,
            item: item.into(),
            tags: BTreeSet::new(),
            price,
        }
    }

    /// Adds tags for discount rules' tag filters.
    #[must_use]
    pub fn tagged<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}

impl StockListing {
    /// `stock` of `event`, named `item`, at `price` a unit before discounts, untagged.
    pub fn new(stock: Stock, event: EventId, item: impl Into<String>, price: Money) -> Self {
        StockListing {
            stock,
            event,
            item: item.into(),
            tags: BTreeSet::new(),
            price,
        }
    }

    /// Adds tags for discount rules' tag filters.
    #[must_use]
    pub fn tagged<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}

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

    /// Checks the order's lines the way every store must before holding anything: at least one
    /// line, no zero quantity, every item listed (`event_of` says the event of a listed item, or
    /// `NotFound`), every item of the order's event, no item twice. Lines are checked in order,
    /// so every backend reports the same first problem.
    pub fn check_lines(
        &self,
        mut event_of: impl FnMut(&ItemRef) -> Result<EventId, StoreError>,
    ) -> Result<(), StoreError> {
        if self.lines.is_empty() {
            return Err(StoreError::Invalid(
                "an order needs at least one line".to_owned(),
            ));
        }
        let mut seen = BTreeSet::new();
        for line in &self.lines {
            if let ItemRef::Stock { stock, quantity: 0 } = line.item {
                return Err(StoreError::Invalid(format!(
                    "stock {stock}: quantity must be at least 1"
                )));
            }
            if event_of(&line.item)? != self.event {
                return Err(StoreError::Invalid(format!(
                    "line {} belongs to another event",
                    line.line
                )));
            }
            let item = match line.item {
                ItemRef::Ticket { ticket } => *ticket.as_uuid(),
                ItemRef::Stock { stock, .. } => *stock.as_uuid(),
            };
            if !seen.insert(item) {
                return Err(StoreError::Invalid(format!(
                    "line {} repeats an item",
                    line.line
                )));
            }
        }
        Ok(())
    }
}

/// What [`BookingStore::expire_due`] does with the payment of a due order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepStep {
    /// The payment is still open and its window has closed: expire it with the order.
    ExpirePayment(Transition<Payment>),
    /// The payment ended without keeping money (failed, expired, aborted, cancelled): expire
    /// the order alone.
    OrderOnly,
    /// Leave the order: its payment is confirming, unknown or paid, or still inside its
    /// confirm window.
    Skip,
}

impl SweepStep {
    /// The step for a due order whose payment is `payment`, at `now`.
    pub fn for_payment(payment: &Payment, now: Timestamp) -> SweepStep {
        match payment.state() {
            PaymentState::Ready | PaymentState::InProgress => payment
                .apply(PaymentCommand::Expire, now)
                .map_or(SweepStep::Skip, SweepStep::ExpirePayment),
            PaymentState::Failed
            | PaymentState::Expired
            | PaymentState::Aborted
            | PaymentState::Canceled => SweepStep::OrderOnly,
            PaymentState::Confirming
            | PaymentState::Unknown
            | PaymentState::Done
            | PaymentState::PartiallyCanceled => SweepStep::Skip,
        }
    }
}

/// A payment with what the store keeps beside its state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentRecord {
    /// The state machine: state, amount, cancelled amount, confirm deadline, version.
    pub payment: Payment,
    /// The gateway that collects it, by [`PaymentGateway::name`](crate::ports::gateway::PaymentGateway::name).
    pub gateway: String,
    /// The order id the gateway sees.
    pub order_ref: GatewayOrderId,
    /// The gateway's key for the buyer's authenticated payment, once the buyer has
    /// authenticated and the confirm began.
    pub payment_key: Option<PaymentKey>,
    /// The buyer.
    pub customer: UserId,
    /// When the record last changed (a payment confirming for long is checked by
    /// reconciliation).
    pub updated_at: Timestamp,
    /// Why the gateway failed the payment, once it has: a repeated confirm answers with it.
    #[serde(default)]
    pub failure: Option<PaymentFailure>,
}

/// Why a gateway failed a payment's confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentFailure {
    /// Which kind of failure.
    pub cause: FailureCause,
    /// The gateway's error code, e.g. `REJECT_CARD_PAYMENT`.
    pub code: String,
    /// The gateway's message (for [`FailureCause::Unavailable`], with why the retries stopped).
    pub message: String,
}

/// What kind of failure a [`PaymentFailure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureCause {
    /// The gateway refused the payment for good (a declined card).
    Rejected,
    /// The gateway kept failing until the retry policy gave up.
    Unavailable,
    /// The gateway did not know the payment or refused the request as malformed.
    Invalid,
}

impl PaymentFailure {
    /// A failure of `cause` with the gateway's `code` and `message`.
    pub fn new(cause: FailureCause, code: impl Into<String>, message: impl Into<String>) -> Self {
        PaymentFailure {
            cause,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl PaymentRecord {
    /// A payment attempt `payment` of `customer`, collected by the gateway named `gateway`,
    /// which knows it as `order_ref`; last changed at `updated_at`.
    pub fn new(
        payment: Payment,
        gateway: impl Into<String>,
        order_ref: GatewayOrderId,
        customer: UserId,
        updated_at: Timestamp,
    ) -> Self {
        PaymentRecord {
            payment,
            gateway: gateway.into(),
            order_ref,
            payment_key: None,
            customer,
            updated_at,
            failure: None,
        }
    }

    /// The record's version (its payment's).
    pub fn version(&self) -> u64 {
        self.payment.version()
    }
}

/// A new version of a record to store if the stored one still has version `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cas<T> {
    /// The version the caller read.
    pub expected: u64,
    /// The record to store.
    pub next: T,
}

impl<T> Cas<T> {
    /// Store `next` if the record is still at version `expected`.
    pub fn new(expected: u64, next: T) -> Self {
        Cas { expected, next }
    }
}

/// The atomic "paid" step: see [`BookingStore::mark_paid`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MarkPaid {
    /// The order, moving to paid (or confirmed).
    pub order: Cas<OrderRecord>,
    /// The payment, moving to done.
    pub payment: Cas<PaymentRecord>,
    /// Events of the order and payment transitions.
    pub events: Vec<DomainEvent>,
}

/// The atomic "refunded" step: see [`BookingStore::settle_refund`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettleRefund {
    /// The order after its refund settled, with `refunded_units` updated.
    pub order: Cas<OrderRecord>,
    /// The payment after the gateway's cancel.
    pub payment: Cas<PaymentRecord>,
    /// Items to put back on sale: tickets are refunded and relisted, stock units refunded.
    pub restock: Vec<ItemRef>,
    /// Events of the order and payment transitions.
    pub events: Vec<DomainEvent>,
}

/// What [`BookingStore::expire_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExpirySweep {
    /// Orders expired, with their buyer and coupons so the caller can release them.
    pub expired: Vec<(OrderId, UserId, Vec<CouponId>)>,
    /// Payments expired with their orders.
    pub payments_expired: u32,
    /// Tickets put back on sale.
    pub tickets_released: u32,
    /// Stock units put back on sale.
    pub stock_units_released: u32,
    /// Due orders left alone because their payment is confirming, unknown, done, or still
    /// inside its confirm window.
    pub skipped_in_payment: u32,
}

/// What is left to sell of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Availability {
    /// Tickets available now (lapsed holds count as available).
    pub tickets_available: u64,
    /// Tickets listed.
    pub tickets_total: u64,
    /// Per stock: units available now (lapsed holds count as available).
    pub stock_available: Vec<(StockId, u32)>,
}

impl Availability {
    /// `tickets_available` of `tickets_total` tickets, and per stock the units available.
    pub fn new(
        tickets_available: u64,
        tickets_total: u64,
        stock_available: Vec<(StockId, u32)>,
    ) -> Self {
        Availability {
            tickets_available,
            tickets_total,
            stock_available,
        }
    }
}

/// One domain event in the outbox, in the order the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// Position in the outbox; increases with every event.
    pub seq: u64,
    /// The event.
    pub event: DomainEvent,
    /// When the operation that produced it ran.
    pub recorded_at: Timestamp,
}

impl OutboxEntry {
    /// Entry `seq`: `event`, recorded at `recorded_at`.
    pub fn new(seq: u64, event: DomainEvent, recorded_at: Timestamp) -> Self {
        OutboxEntry {
            seq,
            event,
            recorded_at,
        }
    }
}

/// Which page of a list of orders to read: see [`BookingStore::orders_of_user`].
///
/// Orders are listed by id, highest first: for ids made by [`OrderId::new`] (UUID v7, time
/// ordered) that is newest first — exactly, among ids made in one process; to the millisecond
/// across processes. Pages follow each other by the id of the last order read (keyset
/// paging), not by a count of orders to skip, so orders placed while a caller pages never
/// shift the pages still to come: a walk from [`OrderPage::first`] through
/// [`OrderPage::next`] reads every order that existed when it started exactly once.
///
/// ```
/// use booking_core::ids::OrderId;
/// use booking_core::ports::store::OrderPage;
///
/// let first = OrderPage::first(50);
/// assert_eq!((first.before, first.limit), (None, 50));
/// let last_read = OrderId::new();
/// assert_eq!(OrderPage::first(50).before(last_read).before, Some(last_read));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OrderPage {
    /// Lists only orders whose id is below this one (the last id of the previous page);
    /// `None` starts at the highest id. Any order id works as a position, even one of
    /// another owner or one never stored.
    pub before: Option<OrderId>,
    /// At most this many orders: 1 to [`OrderPage::MAX_LIMIT`]; stores refuse any other
    /// value with [`StoreError::Invalid`].
    pub limit: u32,
}

impl OrderPage {
    /// The most orders one page may hold.
    pub const MAX_LIMIT: u32 = 1_000;

    /// The first page: the `limit` orders with the highest ids.
    pub fn first(limit: u32) -> Self {
        OrderPage {
            before: None,
            limit,
        }
    }

    /// This page, starting after the order `id` (below it in id order).
    #[must_use]
    pub fn before(self, id: OrderId) -> Self {
        OrderPage {
            before: Some(id),
            ..self
        }
    }

    /// The page after `listed`, the orders this page returned; `None` if it held fewer than
    /// `limit` orders (there are no more). A full last page is followed by an empty one.
    pub fn next(&self, listed: &[OrderRecord]) -> Option<Self> {
        let full = usize::try_from(self.limit).is_ok_and(|limit| listed.len() >= limit);
        match listed.last() {
            Some(last) if full => Some(self.before(last.order.id())),
            _ => None,
        }
    }

    /// `Ok` if the limit is within 1 to [`OrderPage::MAX_LIMIT`], else
    /// [`StoreError::Invalid`]: what every store checks before reading.
    pub fn check(&self) -> Result<(), StoreError> {
        if (1..=Self::MAX_LIMIT).contains(&self.limit) {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "a page of orders holds 1 to {} orders, not {}",
                Self::MAX_LIMIT,
                self.limit
            )))
        }
    }
}

/// Why a store operation failed. A failed operation changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Tickets asked for are held by someone else, sold or blocked.
    #[error("tickets unavailable: {tickets:?}")]
    Unavailable {
        /// The tickets that could not be held.
        tickets: Vec<TicketId>,
    },
    /// Not enough units of a stock are left.
    #[error("stock {stock}: {requested} requested, {available} available")]
    InsufficientStock {
        /// Which stock.
        stock: StockId,
        /// Units asked for.
        requested: u32,
        /// Units available at the time.
        available: u32,
    },
    /// While the order's hold had lapsed, another order took some of its items: the order
    /// cannot be completed.
    #[error("items of the order were taken by another order: tickets {tickets:?}, stock {stock:?}")]
    ItemsLost {
        /// Tickets now held or sold by another order.
        tickets: Vec<TicketId>,
        /// Stocks without enough units left.
        stock: Vec<StockId>,
    },
    /// The record changed since the caller read it (compare-and-set lost). Read it again.
    #[error("{what} {id} was changed concurrently (expected version {expected})")]
    VersionConflict {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// The record's id.
        id: String,
        /// The version the caller expected.
        expected: u64,
    },
    /// A state machine inside the store refused a step (a blocked ticket, a closed stock).
    #[error("{machine} in state {from} refused {command}: {reason}")]
    Refused {
        /// Which machine.
        machine: &'static str,
        /// Its state.
        from: &'static str,
        /// The refused command.
        command: &'static str,
        /// Why.
        reason: Rejection,
    },
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A record with this id exists already.
    #[error("{what} {id} already exists")]
    AlreadyExists {
        /// What.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The request is malformed (an empty order, lines of another event, zero quantity).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The store is overloaded (pool exhausted, lock timeout): nothing was done; retry later.
    #[error("store busy: {0}")]
    Busy(String),
    /// The backend failed; the operation may or may not have been applied. Re-read before
    /// retrying.
    #[error("{backend} store failed")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A [`StoreError::NotFound`] for `what` with `id`.
    pub fn not_found(what: &'static str, id: impl fmt::Display) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// A [`StoreError::VersionConflict`]: `what` `id` is stored at another version than the
    /// `expected` one a compare-and-set was based on.
    pub fn version_conflict(what: &'static str, id: impl fmt::Display, expected: u64) -> Self {
        StoreError::VersionConflict {
            what,
            id: id.to_string(),
            expected,
        }
    }

    /// `Ok` if no item was lost, else [`StoreError::ItemsLost`] naming every lost one: how
    /// `extend_hold` and `mark_paid` refuse, after trying every item of the order.
    pub fn none_lost(tickets: Vec<TicketId>, stock: Vec<StockId>) -> Result<(), Self> {
        if tickets.is_empty() && stock.is_empty() {
            Ok(())
        } else {
            Err(StoreError::ItemsLost { tickets, stock })
        }
    }

    /// A stock machine's refusal as every store reports it: a shortage is
    /// [`StoreError::InsufficientStock`], anything else [`StoreError::Refused`].
    pub fn stock_refused(stock: StockId, err: StockError) -> Self {
        match err.reason {
            Rejection::InsufficientStock {
                requested,
                available,
            } => StoreError::InsufficientStock {
                stock,
                requested,
                available,
            },
            _ => StoreError::refused("Stock", err),
        }
    }

    /// Erases a machine's typed refusal into [`StoreError::Refused`].
    pub fn refused<S: crate::machine::Kind, C: crate::machine::Kind>(
        machine: &'static str,
        err: crate::machine::TransitionError<S, C>,
    ) -> Self {
        StoreError::Refused {
            machine,
            from: err.from.name(),
            command: err.command.name(),
            reason: err.reason,
        }
    }
}

/// Inventory, orders, payments and their outbox.
///
/// Contract (every implementation passes the conformance suite in `testkit`):
/// - [`place_order`](Self::place_order) holds all of an order's items or none; a ticket held
///   by a lapsed hold (`expires_at <= now`) is free, and so are stock units of lapsed holds;
///   among concurrent orders for one ticket exactly one succeeds;
/// - `update_*`, `start_payment`, `mark_paid` and `settle_refund` are compare-and-set on the
///   versions the caller read: of two writers that read the same version, one wins and the other
///   gets [`StoreError::VersionConflict`];
/// - [`mark_paid`](Self::mark_paid) sells exactly the order's items or fails with
///   [`StoreError::ItemsLost`] changing nothing;
/// - [`expire_due`](Self::expire_due) never expires an order whose payment is confirming,
///   unknown or done, is safe to run on many nodes at once, and expires each order once;
/// - every change appends its domain events to the outbox in the same atomic operation;
/// - [`orders_of_user`](Self::orders_of_user) and [`orders_of_event`](Self::orders_of_event)
///   list by order id, highest first, and a walk of pages from [`OrderPage::first`] through
///   [`OrderPage::next`] reads each order once, with no gap, however many orders are placed
///   meanwhile.
#[async_trait]
pub trait BookingStore: Send + Sync + fmt::Debug + 'static {
    /// Lists tickets for sale. Fails with `AlreadyExists` (adding none) if any id is taken.
    async fn add_tickets(&self, listings: &[TicketListing]) -> Result<(), StoreError>;

    /// Lists a stock for sale.
    async fn add_stock(&self, listing: &StockListing) -> Result<(), StoreError>;

    /// A ticket as stored (a lapsed hold shows as held; see [`Ticket::is_available_at`]).
    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError>;

    /// A stock as stored (its `held` count includes lapsed holds not yet reclaimed).
    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError>;

    /// What is left to sell of `event` at `now`, lapsed holds counted as free.
    async fn availability(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<Availability, StoreError>;

    /// Holds every item of `record` for `record.hold` until `record.order.expires_at()` and
    /// inserts the order, atomically. On failure nothing is held: `Unavailable` lists every
    /// ticket that could not be held; `InsufficientStock` names the first short stock.
    async fn place_order(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError>;

    /// The order `id`.
    async fn order(&self, id: OrderId) -> Result<OrderRecord, StoreError>;

    /// A page of `user`'s orders, in every state, highest id (newest) first: see
    /// [`OrderPage`]. Each record is as [`order`](Self::order) returns it (an unpaid order
    /// past its deadline shows as stored until the sweep expires it). A user without orders
    /// gets an empty list; a limit outside 1 to [`OrderPage::MAX_LIMIT`] is
    /// [`StoreError::Invalid`].
    async fn orders_of_user(
        &self,
        user: UserId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError>;

    /// A page of the orders for `event`, of every buyer and in every state, highest id
    /// (newest) first, as [`orders_of_user`](Self::orders_of_user) lists a user's.
    async fn orders_of_event(
        &self,
        event: EventId,
        page: &OrderPage,
    ) -> Result<Vec<OrderRecord>, StoreError>;

    /// Stores `change.next` if the order is still at `change.expected`.
    async fn update_order(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Extends the order (CAS) and every item of its hold to the order's new deadline. If the
    /// hold has lapsed on any item (`expires_at <= now`), fails with
    /// [`StoreError::ItemsLost`] naming every lapsed item, and changes nothing.
    async fn extend_hold(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Moves the order to awaiting payment (CAS) and inserts its payment, atomically.
    async fn start_payment(
        &self,
        order: &Cas<OrderRecord>,
        payment: &PaymentRecord,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The payment `id`.
    async fn payment(&self, id: PaymentId) -> Result<PaymentRecord, StoreError>;

    /// The payment the gateway knows as `order_ref`.
    async fn payment_by_order_ref(
        &self,
        order_ref: &GatewayOrderId,
    ) -> Result<PaymentRecord, StoreError>;

    /// Stores `change.next` if the payment is still at `change.expected`.
    async fn update_payment(
        &self,
        change: &Cas<PaymentRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Payments in any of `states`, oldest first, at most `limit` (for reconciliation).
    async fn payments_in(
        &self,
        states: &[PaymentState],
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError>;

    /// The paid step: payment and order by CAS, and every item of the order's hold sold, in one
    /// atomic operation. A ticket still held by this order is sold even if its hold lapsed;
    /// a ticket that is free again at `now` (released, or held by another lapsed hold) is
    /// taken back and sold; a stock hold that was reclaimed is re-taken if units remain. If any
    /// item is gone, fails with [`StoreError::ItemsLost`] and changes nothing.
    async fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<(), StoreError>;

    /// The refund step: payment and order by CAS, and `restock` items back on sale, atomically.
    async fn settle_refund(&self, refund: &SettleRefund, now: Timestamp) -> Result<(), StoreError>;

    /// Releases the hold of a pending order that is being cancelled before payment, together
    /// with the order's CAS to its cancelled state.
    async fn cancel_unpaid(
        &self,
        change: &Cas<OrderRecord>,
        events: &[DomainEvent],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Expires up to `batch` orders that are pending or awaiting payment past their deadline,
    /// oldest deadline first, each in its own atomic step: its payment (if in progress) and the
    /// order expire, and its items go back on sale. Orders whose payment is confirming, unknown
    /// or done (or still inside their confirm window) are skipped and do not count toward
    /// `batch`, so orders stuck on their payment never stop the sweep from reaching the due
    /// orders behind them.
    async fn expire_due(&self, now: Timestamp, batch: u32) -> Result<ExpirySweep, StoreError>;

    /// Up to `limit` outbox entries with `seq > after`, in order.
    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Acknowledges every entry with `seq <= upto`: a publisher has delivered them and the
    /// store may delete them. Returns how many were removed.
    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_lost_is_ok_and_every_lost_item_is_named() {
        assert!(StoreError::none_lost(Vec::new(), Vec::new()).is_ok());
        let (ticket, stock) = (TicketId::new(), StockId::new());
        assert!(matches!(
            StoreError::none_lost(vec![ticket], vec![stock]),
            Err(StoreError::ItemsLost { tickets, stock: s }) if tickets == vec![ticket] && s == vec![stock]
        ));
    }

    #[test]
    fn a_version_conflict_names_the_record_and_the_expected_version() {
        let id = OrderId::new();
        assert!(matches!(
            StoreError::version_conflict("order", id, 4),
            StoreError::VersionConflict { what: "order", id: i, expected: 4 } if i == id.to_string()
        ));
    }
}
