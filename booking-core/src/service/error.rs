//! [`BookingError`]: what went wrong in a booking flow, said as what the caller can do.

use crate::ids::{StockId, TicketId};
use crate::machine::Rejection;
use crate::money::Money;
use crate::ports::coupon::CouponError;
use crate::ports::gateway::GatewayError;
use crate::ports::queue::QueueError;
use crate::ports::store::StoreError;

/// Why a [`BookingService`](super::BookingService) call failed.
///
/// Unless a variant says otherwise, a failed call changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BookingError {
    /// Some tickets are held by someone else, sold or blocked. Offer other seats.
    #[error("tickets unavailable: {tickets:?}")]
    Unavailable {
        /// The tickets that could not be held.
        tickets: Vec<TicketId>,
    },
    /// Not enough units of a stock are left.
    #[error("stock {stock} sold out: {requested} requested, {available} available")]
    SoldOut {
        /// Which stock.
        stock: StockId,
        /// Units asked for.
        requested: u32,
        /// Units left.
        available: u32,
    },
    /// The buyer paid after the hold lapsed and another buyer took some of the items. The
    /// payment was cancelled at the gateway (or will be by reconciliation); the order is
    /// cancelled.
    #[error("items were sold to someone else after the hold lapsed; the payment was cancelled")]
    SeatsLost {
        /// Tickets lost.
        tickets: Vec<TicketId>,
        /// Stocks short.
        stock: Vec<StockId>,
    },
    /// The confirmed amount differs from the order's: a tampered or stale client. Nothing was
    /// charged.
    #[error("amount {given} does not match the order's {expected}")]
    AmountMismatch {
        /// The order's amount.
        expected: Money,
        /// The amount the caller sent.
        given: Money,
    },
    /// The gateway refused the payment for good (card declined): the buyer may pay again with
    /// another method. From a refund: the gateway refused it and a lookup confirmed nothing was
    /// returned; the refund was abandoned and a new request may try again.
    #[error("payment rejected ({code}): {message}")]
    PaymentRejected {
        /// The gateway's code.
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The gateway kept failing transiently; nothing was charged. Try again later.
    #[error("payment gateway unavailable: {0}")]
    GatewayUnavailable(String),
    /// The outcome at the gateway is unknown (it timed out after the request was sent). A
    /// payment is settled by [`reconcile`](super::BookingService::reconcile): do not charge
    /// again. A refund stays in flight and is resent under its key by the next refund call.
    #[error("payment outcome unknown; it will be reconciled")]
    PaymentUnknown,
    /// A confirm or refund of this order is under way; ask again shortly.
    #[error("a payment operation for this order is in progress")]
    InProgress,
    /// The hold or the order expired.
    #[error("the order expired")]
    Expired,
    /// The order or payment is not in a state that allows this.
    #[error("{what} is {state}: cannot {action}")]
    InvalidState {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// Its state.
        state: String,
        /// What was asked.
        action: &'static str,
    },
    /// A rule of the domain refused the request (a refund above the paid amount, an extension
    /// past the hold's maximum lifetime).
    #[error("refused: {0}")]
    Refused(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The request reuses an id that a different request used first: an order id with other
    /// items (or of another buyer), a refund request id with other lines or quantities. A
    /// repeat must be the same request; a new request needs a new id. Nothing was done. An
    /// HTTP edge answers 422 (Unprocessable Content), as the IETF idempotency-key draft does
    /// for a key reused with another payload.
    #[error("{what} {id} was first used for a different request")]
    RequestMismatch {
        /// `"order"` or `"refund request"`.
        what: &'static str,
        /// The reused id.
        id: String,
    },
    /// No such order, payment, ticket or stock.
    #[error("{what} {id} not found")]
    NotFound {
        /// What.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The waiting room has not admitted this buyer (or the admission lapsed).
    #[error(transparent)]
    NotAdmitted(QueueError),
    /// A coupon could not be used.
    #[error(transparent)]
    Coupon(CouponError),
    /// The record changed concurrently; read it again and retry.
    #[error("concurrent change: {0}")]
    Conflict(String),
    /// A backend failed. The operation may be incomplete; every method is safe to call again.
    #[error(transparent)]
    Store(StoreError),
    /// The gateway failed in a way the flow could not map.
    #[error(transparent)]
    Gateway(GatewayError),
}

impl From<StoreError> for BookingError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { tickets } => BookingError::Unavailable { tickets },
            StoreError::InsufficientStock {
                stock,
                requested,
                available,
            } => BookingError::SoldOut {
                stock,
                requested,
                available,
            },
            StoreError::ItemsLost { tickets, stock } => BookingError::SeatsLost { tickets, stock },
            StoreError::NotFound { what, id } => BookingError::NotFound { what, id },
            StoreError::VersionConflict { .. } => BookingError::Conflict(err.to_string()),
            StoreError::Invalid(message) => BookingError::Invalid(message),
            StoreError::Refused { .. } => BookingError::Refused(err.to_string()),
            other => BookingError::Store(other),
        }
    }
}

impl From<CouponError> for BookingError {
    fn from(err: CouponError) -> Self {
        BookingError::Coupon(err)
    }
}

impl From<Rejection> for BookingError {
    fn from(reason: Rejection) -> Self {
        BookingError::Refused(reason.to_string())
    }
}
