//! Response bodies shared by several resources: the order as clients see it.

use booking_core::ports::store::{ItemRef, OrderRecord};
use serde::Serialize;
use utoipa::ToSchema;

/// An order: its state, total, deadline, lines and the quote with the explanation of every
/// discount applied or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    /// The order's id.
    pub id: String,
    /// The sale (performance, flight or flash sale) it books.
    pub sale: String,
    /// `Pending`, `AwaitingPayment`, `Paid`, `Confirmed`, `PartiallyRefunded`, `Refunded`,
    /// `Cancelled` or `Expired`.
    pub state: String,
    /// What is charged, in KRW.
    pub total: i64,
    /// What was refunded so far, in KRW.
    pub refunded: i64,
    /// The currency of every amount.
    pub currency: String,
    /// When an unpaid order expires.
    pub expires_at: String,
    /// The order's lines; refunds name `line`.
    pub lines: Vec<LineView>,
    /// The price breakdown: subtotal, discount, total, the rules applied (`applied`) and why
    /// each other rule did not apply (`not_applied`).
    #[schema(value_type = Object)]
    pub quote: serde_json::Value,
    /// The current payment attempt, if one was started.
    pub payment: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    /// The line's id (`ticket:…` or `stock:…`).
    pub line: String,
    /// The seat, for a seat line.
    pub ticket: Option<String>,
    /// The stock, for a stock line.
    pub stock: Option<String>,
    /// Units on the line.
    pub quantity: u32,
    /// Units refunded.
    pub refunded_units: u32,
}

impl From<&OrderRecord> for OrderView {
    fn from(record: &OrderRecord) -> Self {
        let order = &record.order;
        OrderView {
            id: order.id().to_string(),
            sale: record.event.to_string(),
            state: order.state().kind().to_string(),
            total: order.total().minor(),
            refunded: order.refunded().minor(),
            currency: order.total().currency().code().to_owned(),
            expires_at: order.expires_at().to_string(),
            lines: record
                .lines
                .iter()
                .map(|l| {
                    let (ticket, stock) = match l.item {
                        ItemRef::Ticket { ticket } => (Some(ticket.to_string()), None),
                        ItemRef::Stock { stock, .. } => (None, Some(stock.to_string())),
                    };
                    LineView {
                        line: l.line.to_string(),
                        ticket,
                        stock,
                        quantity: l.units(),
                        refunded_units: l.refunded_units,
                    }
                })
                .collect(),
            quote: serde_json::to_value(&record.quote).unwrap_or_default(),
            payment: record.payment.map(|p| p.to_string()),
        }
    }
}
