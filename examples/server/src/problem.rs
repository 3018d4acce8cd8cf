//! Errors as RFC 9457 `application/problem+json`: [`Problem`], with one stable `type` per kind
//! of failure, built from [`BookingError`] by `From`.
//!
//! The `type` is a relative URI, `/problems/{slug}`; the slugs are listed in the README. A
//! client matches on `type`, never on `detail`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use booking_core::ports::coupon::CouponError;
use booking_core::ports::store::StoreError;
use booking_core::service::BookingError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, a stable `type`, a title, a detail and members of its own
/// (`field`, `seats`, …).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `/problems/{slug}`: what went wrong, stable across releases.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// Members of this kind of problem (e.g. `field` for invalid input, `seats` for taken
    /// seats).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    /// Seconds to wait before retrying, sent as `Retry-After` too.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of kind `slug` with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// Adds the member `name`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.extra.insert(
            name.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Sets `Retry-After`.
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Invalid input: a 422 naming `field`.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "A field of the request is invalid",
            detail,
        )
        .with("field", field)
    }

    /// A malformed request (not JSON, bad header): a 400.
    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            slug,
            "The request is malformed",
            detail,
        )
    }

    /// No such resource, or not the caller's: a 404.
    pub fn not_found(what: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no such {what}"),
        )
        .with("what", what)
    }

    /// The problem for a status answered without a body (a route that does not exist, a
    /// method not allowed, a timeout, a body over the limit).
    pub fn for_status(status: StatusCode) -> Self {
        let (slug, title) = match status {
            StatusCode::NOT_FOUND => ("not-found", "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
            StatusCode::PAYLOAD_TOO_LARGE => ("body-too-large", "The request body is too large"),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported-media-type",
                "The body must be application/json",
            ),
            s if s.is_server_error() => ("internal", "Internal server error"),
            _ => ("http-error", "The request failed"),
        };
        let detail = status.canonical_reason().unwrap_or("error").to_owned();
        let problem = Problem::new(status, slug, title, detail);
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            problem.with("field", "body")
        } else {
            problem
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The `Result` of a handler.
pub type ApiResult<T> = Result<T, Problem>;

impl From<BookingError> for Problem {
    fn from(error: BookingError) -> Self {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = error.to_string();
        let p = |slug: &str, title: &str| Problem::new(status, slug, title, detail.clone());
        match error {
            BookingError::Unavailable { tickets } => {
                p("seat-unavailable", "Seats are taken").with("seats", tickets)
            }
            BookingError::SoldOut {
                stock,
                requested,
                available,
            } => p("sold-out", "Not enough stock left")
                .with("stock", stock)
                .with("requested", requested)
                .with("available", available),
            BookingError::SeatsLost { tickets, stock } => p(
                "seats-lost",
                "Items were sold to someone else; the payment was cancelled",
            )
            .with("seats", tickets)
            .with("stock", stock),
            BookingError::AmountMismatch { expected, given } => {
                p("amount-mismatch", "The amount does not match the order")
                    .with("expected", expected.minor())
                    .with("given", given.minor())
            }
            BookingError::PaymentRejected { code, .. } => {
                p("payment-rejected", "The payment was declined").with("code", code)
            }
            BookingError::GatewayUnavailable { code, .. } => {
                p("gateway-unavailable", "The payment gateway is unavailable").with("code", code)
            }
            BookingError::PaymentUnknown => p(
                "payment-unknown",
                "The payment outcome is being checked; do not pay again",
            ),
            BookingError::InProgress => {
                p("in-progress", "A payment operation is in progress").retry_after(1)
            }
            BookingError::Expired => p("hold-expired", "The hold expired"),
            BookingError::InvalidState {
                what,
                state,
                action,
            } => p("invalid-state", "Not allowed in the current state")
                .with("what", what)
                .with("state", state)
                .with("action", action),
            BookingError::Refused(reason) => {
                p("refused", "Refused by a booking rule").with("reason", reason.to_string())
            }
            BookingError::ExtensionLimit { cap } => {
                p("extension-limit", "The hold cannot be extended further").with("cap", cap)
            }
            BookingError::Invalid { field, .. } => {
                p("invalid-field", "A field of the request is invalid").with("field", field)
            }
            BookingError::RequestMismatch { what, id } => p(
                "request-mismatch",
                "The id was first used for a different request",
            )
            .with("what", what)
            .with("id", id),
            BookingError::NotFound { what, .. } => Problem::not_found(what),
            BookingError::NotAdmitted(_) => p(
                "not-admitted",
                "The waiting room has not admitted this buyer",
            ),
            BookingError::Coupon(ref e) => {
                let field = matches!(e, CouponError::NotIssued | CouponError::Invalid(_));
                let problem = p("coupon-unusable", "The coupon cannot be used");
                if field {
                    problem.with("field", "coupon")
                } else {
                    problem
                }
            }
            BookingError::Conflict { what, id } => {
                p("conflict", "Changed concurrently; read again and retry")
                    .with("what", what)
                    .with("id", id)
            }
            BookingError::Store(StoreError::Busy(_)) => {
                Problem::new(status, "busy", "The database is busy", "try again shortly")
                    .retry_after(1)
            }
            BookingError::Gateway(_) => p("gateway-error", "The payment gateway failed"),
            other => internal(&other),
        }
    }
}

/// A 500 whose cause is logged, never sent.
pub fn internal(error: &dyn std::error::Error) -> Problem {
    tracing::error!(error = %error, "internal error");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal server error",
        "the server failed; the error is logged",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::ids::TicketId;
    use serde_json::json;

    #[test]
    fn a_taken_seat_lists_the_seats() {
        let seat = TicketId::new();
        let problem = Problem::from(BookingError::Unavailable {
            tickets: vec![seat],
        });
        assert_eq!(problem.status, 409);
        assert_eq!(problem.kind, "/problems/seat-unavailable");
        assert_eq!(problem.extra["seats"], json!([seat.to_string()]));
    }

    #[test]
    fn an_invalid_field_is_named() {
        let problem = Problem::from(BookingError::invalid("lines", "no such line"));
        assert_eq!(problem.status, 422);
        assert_eq!(problem.extra["field"], json!("lines"));
    }
}
