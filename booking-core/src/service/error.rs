//! [`BookingError`]: what went wrong in a booking flow, said as what the caller can do.

use crate::clock::Timestamp;
use crate::ids::{StockId, TicketId};
use crate::machine::Rejection;
use crate::money::Money;
use crate::ports::coupon::CouponError;
use crate::ports::gateway::GatewayError;
use crate::ports::queue::QueueError;
use crate::ports::store::StoreError;

/// Why a [`BookingService`](super::BookingService) call failed.
///
/// Every variant carries what a caller matches on (which seats, which state, which code) and
/// names, in its documentation, the HTTP status an HTTP edge answers with; [`http_status`]
/// gives it. Unless a variant says otherwise, a failed call changed nothing.
///
/// [`http_status`]: BookingError::http_status
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BookingError {
    /// Some tickets are held by someone else, sold or blocked. Offer other seats.
    /// HTTP 409 Conflict.
    #[error("tickets unavailable: {tickets:?}")]
    Unavailable {
        /// The tickets that could not be held.
        tickets: Vec<TicketId>,
    },
    /// Not enough units of a stock are left. HTTP 409 Conflict.
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
    /// cancelled. HTTP 409 Conflict.
    #[error("items were sold to someone else after the hold lapsed; the payment was cancelled")]
    SeatsLost {
        /// Tickets lost.
        tickets: Vec<TicketId>,
        /// Stocks short.
        stock: Vec<StockId>,
    },
    /// The confirmed amount differs from the order's: a tampered or stale client. Nothing was
    /// charged. HTTP 422 Unprocessable Content.
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
    /// HTTP 402 Payment Required.
    #[error("payment rejected ({code}): {message}")]
    PaymentRejected {
        /// The gateway's code, e.g. `REJECT_CARD_PAYMENT`.
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The gateway kept failing transiently (or could not confirm a refusal); nothing was
    /// charged or refunded by this call. Try again later. HTTP 503 Service Unavailable.
    #[error("payment gateway unavailable ({code}): {message}")]
    GatewayUnavailable {
        /// The gateway's last code, e.g. `PROVIDER_ERROR`.
        code: String,
        /// What happened.
        message: String,
    },
    /// The outcome at the gateway is unknown (it timed out after the request was sent). A
    /// payment is settled by [`reconcile`](super::BookingService::reconcile): do not charge
    /// again. A refund stays in flight and is resent under its key by the next refund call.
    /// HTTP 504 Gateway Timeout.
    #[error("the gateway's outcome is unknown; it will be settled by looking it up")]
    PaymentUnknown,
    /// A confirm or refund of this order is under way; ask again shortly.
    /// HTTP 409 Conflict (with `Retry-After`).
    #[error("a payment operation for this order is in progress")]
    InProgress,
    /// The hold or the order expired: hold the items again. HTTP 410 Gone.
    #[error("the order expired")]
    Expired,
    /// The order or payment is not in a state that allows this. HTTP 409 Conflict.
    #[error("{what} is {state}: cannot {action}")]
    InvalidState {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// Its state's name, e.g. `"Refunded"` (see
        /// [`OrderStateKind`](crate::machine::OrderStateKind) and
        /// [`PaymentState`](crate::machine::PaymentState)).
        state: &'static str,
        /// What was asked, e.g. `"refund"`.
        action: &'static str,
    },
    /// A rule of the domain refused the request (a refund above what is left, an amount in
    /// another currency). HTTP 422 Unprocessable Content.
    #[error("refused: {0}")]
    Refused(Rejection),
    /// The hold cannot be extended further: it reached its maximum lifetime.
    /// HTTP 422 Unprocessable Content.
    #[error("the hold cannot be extended past {cap}")]
    ExtensionLimit {
        /// The latest deadline the hold may have.
        cap: Timestamp,
    },
    /// A field of the request is malformed or names something that does not fit (an item of
    /// another event, a line the order does not have, an unknown gateway).
    /// HTTP 422 Unprocessable Content, naming `field`.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The request's field, e.g. `"items"`, `"lines"`, `"request_id"`, `"reason"`,
        /// `"gateway"`, `"coupons"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request reuses an id that a different request used first: an order id with other
    /// items (or of another buyer), a refund request id with other lines or quantities. A
    /// repeat must be the same request; a new request needs a new id. Nothing was done.
    /// HTTP 422 Unprocessable Content, as the IETF idempotency-key draft answers a key reused
    /// with another payload.
    #[error("{what} {id} was first used for a different request")]
    RequestMismatch {
        /// `"order"` or `"refund request"`.
        what: &'static str,
        /// The reused id.
        id: String,
    },
    /// No such order, payment, ticket or stock. HTTP 404 Not Found.
    #[error("{what} {id} not found")]
    NotFound {
        /// What: `"order"`, `"payment"`, `"ticket"`, `"stock"`.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The waiting room has not admitted this buyer (or the admission lapsed).
    /// HTTP 403 Forbidden.
    #[error(transparent)]
    NotAdmitted(QueueError),
    /// A coupon could not be used. HTTP 409 Conflict when it is taken or used up, 422
    /// Unprocessable Content when it was never issued to the buyer.
    #[error(transparent)]
    Coupon(CouponError),
    /// The record changed concurrently (or ended while this call waited); read it again and
    /// retry. HTTP 409 Conflict.
    #[error("{what} {id} changed concurrently")]
    Conflict {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A backend failed. The operation may be incomplete; every method is safe to call again.
    /// HTTP 503 Service Unavailable when the store is busy, 500 otherwise.
    #[error(transparent)]
    Store(StoreError),
    /// The gateway failed in a way the flow could not map (it did not know the payment, or
    /// refused the request as malformed). HTTP 502 Bad Gateway.
    #[error(transparent)]
    Gateway(GatewayError),
    /// Stored data breaks a rule the service relies on (a paid payment without a payment key):
    /// a bug or a hand-edited record, never the caller's fault. HTTP 500 Internal Server Error.
    #[error("inconsistent booking data: {0}")]
    Inconsistent(&'static str),
}

impl BookingError {
    /// The HTTP status an HTTP edge answers this error with, as each variant documents.
    pub fn http_status(&self) -> u16 {
        match self {
            BookingError::Unavailable { .. }
            | BookingError::SoldOut { .. }
            | BookingError::SeatsLost { .. }
            | BookingError::InProgress
            | BookingError::InvalidState { .. }
            | BookingError::Conflict { .. } => 409,
            BookingError::AmountMismatch { .. }
            | BookingError::Refused(_)
            | BookingError::ExtensionLimit { .. }
            | BookingError::Invalid { .. }
            | BookingError::RequestMismatch { .. } => 422,
            BookingError::PaymentRejected { .. } => 402,
            BookingError::GatewayUnavailable { .. } => 503,
            BookingError::PaymentUnknown => 504,
            BookingError::Expired => 410,
            BookingError::NotFound { .. } => 404,
            BookingError::NotAdmitted(_) => 403,
            BookingError::Coupon(CouponError::NotIssued | CouponError::Invalid(_)) => 422,
            BookingError::Coupon(_) => 409,
            BookingError::Store(StoreError::Busy(_)) => 503,
            BookingError::Store(_) | BookingError::Inconsistent(_) => 500,
            BookingError::Gateway(_) => 502,
        }
    }

    /// An [`Invalid`](BookingError::Invalid) error: `field` of the request, and why.
    pub fn invalid(field: &'static str, reason: impl ToString) -> Self {
        BookingError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
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
            StoreError::VersionConflict { what, id, .. } => BookingError::Conflict { what, id },
            StoreError::Invalid(reason) => BookingError::Invalid {
                field: "items",
                reason,
            },
            StoreError::Refused { reason, .. } => BookingError::Refused(reason),
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
        BookingError::Refused(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_what_the_caller_can_do() {
        let cases: [(BookingError, u16); 9] = [
            (BookingError::Unavailable { tickets: vec![] }, 409),
            (BookingError::Expired, 410),
            (BookingError::invalid("items", "nothing to hold"), 422),
            (
                BookingError::RequestMismatch {
                    what: "order",
                    id: "x".into(),
                },
                422,
            ),
            (BookingError::Coupon(CouponError::NotIssued), 422),
            (BookingError::Coupon(CouponError::Exhausted), 409),
            (BookingError::Store(StoreError::Busy("pool".into())), 503),
            (BookingError::PaymentUnknown, 504),
            (BookingError::Inconsistent("no key"), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.http_status(), status, "{error}");
        }
    }

    #[test]
    fn a_store_conflict_names_the_record() {
        let error = BookingError::from(StoreError::version_conflict("order", "o-1", 3));
        assert!(matches!(error, BookingError::Conflict { what: "order", id } if id == "o-1"));
    }
}
