//! The paid and refunded steps: selling an order's items, and putting refunded items back on
//! sale.

use crate::clock::Timestamp;
use crate::machine::{StockCommand, TicketCommand};
use crate::ports::backend::store::{check_restock, none_lost};
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{ItemRef, MarkPaid, SettleRefund, StoreError};

use super::state::{HoldStatus, Staged, State, StockHold};

impl State {
    /// See [`BookingStore::mark_paid`].
    pub(super) fn mark_paid(&self, paid: &MarkPaid, now: Timestamp) -> Result<Staged, StoreError> {
        let record = self.order_at(&paid.order)?.clone();
        self.payment_at(&paid.payment)?;
        let order = record.order.id();
        let mut staged = Staged {
            events: paid.events.clone(),
            ..Staged::default()
        };
        let (mut lost_tickets, mut lost_stock) = (Vec::new(), Vec::new());
        for line in &record.lines {
            match line.item {
                ItemRef::Ticket { ticket } => {
                    let current = &self.ticket(ticket)?.ticket;
                    // Held by this order (even past its deadline) sells; free again (released,
                    // or held by a lapsed hold) is taken back first; anything else is lost.
                    let sold = current
                        .apply(TicketCommand::Sell { order }, now)
                        .or_else(|_| {
                            let hold = TicketCommand::Hold {
                                order,
                                hold: record.hold,
                                expires_at: now,
                            };
                            let held = current.apply(hold, now)?;
                            staged.events.push(held.event);
                            held.next.apply(TicketCommand::Sell { order }, now)
                        });
                    match sold {
                        Ok(t) => {
                            staged.events.push(t.event);
                            staged.tickets.push(t.next);
                        }
                        Err(_) => lost_tickets.push(ticket),
                    }
                }
                ItemRef::Stock { stock, quantity } => {
                    let held = self.stock_hold(record.hold, stock);
                    let active = held.is_some_and(|h| h.status == HoldStatus::Active);
                    if !active {
                        // Reclaimed after it lapsed: take the units again if they are there.
                        self.reclaim_lapsed(&mut staged, stock, now)?;
                        let retake = StockCommand::Hold {
                            order,
                            hold: record.hold,
                            quantity,
                        };
                        if staged.apply_stock(self, stock, retake, now).is_err() {
                            lost_stock.push(stock);
                            continue;
                        }
                    }
                    staged.apply_stock(self, stock, StockCommand::Sell { order, quantity }, now)?;
                    let expires_at = held.map_or(now, |h| h.expires_at);
                    staged.holds.push((
                        record.hold,
                        StockHold {
                            stock,
                            quantity,
                            expires_at,
                            status: HoldStatus::Sold,
                        },
                    ));
                }
            }
        }
        none_lost(lost_tickets, lost_stock)?;
        staged.orders.push(paid.order.next.clone());
        staged.payments.push(paid.payment.next.clone());
        Ok(staged)
    }

    /// See [`BookingStore::settle_refund`].
    pub(super) fn settle_refund(
        &self,
        refund: &SettleRefund,
        now: Timestamp,
    ) -> Result<Staged, StoreError> {
        check_restock(&refund.restock)?;
        let record = self.order_at(&refund.order)?.clone();
        self.payment_at(&refund.payment)?;
        let order = record.order.id();
        let mut staged = Staged {
            events: refund.events.clone(),
            ..Staged::default()
        };
        for item in &refund.restock {
            match *item {
                ItemRef::Ticket { ticket } => {
                    let refunded = staged.apply_ticket(
                        &self.ticket(ticket)?.ticket,
                        TicketCommand::Refund { order },
                        now,
                    )?;
                    let relisted = staged.apply_ticket(&refunded, TicketCommand::Relist, now)?;
                    staged.tickets.push(relisted);
                }
                ItemRef::Stock { stock, quantity } => {
                    staged.apply_stock(
                        self,
                        stock,
                        StockCommand::Refund { order, quantity },
                        now,
                    )?;
                }
            }
        }
        staged.orders.push(refund.order.next.clone());
        staged.payments.push(refund.payment.next.clone());
        Ok(staged)
    }
}
