//! The arguments and reports of the store's steps: compare-and-set, the paid and refunded
//! steps, the sweep's report, availability and outbox entries.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{CouponId, OrderId, StockId, UserId};
use crate::machine::DomainEvent;

#[cfg(doc)]
use super::BookingStore;
use super::{ItemRef, OrderRecord, PaymentRecord};

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
    /// Position in the outbox, in the order consumers read it: increases with every
    /// committed event and never changes once read (see [`BookingStore::outbox`]).
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
