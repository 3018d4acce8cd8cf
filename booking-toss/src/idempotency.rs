//! [`IdempotencyKey`]: the `Idempotency-Key` every POST to Toss carries.
//!
//! Toss matches a repeat on (key, API key, URL, method) — not on the body — and answers it with
//! the first request's response for 15 days. So a key must name one operation: derive it from
//! our own ids (`confirm:<payment>`, `refund:<order>:<n>`) and send the same key on every retry
//! of that operation. `booking_core`'s service derives exactly such keys and hands them to the
//! gateway ([`GatewayIdempotencyKey`]), which converts them with `From`.

use std::fmt;

use booking_core::ports::gateway::GatewayIdempotencyKey;

use crate::TossError;

/// The longest key Toss accepts, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 300;

/// An `Idempotency-Key`: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks `key`.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] if it is empty, longer than 300 characters or not
    /// printable ASCII (a header value).
    pub fn new(key: impl Into<String>) -> Result<Self, TossError> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(TossError::InvalidRequest(format!(
                "an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters, got {}",
                key.len()
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TossError::InvalidRequest(
                "an idempotency key is printable ASCII without spaces".to_owned(),
            ));
        }
        Ok(IdempotencyKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&GatewayIdempotencyKey> for IdempotencyKey {
    /// A gateway key is 1 to 100 printable ASCII characters: always a valid Toss key.
    fn from(key: &GatewayIdempotencyKey) -> Self {
        IdempotencyKey(key.as_str().to_owned())
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_at_300() {
        assert!(IdempotencyKey::new("x".repeat(300)).is_ok());
        assert!(IdempotencyKey::new("x".repeat(301)).is_err());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("키").is_err());
        let gateway = GatewayIdempotencyKey::new("refund:0190:2").unwrap();
        assert_eq!(IdempotencyKey::from(&gateway).as_str(), "refund:0190:2");
    }
}
