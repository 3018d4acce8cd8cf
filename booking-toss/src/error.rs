//! [`TossError`]: everything a Toss call can report besides a payment, by what the caller can
//! do about it ([`TossError::class`]).

use std::time::Duration;

use booking_core::policy::retry::RetryDecision;

use crate::codes::{DocumentedCode, Endpoint, ErrorClass, classify, documented};

/// How long to wait before resending a request Toss is still processing
/// (`409 IDEMPOTENT_REQUEST_PROCESSING`).
pub const IN_FLIGHT_PAUSE: Duration = Duration::from_secs(1);

/// Why a Toss call did not return a payment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TossError {
    /// Toss answered with an error body (`{"code", "message"}`).
    #[error("Toss answered {status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The code as sent, documented or not.
        code: String,
        /// Toss's text for people; never match on it.
        message: String,
    },
    /// No connection could be made: the request was not sent.
    #[error("could not connect to Toss: {source}")]
    Connect {
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The request was (or may have been) sent and no complete answer came back: a timeout, a
    /// connection closed mid-way. A POST may have taken effect.
    #[error("no answer from Toss ({}): {source}", if *.timed_out { "timed out" } else { "connection lost" })]
    NoAnswer {
        /// Whether the total timeout ran out.
        timed_out: bool,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// Toss's answer could not be read as what the endpoint returns.
    #[error("unreadable answer from Toss (HTTP {status}): {reason}")]
    Decode {
        /// The HTTP status of the answer.
        status: u16,
        /// What did not fit.
        reason: String,
    },
    /// The request was refused before sending: a field out of Toss's limits.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client could not be built (TLS, base URL).
    #[error("client configuration: {0}")]
    Config(String),
}

impl TossError {
    /// The Toss error code, for [`TossError::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            TossError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The documented entry of the code, if Toss documents it.
    pub fn documented(&self) -> Option<&'static DocumentedCode> {
        self.code().and_then(documented)
    }

    /// What the caller of `endpoint` may do about this error.
    ///
    /// | error | POST (confirm, cancel) | GET (look-up) |
    /// |---|---|---|
    /// | `Api` | the code's class ([`classify`]) | `Stop` stays, anything else `Retry` |
    /// | `Connect` (not sent) | `Retry` | `Retry` |
    /// | `NoAnswer` (sent, no answer) | `Reconcile` | `Retry` |
    /// | `Decode` of a 2xx | `Reconcile` | `Retry` |
    /// | `Decode` of an error | 5xx `Reconcile`, else `Stop` | 5xx `Retry`, else `Stop` |
    /// | `InvalidRequest`, `Config` | `Stop` | `Stop` |
    pub fn class(&self, endpoint: Endpoint) -> ErrorClass {
        let unsure = if endpoint.moves_money() {
            ErrorClass::Reconcile
        } else {
            ErrorClass::Retry
        };
        match self {
            TossError::Api { status, code, .. } => classify(endpoint, *status, code),
            TossError::Connect { .. } => ErrorClass::Retry,
            TossError::NoAnswer { .. } => unsure,
            TossError::Decode { status, .. } if (200..=299).contains(status) => unsure,
            TossError::Decode { status, .. } if (500..=599).contains(status) => unsure,
            TossError::Decode { .. } | TossError::InvalidRequest(_) | TossError::Config(_) => {
                ErrorClass::Stop
            }
        }
    }

    /// [`class`](Self::class) as booking-core's retry decision, so a [`Retrier`] can run Toss
    /// calls: `retrier.retry(&|e: &TossError| e.retry_decision(Endpoint::Confirm), …)`.
    ///
    /// [`Retrier`]: booking_core::policy::retry::Retrier
    pub fn retry_decision(&self, endpoint: Endpoint) -> RetryDecision {
        self.class(endpoint).decision(IN_FLIGHT_PAUSE)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An error body with `status` and `code`.
    pub(crate) fn api(status: u16, code: &str) -> TossError {
        TossError::Api {
            status,
            code: code.to_owned(),
            message: "m".to_owned(),
        }
    }

    #[test]
    fn unreadable_answers_after_sending_are_unknown_outcomes() {
        let ok_garbage = TossError::Decode {
            status: 200,
            reason: "x".into(),
        };
        assert_eq!(ok_garbage.class(Endpoint::Confirm), ErrorClass::Reconcile);
        assert_eq!(ok_garbage.class(Endpoint::Lookup), ErrorClass::Retry);
        let proxy_page = TossError::Decode {
            status: 502,
            reason: "html".into(),
        };
        assert_eq!(proxy_page.class(Endpoint::Cancel), ErrorClass::Reconcile);
        let bad_request = TossError::Decode {
            status: 400,
            reason: "html".into(),
        };
        assert_eq!(bad_request.class(Endpoint::Confirm), ErrorClass::Stop);
    }

    #[test]
    fn codes_are_kept_raw_and_looked_up() {
        let known = api(400, "PROVIDER_ERROR");
        assert_eq!(known.code(), Some("PROVIDER_ERROR"));
        assert!(known.documented().is_some());
        let unknown = api(400, "BRAND_NEW_CODE");
        assert_eq!(unknown.code(), Some("BRAND_NEW_CODE"));
        assert!(unknown.documented().is_none());
        assert_eq!(
            api(409, "IDEMPOTENT_REQUEST_PROCESSING").retry_decision(Endpoint::Confirm),
            RetryDecision::RetryAfter(IN_FLIGHT_PAUSE)
        );
    }
}
