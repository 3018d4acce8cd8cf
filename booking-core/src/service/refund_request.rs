//! What a refund asks for and answers, and how a repeat of it is told from another request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::BookingError;
use crate::discount::LineId;
use crate::ids::OrderId;
use crate::money::Money;
use crate::ports::idempotency::IdempotencyKey;
use crate::ports::store::{OrderRecord, PendingRefund, RefundAnswer, RefundOutcome};

/// The longest [`RefundRequest::request_id`] accepted, in bytes.
pub const MAX_REFUND_REQUEST_ID_LEN: usize = 100;

/// Which units of which lines to refund.
///
/// ```
/// # use booking_core::{discount::LineId, ids::OrderId, service::RefundRequest};
/// let order = OrderId::new();
/// let request = RefundRequest::new(order, "the buyer cannot come")
///     .line(LineId::new("ticket:a"))
///     .units(LineId::new("stock:b"), 2)
///     .request_id("click-7f3a");
/// assert_eq!(request.lines.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefundRequest {
    /// The paid order.
    pub order: OrderId,
    /// Lines and how many of their units; `None` refunds every unit not refunded yet. A line
    /// may appear once.
    pub lines: Vec<(LineId, Option<u32>)>,
    /// Why, as told to the gateway (1 to 200 characters).
    pub reason: String,
    /// The caller's id for this request (1 to [`MAX_REFUND_REQUEST_ID_LEN`] printable ASCII
    /// characters, no leading or trailing space), e.g. the id of the button press. A repeat
    /// with the same id — after a lost answer, or at the same time — gets the answer of the
    /// refund it started (the same receipt, or the same refusal) instead of refunding again;
    /// the same id with other lines or quantities is [`BookingError::RequestMismatch`].
    /// Without it, a repeat of a settled refund fails with [`BookingError::Invalid`] (nothing
    /// left to refund).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A settled refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefundReceipt {
    /// The order as it is now, after the refund.
    pub order: OrderRecord,
    /// What was refunded: exactly what those units cost under the order's quote.
    pub amount: Money,
}

impl RefundRequest {
    /// A request to refund lines of `order` (add them with [`line`](Self::line) or
    /// [`units`](Self::units)) for `reason`.
    pub fn new(order: OrderId, reason: impl Into<String>) -> Self {
        RefundRequest {
            order,
            lines: Vec::new(),
            reason: reason.into(),
            request_id: None,
        }
    }

    /// Refunds every unit of `line` not refunded yet.
    #[must_use]
    pub fn line(mut self, line: LineId) -> Self {
        self.lines.push((line, None));
        self
    }

    /// Refunds `units` units of `line`.
    #[must_use]
    pub fn units(mut self, line: LineId, units: u32) -> Self {
        self.lines.push((line, Some(units)));
        self
    }

    /// Names the request, so that its repeats get its answer.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Checks what can be checked without the order: the request id's form, at least one
    /// line, no line twice, the reason's length.
    pub(super) fn check(&self) -> Result<(), BookingError> {
        if let Some(id) = &self.request_id {
            check_request_id(id)?;
        }
        if self.lines.is_empty() {
            return Err(BookingError::invalid("lines", "no line to refund"));
        }
        let mut seen = BTreeSet::new();
        if let Some((line, _)) = self.lines.iter().find(|(line, _)| !seen.insert(line)) {
            return Err(BookingError::invalid(
                "lines",
                format!("line {line} appears twice in one refund request"),
            ));
        }
        crate::ports::backend::gateway::validate_cancel_reason(&self.reason)
            .map_err(|e| BookingError::invalid("reason", e))
    }

    /// The lines as asked, sorted by line: what a repeat must ask again.
    pub(super) fn requested(&self) -> Vec<(LineId, Option<u32>)> {
        let mut lines = self.lines.clone();
        lines.sort();
        lines
    }

    /// Whether `pending` is this request's refund: the same request id, or — without one —
    /// the same lines. The request's id on another request is a mismatch.
    pub(super) fn started(&self, pending: &PendingRefund) -> Result<bool, BookingError> {
        match &self.request_id {
            Some(id) if pending.request_id.as_ref() == Some(id) => {
                self.same_as(id, &pending.requested).map(|()| true)
            }
            Some(_) => Ok(false),
            None => Ok(self.lines.len() == pending.lines.len()
                && self.lines.iter().all(|(line, quantity)| {
                    pending
                        .lines
                        .iter()
                        .any(|(l, units)| l == line && quantity.is_none_or(|q| q == *units))
                })),
        }
    }

    /// The answer this request already got, if its id names a refund that ended.
    pub(super) fn answered(
        &self,
        record: &OrderRecord,
    ) -> Result<Option<Result<RefundReceipt, BookingError>>, BookingError> {
        let Some(id) = &self.request_id else {
            return Ok(None);
        };
        let Some(answer) = record.refund_answer(id) else {
            return Ok(None);
        };
        self.same_as(id, &answer.requested)?;
        Ok(Some(replay(answer, record)))
    }

    /// `Ok` if this request asks for `requested`, the lines the first request with `id`
    /// asked for. Refunds recorded before the lines were kept have none: any lines match.
    fn same_as(&self, id: &str, requested: &[(LineId, Option<u32>)]) -> Result<(), BookingError> {
        if requested.is_empty() || self.requested() == requested {
            Ok(())
        } else {
            Err(BookingError::RequestMismatch {
                what: "refund request",
                id: id.to_owned(),
            })
        }
    }
}

/// The answer a refund that ended gives, with the order as it is now.
pub(super) fn replay(
    answer: &RefundAnswer,
    record: &OrderRecord,
) -> Result<RefundReceipt, BookingError> {
    match &answer.outcome {
        RefundOutcome::Refunded { amount } => Ok(RefundReceipt {
            order: record.clone(),
            amount: *amount,
        }),
        RefundOutcome::Rejected { code, message } => Err(BookingError::PaymentRejected {
            code: code.clone(),
            message: message.clone(),
        }),
    }
}

/// Checks a caller's request id: what an idempotency key accepts, at most
/// [`MAX_REFUND_REQUEST_ID_LEN`] bytes.
fn check_request_id(id: &str) -> Result<(), BookingError> {
    if id.len() > MAX_REFUND_REQUEST_ID_LEN {
        return Err(BookingError::invalid(
            "request_id",
            format!(
                "{} bytes long, the limit is {MAX_REFUND_REQUEST_ID_LEN}",
                id.len()
            ),
        ));
    }
    IdempotencyKey::new(id)
        .map(drop)
        .map_err(|e| BookingError::invalid("request_id", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn pending(request_id: Option<&str>, requested: Option<u32>) -> PendingRefund {
        PendingRefund {
            seq: 1,
            lines: vec![(LineId::new("a"), 2)],
            amount: Money::new(1_000, Currency::KRW).unwrap(),
            reason: "r".to_owned(),
            request_id: request_id.map(str::to_owned),
            requested: vec![(LineId::new("a"), requested)],
            sending_until: None,
        }
    }

    fn request(request_id: Option<&str>, units: Option<u32>) -> RefundRequest {
        let request = match units {
            Some(n) => RefundRequest::new(OrderId::new(), "r").units(LineId::new("a"), n),
            None => RefundRequest::new(OrderId::new(), "r").line(LineId::new("a")),
        };
        match request_id {
            Some(id) => request.request_id(id),
            None => request,
        }
    }

    #[test]
    fn request_ids_are_one_to_a_hundred_printable_ascii_characters() {
        assert!(check_request_id("x").is_ok());
        assert!(check_request_id(&"x".repeat(MAX_REFUND_REQUEST_ID_LEN)).is_ok());
        for bad in ["", "tab\there", " lead", "trail ", &"x".repeat(101)] {
            assert!(check_request_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_request_names_lines_once_and_gives_a_reason() {
        assert!(request(Some("k"), None).check().is_ok());
        let twice = request(None, Some(1)).line(LineId::new("a"));
        assert!(
            matches!(twice.check(), Err(BookingError::Invalid { field: "lines", reason }) if reason.contains("twice"))
        );
        let empty = RefundRequest::new(OrderId::new(), "r");
        assert!(empty.check().is_err());
        let silent = RefundRequest::new(OrderId::new(), "").line(LineId::new("a"));
        assert!(silent.check().is_err());
    }

    #[test]
    fn a_request_with_an_id_is_the_refund_of_that_id_and_asks_the_same() {
        assert!(
            request(Some("k"), None)
                .started(&pending(Some("k"), None))
                .unwrap()
        );
        assert!(
            !request(Some("k"), None)
                .started(&pending(Some("j"), None))
                .unwrap()
        );
        // Same lines, but a distinct request: it waits for that refund, then makes its own.
        assert!(
            !request(Some("k"), Some(2))
                .started(&pending(None, Some(2)))
                .unwrap()
        );
        // Without an id, the lines decide.
        assert!(
            request(None, Some(2))
                .started(&pending(Some("k"), None))
                .unwrap()
        );
        assert!(
            !request(None, Some(1))
                .started(&pending(None, None))
                .unwrap()
        );
        // The id of a refund of every unit, reused for two units: another request.
        assert!(matches!(
            request(Some("k"), Some(2)).started(&pending(Some("k"), None)),
            Err(BookingError::RequestMismatch { what: "refund request", id }) if id == "k"
        ));
    }

    #[test]
    fn a_refund_recorded_without_its_lines_matches_any_repeat_of_its_id() {
        let mut old = pending(Some("k"), None);
        old.requested.clear();
        assert!(request(Some("k"), Some(2)).started(&old).unwrap());
        assert!(request(Some("k"), None).started(&old).unwrap());
    }

    #[test]
    fn the_order_of_lines_does_not_make_another_request() {
        let a = RefundRequest::new(OrderId::new(), "r")
            .line(LineId::new("x"))
            .units(LineId::new("y"), 1);
        let b = RefundRequest::new(a.order, "r")
            .units(LineId::new("y"), 1)
            .line(LineId::new("x"));
        assert_eq!(a.requested(), b.requested());
    }
}
