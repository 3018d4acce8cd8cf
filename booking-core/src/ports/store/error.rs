//! Why a store operation failed.

use std::fmt;

use crate::ids::{StockId, TicketId};
use crate::machine::Rejection;

/// Why a store operation failed.
///
/// **A failed operation changed nothing, with one exception: [`StoreError::Backend`].** Every
/// other variant is the store refusing before or instead of writing (the operation is atomic,
/// so a refusal part way through is rolled back). `Backend` means the store could not tell:
/// the connection broke or the database failed around the commit, so the operation may or may
/// not have been applied; read the records again before deciding to retry.
///
/// The message of `Backend` includes the driver's (and [`source`](std::error::Error::source)
/// returns the driver's error itself, for its own chain), so printing the error shows why the
/// backend failed.
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
    /// The store is overloaded (no connection free in time, a lock or statement timeout, a
    /// deadlock): nothing was done; retry later.
    #[error("store busy: {0}")]
    Busy(String),
    /// The backend failed and cannot tell whether the operation was applied: the one
    /// exception to "a failed operation changed nothing". Re-read before retrying.
    #[error("{backend} store failed: {source}")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrderId;

    #[test]
    fn a_version_conflict_names_the_record_and_the_expected_version() {
        let id = OrderId::new();
        assert!(matches!(
            StoreError::version_conflict("order", id, 4),
            StoreError::VersionConflict { what: "order", id: i, expected: 4 } if i == id.to_string()
        ));
    }
}
