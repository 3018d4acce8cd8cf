//! Every error code Toss documents for confirm, cancel, look-up and idempotency, with what a
//! caller may do about it: the [`ErrorClass`] of each, as data.
//!
//! The table follows the Toss error-code reference (see the crate docs for the same table).
//! Codes Toss adds later are not in it: [`classify`] then decides by the HTTP status alone,
//! and the raw code stays in the error.

use booking_core::policy::retry::RetryDecision;

/// What a caller may do after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Nothing was done; send the same request again (same idempotency key) after a backoff.
    Retry,
    /// The first request with this idempotency key is still being processed: send it again
    /// after a pause to get its answer.
    InFlight,
    /// Final: sending it again cannot change the answer.
    Stop,
    /// Money may have moved: look the payment up before doing anything else.
    Reconcile,
}

impl ErrorClass {
    /// The booking-core retry decision for this class; `pause` is the wait for
    /// [`ErrorClass::InFlight`].
    pub fn decision(self, pause: std::time::Duration) -> RetryDecision {
        match self {
            ErrorClass::Retry => RetryDecision::Retry,
            ErrorClass::InFlight => RetryDecision::RetryAfter(pause),
            ErrorClass::Stop => RetryDecision::Stop,
            ErrorClass::Reconcile => RetryDecision::Reconcile,
        }
    }
}

/// Which call an error answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/payments/confirm`.
    Confirm,
    /// `POST /v1/payments/{paymentKey}/cancel`.
    Cancel,
    /// `GET /v1/payments/{paymentKey}` or `GET /v1/payments/orders/{orderId}`.
    Lookup,
}

impl Endpoint {
    /// Whether the call can move money (a POST).
    pub fn moves_money(self) -> bool {
        !matches!(self, Endpoint::Lookup)
    }
}

/// Which of Toss's tables lists a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// The confirm error table.
    Confirm,
    /// The cancel error table.
    Cancel,
    /// Both the confirm and the cancel table.
    ConfirmAndCancel,
    /// The idempotency-key errors (every POST).
    Idempotency,
    /// The look-up errors.
    Lookup,
    /// Not in the documented tables; seen from Toss by other clients.
    Observed,
}

/// One documented error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentedCode {
    /// The code, e.g. `PROVIDER_ERROR`.
    pub code: &'static str,
    /// The HTTP status Toss answers it with.
    pub status: u16,
    /// The table that lists it.
    pub table: Table,
    /// What to do about it on a POST (a look-up never moves money: see [`classify`]).
    pub class: ErrorClass,
}

const fn doc(code: &'static str, status: u16, table: Table, class: ErrorClass) -> DocumentedCode {
    DocumentedCode {
        code,
        status,
        table,
        class,
    }
}

use ErrorClass::{InFlight, Reconcile, Retry, Stop};
use Table::{Cancel, Confirm, ConfirmAndCancel, Idempotency, Lookup, Observed};

/// Every documented code, in the order of Toss's tables.
pub const DOCUMENTED_CODES: &[DocumentedCode] = &[
    // Confirm (and the rows the cancel table shares).
    doc("ALREADY_PROCESSED_PAYMENT", 400, Confirm, Reconcile),
    doc("PROVIDER_ERROR", 400, ConfirmAndCancel, Retry),
    doc("EXCEED_MAX_CARD_INSTALLMENT_PLAN", 400, Confirm, Stop),
    doc("INVALID_REQUEST", 400, ConfirmAndCancel, Stop),
    doc("NOT_ALLOWED_POINT_USE", 400, Confirm, Stop),
    doc("INVALID_API_KEY", 400, Confirm, Stop),
    doc("INVALID_REJECT_CARD", 400, Confirm, Stop),
    doc("BELOW_MINIMUM_AMOUNT", 400, Confirm, Stop),
    doc("INVALID_CARD_EXPIRATION", 400, Confirm, Stop),
    doc("INVALID_STOPPED_CARD", 400, Confirm, Stop),
    doc("EXCEED_MAX_DAILY_PAYMENT_COUNT", 400, Confirm, Stop),
    doc(
        "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT",
        400,
        Confirm,
        Stop,
    ),
    doc("INVALID_CARD_INSTALLMENT_PLAN", 400, Confirm, Stop),
    doc("NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN", 400, Confirm, Stop),
    doc("EXCEED_MAX_PAYMENT_AMOUNT", 400, Confirm, Stop),
    doc("NOT_FOUND_TERMINAL_ID", 400, Confirm, Stop),
    doc("INVALID_AUTHORIZE_AUTH", 400, Confirm, Stop),
    doc("INVALID_CARD_LOST_OR_STOLEN", 400, Confirm, Stop),
    doc("RESTRICTED_TRANSFER_ACCOUNT", 400, Confirm, Stop),
    doc("INVALID_CARD_NUMBER", 400, Confirm, Stop),
    doc("INVALID_UNREGISTERED_SUBMALL", 400, Confirm, Stop),
    doc("NOT_REGISTERED_BUSINESS", 400, Confirm, Stop),
    doc("EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT", 400, Confirm, Stop),
    doc("EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT", 400, Confirm, Stop),
    doc("CARD_PROCESSING_ERROR", 400, Confirm, Reconcile),
    doc("EXCEED_MAX_AMOUNT", 400, Confirm, Stop),
    doc("INVALID_ACCOUNT_INFO_RE_REGISTER", 400, Confirm, Stop),
    doc("NOT_AVAILABLE_PAYMENT", 400, Confirm, Stop),
    doc("UNAPPROVED_ORDER_ID", 400, Confirm, Stop),
    doc("UNAUTHORIZED_KEY", 401, ConfirmAndCancel, Stop),
    doc("REJECT_ACCOUNT_PAYMENT", 403, Confirm, Stop),
    doc("REJECT_CARD_PAYMENT", 403, Confirm, Stop),
    doc("REJECT_CARD_COMPANY", 403, Confirm, Stop),
    doc("FORBIDDEN_REQUEST", 403, ConfirmAndCancel, Stop),
    doc("REJECT_TOSSPAY_INVALID_ACCOUNT", 403, Confirm, Stop),
    doc("EXCEED_MAX_AUTH_COUNT", 403, Confirm, Stop),
    doc("EXCEED_MAX_ONE_DAY_AMOUNT", 403, Confirm, Stop),
    doc("NOT_AVAILABLE_BANK", 403, ConfirmAndCancel, Stop),
    doc("INVALID_PASSWORD", 403, Confirm, Stop),
    doc("INCORRECT_BASIC_AUTH_FORMAT", 403, ConfirmAndCancel, Stop),
    doc("FDS_ERROR", 403, Confirm, Stop),
    doc("NOT_FOUND_PAYMENT", 404, ConfirmAndCancel, Stop),
    doc("NOT_FOUND_PAYMENT_SESSION", 404, Confirm, Stop),
    doc(
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        500,
        ConfirmAndCancel,
        Retry,
    ),
    doc(
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        500,
        ConfirmAndCancel,
        Retry,
    ),
    doc("UNKNOWN_PAYMENT_ERROR", 500, Confirm, Reconcile),
    // Cancel only.
    doc("ALREADY_CANCELED_PAYMENT", 400, Cancel, Stop),
    doc("INVALID_REFUND_ACCOUNT_INFO", 400, Cancel, Stop),
    doc("EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT", 400, Cancel, Stop),
    doc("INVALID_REFUND_ACCOUNT_NUMBER", 400, Cancel, Stop),
    doc("INVALID_BANK", 400, Cancel, Stop),
    doc("NOT_MATCHES_REFUNDABLE_AMOUNT", 400, Cancel, Stop),
    doc("REFUND_REJECTED", 400, Cancel, Stop),
    doc("ALREADY_REFUND_PAYMENT", 400, Cancel, Stop),
    doc("FORBIDDEN_BANK_REFUND_REQUEST", 400, Cancel, Stop),
    doc("NOT_CANCELABLE_AMOUNT", 403, Cancel, Stop),
    doc("FORBIDDEN_CONSECUTIVE_REQUEST", 403, Cancel, Retry),
    doc("NOT_CANCELABLE_PAYMENT", 403, Cancel, Stop),
    doc("EXCEED_MAX_REFUND_DUE", 403, Cancel, Stop),
    doc(
        "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT",
        403,
        Cancel,
        Stop,
    ),
    doc("NOT_ALLOWED_PARTIAL_REFUND", 403, Cancel, Stop),
    doc("NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER", 403, Cancel, Stop),
    doc("FAILED_REFUND_PROCESS", 500, Cancel, Retry),
    doc("FAILED_METHOD_HANDLING_CANCEL", 500, Cancel, Retry),
    doc("FAILED_PARTIAL_REFUND", 500, Cancel, Retry),
    doc("COMMON_ERROR", 500, Cancel, Retry),
    // Idempotency keys, on every POST.
    doc("INVALID_IDEMPOTENCY_KEY", 400, Idempotency, Stop),
    doc("IDEMPOTENT_REQUEST_PROCESSING", 409, Idempotency, InFlight),
    // Look-up.
    doc("NOT_FOUND", 404, Lookup, Stop),
    // Seen from Toss, missing from the documented tables: another request for the payment is
    // under way, so its outcome is open.
    doc("ALREADY_PROCESSING_REQUEST", 400, Observed, Reconcile),
];

/// The documented entry for `code`, if Toss documents it.
pub fn documented(code: &str) -> Option<&'static DocumentedCode> {
    DOCUMENTED_CODES.iter().find(|d| d.code == code)
}

/// What to do about an error answer with `status` and `code` from `endpoint`.
///
/// Documented codes take their class from the table. An undocumented code is classed by its
/// status: 409 is in flight; on a POST a 5xx is [`ErrorClass::Reconcile`] (the money may have
/// moved) and a 4xx [`ErrorClass::Stop`]. A look-up moves no money, so there every class but
/// `Stop` becomes [`ErrorClass::Retry`], and an undocumented 5xx is retried too.
pub fn classify(endpoint: Endpoint, status: u16, code: &str) -> ErrorClass {
    let class = match documented(code) {
        Some(entry) => entry.class,
        None if status == 409 => InFlight,
        None if (500..=599).contains(&status) => Reconcile,
        None => Stop,
    };
    match (endpoint.moves_money(), class) {
        (true, class) | (false, class @ Stop) => class,
        (false, _) => Retry,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let mut seen = HashSet::new();
        for entry in DOCUMENTED_CODES {
            assert!(seen.insert(entry.code), "{} listed twice", entry.code);
            assert!(
                entry
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_')
            );
        }
        assert_eq!(seen.len(), 70);
    }

    #[test]
    fn the_classes_the_reference_names() {
        use Endpoint::{Cancel as C, Confirm as P, Lookup as L};
        assert_eq!(classify(P, 400, "PROVIDER_ERROR"), Retry);
        assert_eq!(
            classify(P, 500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"),
            Retry
        );
        assert_eq!(classify(P, 403, "REJECT_CARD_PAYMENT"), Stop);
        assert_eq!(classify(P, 404, "NOT_FOUND_PAYMENT_SESSION"), Stop);
        assert_eq!(classify(P, 400, "ALREADY_PROCESSED_PAYMENT"), Reconcile);
        assert_eq!(classify(P, 500, "UNKNOWN_PAYMENT_ERROR"), Reconcile);
        assert_eq!(classify(P, 409, "IDEMPOTENT_REQUEST_PROCESSING"), InFlight);
        assert_eq!(classify(C, 403, "FORBIDDEN_CONSECUTIVE_REQUEST"), Retry);
        assert_eq!(classify(C, 500, "FAILED_REFUND_PROCESS"), Retry);
        assert_eq!(classify(C, 403, "NOT_CANCELABLE_AMOUNT"), Stop);
        // Undocumented codes: by status, the raw code kept by the caller.
        assert_eq!(classify(P, 503, "SOMETHING_NEW"), Reconcile);
        assert_eq!(classify(P, 400, "SOMETHING_NEW"), Stop);
        assert_eq!(classify(P, 409, "SOMETHING_NEW"), InFlight);
        // Look-ups move no money: anything but a final answer is worth another try.
        assert_eq!(classify(L, 500, "UNKNOWN_PAYMENT_ERROR"), Retry);
        assert_eq!(classify(L, 503, "SOMETHING_NEW"), Retry);
        assert_eq!(classify(L, 404, "NOT_FOUND_PAYMENT"), Stop);
        assert_eq!(classify(L, 401, "UNAUTHORIZED_KEY"), Stop);
    }

    /// The crate docs' table of codes is this table.
    #[test]
    fn the_readme_lists_every_code_with_its_class() {
        let readme = include_str!("../README.md");
        let rows: Vec<Vec<&str>> = readme
            .lines()
            .filter(|line| line.starts_with("| `") && line.matches('|').count() == 5)
            .map(|line| {
                line.split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), DOCUMENTED_CODES.len());
        for (row, entry) in rows.iter().zip(DOCUMENTED_CODES) {
            let table = match entry.table {
                Table::Confirm => "confirm",
                Table::Cancel => "cancel",
                Table::ConfirmAndCancel => "confirm, cancel",
                Table::Idempotency => "every POST",
                Table::Lookup => "look-up",
                Table::Observed => "seen, not documented",
            };
            let class = match entry.class {
                Retry => "retry",
                InFlight => "in flight",
                Stop => "stop",
                Reconcile => "reconcile",
            };
            let status = entry.status.to_string();
            let code = format!("`{}`", entry.code);
            assert_eq!(
                row.as_slice(),
                [code.as_str(), status.as_str(), table, class]
            );
        }
    }

    #[test]
    fn classes_map_to_retry_decisions() {
        let pause = std::time::Duration::from_secs(1);
        assert_eq!(InFlight.decision(pause), RetryDecision::RetryAfter(pause));
        assert_eq!(Reconcile.decision(pause), RetryDecision::Reconcile);
        assert_eq!(Stop.decision(pause), RetryDecision::Stop);
        assert_eq!(Retry.decision(pause), RetryDecision::Retry);
    }
}
