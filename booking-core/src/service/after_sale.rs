//! Cancel and refund: unpaid orders release their items, paid ones refund by the quote.

use std::time::Duration;

use super::refund_request::replay;
use super::refund_send::Sent;
use super::{BookingError, BookingService, RefundReceipt, RefundRequest, order_step};
use crate::ids::OrderId;
use crate::machine::{Kind, OrderCommand, OrderStateKind, PaymentCommand, PaymentState};
use crate::ports::store::{Cas, OrderRecord};

impl BookingService {
    /// Cancels an order. Unpaid, it releases its items (a payment still in progress is
    /// aborted first; one confirming makes this fail with [`BookingError::InProgress`]). Paid,
    /// it refunds every unit not refunded yet, as [`refund_lines`](Self::refund_lines) would.
    pub async fn cancel_order(
        &self,
        order: OrderId,
        reason: &str,
    ) -> Result<OrderRecord, BookingError> {
        let now = self.now();
        let record = self.store.order(order).await?;
        match record.order.state().kind() {
            OrderStateKind::Pending => {}
            OrderStateKind::AwaitingPayment => {
                if let Some(id) = record.payment {
                    let payment = self.store.payment(id).await?;
                    match payment.payment.state() {
                        PaymentState::Ready | PaymentState::InProgress => {
                            self.set_payment(&payment, PaymentCommand::Abort, now)
                                .await?;
                        }
                        PaymentState::Confirming | PaymentState::Unknown => {
                            return Err(BookingError::InProgress);
                        }
                        _ => {}
                    }
                }
            }
            OrderStateKind::Paid
            | OrderStateKind::Confirmed
            | OrderStateKind::PartiallyRefunded
            | OrderStateKind::Cancelling => {
                let request = record
                    .lines
                    .iter()
                    .fold(RefundRequest::new(order, reason), |request, l| {
                        request.line(l.line.clone())
                    });
                return Ok(self.refund_lines(&request).await?.order);
            }
            state => {
                return Err(BookingError::InvalidState {
                    what: "order",
                    state: state.name(),
                    action: "cancel",
                });
            }
        }
        let cancel = order_step(&record, OrderCommand::Cancel, "cancel", now)?;
        let mut events = vec![cancel.event];
        let mut next = cancel.next;
        if next.state().kind() == OrderStateKind::Cancelling {
            let settled = next
                .apply(OrderCommand::SettleCancel, now)
                .map_err(|e| BookingError::Refused(e.reason))?;
            events.push(settled.event);
            next = settled.next;
        }
        let change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: next,
                ..record.clone()
            },
        };
        self.store.cancel_unpaid(&change, &events, now).await?;
        self.release_coupons(&record).await;
        Ok(change.next)
    }

    /// Refunds units of a paid order's lines: exactly what they cost under the order's quote
    /// (its per-line discount allocation), so refunding everything returns the total to the
    /// won and partial refunds add up to it. Refunded tickets and stock go back on sale.
    ///
    /// One refund of an order is in flight at a time, and one caller sends it to the gateway
    /// at a time, always under the same idempotency key (`refund:<order>:<n>`) until it ends:
    ///
    /// - the gateway returned the money: the refund settles (the answer is the receipt);
    /// - the gateway refused it, and a lookup of the payment at the gateway confirms that
    ///   nothing was returned: the refund is abandoned, the order is paid again as before, and
    ///   the answer is [`BookingError::PaymentRejected`]; a later request is a new refund;
    /// - anything else (a lost answer, a gateway down, a refusal the lookup cannot confirm):
    ///   the refund stays in flight, the answer says so ([`BookingError::PaymentUnknown`],
    ///   [`BookingError::GatewayUnavailable`]), and the next call — of any refund request for
    ///   the order — first sends it again under its key.
    ///
    /// A call that finds the refund being sent by another caller (a double click) waits for
    /// its answer, up to [`Policies::duplicate_wait`](super::Policies::duplicate_wait), then
    /// answers [`BookingError::InProgress`]. With a [`request_id`](RefundRequest::request_id),
    /// every repeat of the request — at the same time or later — gets the same answer: the
    /// same receipt (with the order as it is now) or the same refusal. The rule and why it
    /// holds under races are in `docs/adr/0004-one-sender-per-refund.md`.
    pub async fn refund_lines(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundReceipt, BookingError> {
        request.check()?;
        let mut waited = Duration::ZERO;
        // The refund whose answer is this call's, once known: the one it started, or the one
        // in flight that a repeat of its request started.
        let mut mine: Option<u32> = None;
        loop {
            let now = self.now();
            let record = self.store.order(request.order).await?;
            if let Some(answer) = request.answered(&record)? {
                return answer;
            }
            if let Some(seq) = mine
                && let Some(answer) = record.refund_answers.iter().find(|a| a.seq == seq)
            {
                return replay(answer, &record);
            }
            let (seq, sent) = if let Some(pending) = record.pending_refund.clone() {
                if request.started(&pending)? {
                    mine = Some(pending.seq);
                }
                if pending.sending_until.is_some_and(|until| until > now) {
                    self.wait_for_duplicate(&mut waited).await?;
                    continue;
                }
                match self.take_over_refund(&record, pending, now).await? {
                    Some(claimed) => (claimed.pending.seq, self.send_refund(claimed).await),
                    None => continue,
                }
            } else {
                if mine.is_some() {
                    // The refund ended and its answer is no longer kept: a later request's
                    // refund may have followed it, so this one cannot be told apart.
                    return Err(BookingError::Conflict {
                        what: "order",
                        id: request.order.to_string(),
                    });
                }
                match self.start_refund(request, &record, now).await? {
                    Some(claimed) => {
                        mine = Some(claimed.pending.seq);
                        (claimed.pending.seq, self.send_refund(claimed).await)
                    }
                    None => continue,
                }
            };
            match sent {
                // The refund ended and its answer is in the record: the next pass returns it
                // (or, if it was another request's refund, starts this request's own).
                Sent::Ended | Sent::Raced => {}
                Sent::Failed(error) if mine == Some(seq) => return Err(error),
                // Another request's refund could not finish: this one cannot start yet.
                Sent::Failed(_) => return Err(BookingError::InProgress),
            }
        }
    }
}
