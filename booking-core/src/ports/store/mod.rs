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
//! | seat map | [`tickets_of_event`](BookingStore::tickets_of_event) | a read: one [`TicketPage`] of an event's tickets, by id |
//! | list orders | [`orders_of_user`](BookingStore::orders_of_user), [`orders_of_event`](BookingStore::orders_of_event) | a read: one [`OrderPage`] of a buyer's or an event's orders, newest first |

mod error;
mod listing;
mod order;
mod page;
mod payment;
mod steps;

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{EventId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{DomainEvent, PaymentState};
use crate::ports::gateway::GatewayOrderId;

pub use error::StoreError;
pub use listing::{StockListing, TicketListing};
pub use order::{
    ItemRef, OrderLine, OrderRecord, PendingRefund, REFUND_ANSWERS_KEPT, RefundAnswer,
    RefundOutcome,
};
pub use page::{OrderPage, TicketPage};
pub use payment::{FailureCause, PaymentFailure, PaymentRecord};
pub use steps::{Availability, Cas, ExpirySweep, MarkPaid, OutboxEntry, SettleRefund};

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

    /// A ticket as stored (a lapsed hold shows as held; see [`Ticket::is_available_at`](crate::machine::Ticket::is_available_at)).
    async fn ticket(&self, id: TicketId) -> Result<TicketListing, StoreError>;

    /// A stock as stored (its `held` count includes lapsed holds not yet reclaimed).
    async fn stock(&self, id: StockId) -> Result<StockListing, StoreError>;

    /// A page of the tickets listed for `event` (its seat map), lowest ticket id first: see
    /// [`TicketPage`]. Each as [`ticket`](Self::ticket) returns it (a lapsed hold shows as
    /// held). An event without tickets gets an empty list; a limit outside 1 to
    /// [`TicketPage::MAX_LIMIT`] is [`StoreError::Invalid`].
    async fn tickets_of_event(
        &self,
        event: EventId,
        page: &TicketPage,
    ) -> Result<Vec<TicketListing>, StoreError>;

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
    ///
    /// The delivery guarantee: a consumer that pages with `after` set to the last `seq` it
    /// received gets every committed entry exactly once, in one stable order, whatever
    /// order the writers' transactions commit in. An entry's `seq` never changes once it
    /// has been returned, and an entry that commits later than a returned one gets a larger
    /// `seq`, never a smaller one (so no page can skip it). Entries of one change keep their
    /// order, and an entry written after another has committed comes after it. Numbers
    /// increase but may have gaps, and an uncommitted entry is never returned.
    ///
    /// On SQLite one writer at a time commits, so insert order is commit order and `seq` is
    /// the insert number. PostgreSQL and MySQL number a row when it is inserted, which is
    /// not commit order, so there `seq` is a separate position that this call stamps on
    /// committed entries before reading (docs/adr/0009): reading the outbox writes.
    async fn outbox(&self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Acknowledges every entry with `seq <= upto`: a publisher has delivered them and the
    /// store may delete them. Returns how many were removed.
    async fn acknowledge_outbox(&self, upto: u64) -> Result<u64, StoreError>;
}
