//! What a refund asks for and answers, and how a repeat of it is recognised.

use serde::{Deserialize, Serialize};

use super::BookingError;
use crate::discount::LineId;
use crate::ids::OrderId;
use crate::money::Money;
use crate::ports::idempotency::IdempotencyKey;
use crate::ports::store::{OrderRecord, PendingRefund};

/// The longest [`RefundRequest::request_id`] accepted, in bytes.
pub const MAX_REFUND_REQUEST_ID_LEN: usize = 100;

/// How many times a refund with a request id looks again after a concurrent change of the
/// order (a double click) before answering [`BookingError::Conflict`].
pub(super) const CONFLICT_ATTEMPTS: u32 = 3;

/// Which units of which lines to refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The paid order.
    pub order: OrderId,
    /// Lines and how many of their units; `None` refunds every unit not refunded yet.
    pub lines: Vec<(LineId, Option<u32>)>,
    /// Why, as told to the gateway (1 to 200 characters).
    pub reason: String,
    /// The caller's id for this request (1 to [`MAX_REFUND_REQUEST_ID_LEN`] printable ASCII
    /// characters, no leading or trailing space), e.g. the id of the button press. A repeat
    /// with the same id — after a lost answer, or at the same time — returns the receipt of
    /// the refund it started instead of refunding again or failing. Without it, a repeat of a
    /// settled refund fails with [`BookingError::Invalid`] (nothing left to refund).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A settled refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReceipt {
    /// The order after the refund.
    pub order: OrderRecord,
    /// What was refunded: exactly what those units cost under the order's quote.
    pub amount: Money,
}

/// Checks a caller's request id: what an idempotency key accepts, at most
/// [`MAX_REFUND_REQUEST_ID_LEN`] bytes.
pub(super) fn check_request_id(id: &str) -> Result<(), BookingError> {
    if id.len() > MAX_REFUND_REQUEST_ID_LEN {
        return Err(BookingError::Invalid(format!(
            "the refund request id is {} bytes long, the limit is {MAX_REFUND_REQUEST_ID_LEN}",
            id.len()
        )));
    }
    IdempotencyKey::new(id)
        .map(drop)
        .map_err(|e| BookingError::Invalid(format!("refund request id: {e}")))
}

/// Whether `request` asks for exactly the refund `pending` (a retry after a lost answer): the
/// same request id when the request has one, otherwise the same lines.
pub(super) fn same_refund(request: &RefundRequest, pending: &PendingRefund) -> bool {
    if let Some(id) = &request.request_id {
        return pending.request_id.as_ref() == Some(id);
    }
    request.lines.len() == pending.lines.len()
        && request.lines.iter().all(|(line, quantity)| {
            pending
                .lines
                .iter()
                .any(|(l, units)| l == line && quantity.is_none_or(|q| q == *units))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn pending(request_id: Option<&str>) -> PendingRefund {
        PendingRefund {
            seq: 1,
            lines: vec![(LineId::new("a"), 2)],
            amount: Money::new(1_000, Currency::KRW).unwrap(),
            reason: "r".to_owned(),
            request_id: request_id.map(str::to_owned),
        }
    }

    fn request(request_id: Option<&str>, units: Option<u32>) -> RefundRequest {
        RefundRequest {
            order: OrderId::new(),
            lines: vec![(LineId::new("a"), units)],
            reason: "r".to_owned(),
            request_id: request_id.map(str::to_owned),
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
    fn a_request_with_an_id_repeats_only_the_refund_of_that_id() {
        assert!(same_refund(&request(Some("k"), None), &pending(Some("k"))));
        assert!(!same_refund(&request(Some("k"), None), &pending(Some("j"))));
        // Same lines but a distinct request: settled first, then refunded on its own.
        assert!(!same_refund(&request(Some("k"), Some(2)), &pending(None)));
        // Without an id, the lines decide, as before request ids existed.
        assert!(same_refund(&request(None, Some(2)), &pending(Some("k"))));
        assert!(!same_refund(&request(None, Some(1)), &pending(None)));
    }
}
