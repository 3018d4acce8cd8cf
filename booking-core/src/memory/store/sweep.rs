//! The sweep: unpaid orders past their deadline expire, with their payment if it is still
//! waiting for the buyer. The store collects the due orders of every shard and expires them
//! earliest deadline first, each in its own shard's critical section.

use crate::clock::Timestamp;
use crate::ids::OrderId;
use crate::machine::OrderCommand;
use crate::ports::backend::store::SweepStep;
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{ExpirySweep, OrderRecord, PaymentRecord, StoreError};

use super::state::{Staged, State};

impl State {
    /// This shard's unpaid orders whose deadline is at or before `now`, earliest first.
    pub(super) fn due(&self, now: Timestamp) -> Vec<(Timestamp, OrderId)> {
        self.unpaid_by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .copied()
            .collect()
    }

    /// Expires the order `id` due at `deadline` (see [`BookingStore::expire_due`]), counting
    /// into `sweep`; `None` if it is no longer due (paid, cancelled or extended since it was
    /// found) or its payment is under way.
    pub(super) fn expire_order(
        &self,
        (deadline, id): (Timestamp, OrderId),
        now: Timestamp,
        sweep: &mut ExpirySweep,
    ) -> Result<Option<Staged>, StoreError> {
        if !self.unpaid_by_deadline.contains(&(deadline, id)) {
            return Ok(None);
        }
        let Some(record) = self.orders.get(&id).cloned() else {
            return Ok(None);
        };
        let mut staged = Staged::default();
        let mut payments_expired = 0;
        if let Some(payment) = record.payment.and_then(|p| self.payments.get(&p)).cloned() {
            match SweepStep::for_payment(&payment.payment, now) {
                SweepStep::ExpirePayment(t) => {
                    staged.events.push(t.event);
                    staged.payments.push(PaymentRecord {
                        payment: t.next,
                        ..payment
                    });
                    payments_expired = 1;
                }
                SweepStep::OrderOnly => {}
                SweepStep::Skip => {
                    sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                    return Ok(None);
                }
            }
        }
        let expired = record
            .order
            .apply(OrderCommand::Expire, now)
            .map_err(|e| StoreError::refused("Order", e))?;
        staged.events.push(expired.event);
        let (tickets, units) = self.free_items(&mut staged, &record, true, now)?;
        sweep.payments_expired = sweep.payments_expired.saturating_add(payments_expired);
        sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
        sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
        sweep
            .expired
            .push((id, record.user, record.coupons.clone()));
        staged.orders.push(OrderRecord {
            order: expired.next,
            ..record
        });
        Ok(Some(staged))
    }
}
