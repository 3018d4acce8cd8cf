//! Secrets: the API [`SecretKey`] and a virtual account's [`DepositSecret`]. Neither is ever
//! shown by `Debug` nor logged.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

use crate::TossError;

/// The prefixes of Toss secret keys; `Debug` shows the prefix (which says test or live) and
/// nothing of the key itself.
const KNOWN_PREFIXES: [&str; 4] = ["test_sk_", "live_sk_", "test_gsk_", "live_gsk_"];

/// A Toss secret key (`test_sk_…`, `live_sk_…`, or the widget's `test_gsk_…` / `live_gsk_…`).
///
/// It authenticates every API call as HTTP Basic with the key as the user name and an empty
/// password (`base64("{key}:")`, padded). `Debug` shows only the prefix:
///
/// ```
/// let key = booking_toss::SecretKey::new("test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R").unwrap();
/// assert_eq!(format!("{key:?}"), "SecretKey(test_sk_…)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Checks `key`: 1 to 200 printable ASCII characters without `:` (it would end the user
    /// name of the Basic credentials early).
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] naming the problem (never the key).
    pub fn new(key: impl Into<String>) -> Result<Self, TossError> {
        let key = key.into();
        if key.is_empty() || key.len() > 200 {
            return Err(TossError::InvalidRequest(format!(
                "a secret key is 1 to 200 characters, got {}",
                key.len()
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(TossError::InvalidRequest(
                "a secret key is printable ASCII without ':'".to_owned(),
            ));
        }
        Ok(SecretKey(key))
    }

    /// Whether this is a test key (`test_…`): test payments move no money.
    pub fn is_test(&self) -> bool {
        self.0.starts_with("test_")
    }

    /// The `Authorization` header value: `Basic base64("{key}:")`, marked sensitive so HTTP
    /// layers do not print it.
    pub(crate) fn basic_auth(&self) -> Result<HeaderValue, TossError> {
        let encoded = STANDARD.encode(format!("{}:", self.0));
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .map_err(|_| TossError::InvalidRequest("secret key is not a header value".into()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match KNOWN_PREFIXES.iter().find(|p| self.0.starts_with(**p)) {
            Some(prefix) => write!(f, "SecretKey({prefix}…)"),
            None => f.write_str("SecretKey(…)"),
        }
    }
}

/// The `secret` of a virtual-account payment: the value Toss puts in its deposit webhooks, so
/// the merchant can tell them from forgeries. Compared in constant time; redacted in `Debug`.
#[derive(Clone)]
pub struct DepositSecret(String);

impl DepositSecret {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        DepositSecret(secret.into())
    }

    /// Whether `other` is this secret, compared in time independent of where they differ.
    pub fn matches(&self, other: &str) -> bool {
        // Lengths are compared openly: the length of a secret Toss generates is not a secret.
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }

    /// The secret, for storing it beside the payment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for DepositSecret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for DepositSecret {}

impl fmt::Debug for DepositSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DepositSecret(…)")
    }
}

impl Serialize for DepositSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DepositSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(DepositSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_KEY: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";

    #[test]
    fn basic_auth_is_padded_base64_of_key_and_colon() {
        let header = SecretKey::new(DOCS_KEY).unwrap().basic_auth().unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
        );
        assert!(header.is_sensitive());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey::new(DOCS_KEY).unwrap();
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains("zXLk"), "{shown}");
        assert!(key.is_test());
        assert_eq!(
            format!("{:?}", SecretKey::new("abc").unwrap()),
            "SecretKey(…)"
        );
        let secret = DepositSecret::new("ps_123secret");
        assert!(!format!("{secret:?}").contains("123"));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in ["", "has:colon", "has space", &"k".repeat(201)] {
            let err = SecretKey::new(bad).unwrap_err().to_string();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn deposit_secrets_compare_exactly() {
        let secret = DepositSecret::new("abc123");
        assert!(secret.matches("abc123"));
        assert!(!secret.matches("abc124"));
        assert!(!secret.matches("abc12"));
        assert!(!secret.matches(""));
    }
}
