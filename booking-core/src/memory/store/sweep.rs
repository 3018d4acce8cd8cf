//! The sweep: unpaid orders past their deadline expire, with their payment if it is still
//! waiting for the buyer.

use crate::clock::Timestamp;
use crate::ids::OrderId;
use crate::ports::backend::store::SweepStep;
#[cfg(doc)]
use crate::ports::store::BookingStore;
use crate::ports::store::{ExpirySweep, OrderRecord, PaymentRecord, StoreError};

use super::state::{Staged, State};

impl State {
    /// See [`BookingStore::expire_due`].
    pub(super) fn expire_due(
        &mut self,
        now: Timestamp,
        batch: u32,
    ) -> Result<ExpirySweep, StoreError> {
        let due: Vec<(Timestamp, OrderId)> = self
            .unpaid_by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .copied()
            .collect();
        let mut sweep = ExpirySweep::default();
        for (_, id) in due {
            if sweep.expired.len() >= usize::try_from(batch).unwrap_or(usize::MAX) {
                break;
            }
            let Some(record) = self.orders.get(&id).cloned() else {
                continue;
            };
            let mut staged = Staged::default();
            if let Some(payment) = record.payment.and_then(|p| self.payments.get(&p)).cloned() {
                match SweepStep::for_payment(&payment.payment, now) {
                    SweepStep::ExpirePayment(t) => {
                        staged.events.push(t.event);
                        staged.payments.push(PaymentRecord {
                            payment: t.next,
                            ..payment
                        });
                        sweep.payments_expired = sweep.payments_expired.saturating_add(1);
                    }
                    SweepStep::OrderOnly => {}
                    SweepStep::Skip => {
                        sweep.skipped_in_payment = sweep.skipped_in_payment.saturating_add(1);
                        continue;
                    }
                }
            }
            let expired = record
                .order
                .apply(crate::machine::OrderCommand::Expire, now)
                .map_err(|e| StoreError::refused("Order", e))?;
            staged.events.push(expired.event);
            let (tickets, units) = self.free_items(&mut staged, &record, true, now)?;
            sweep.tickets_released = sweep.tickets_released.saturating_add(tickets);
            sweep.stock_units_released = sweep.stock_units_released.saturating_add(units);
            sweep
                .expired
                .push((id, record.user, record.coupons.clone()));
            staged.orders.push(OrderRecord {
                order: expired.next,
                ..record
            });
            self.commit(staged, now);
        }
        Ok(sweep)
    }
}
