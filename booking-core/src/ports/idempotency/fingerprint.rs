//! A stable hash of what a request asks for, to tell a true retry from a reused key.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A request body that is not JSON.
#[derive(Debug, thiserror::Error)]
#[error("the request body is not valid JSON")]
pub struct FingerprintError(#[from] serde_json::Error);

/// SHA-256 of a request's method, path and canonical JSON body.
///
/// Two requests get the same fingerprint when they differ only in JSON key order or
/// insignificant whitespace. Numbers are compared as written (`1` and `1.0` differ).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Wraps a stored digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// The digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The fingerprint of `method` (case-insensitive) on `path` with a parsed JSON `body`
    /// (`Value::Null` when there is none).
    pub fn of_request(method: &str, path: &str, body: &Value) -> Self {
        let mut canonical = String::new();
        write_canonical(body, &mut canonical);
        let mut hasher = Sha256::new();
        hasher.update(b"booking-core idempotency fingerprint v1\n");
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        for part in [method.to_ascii_uppercase().as_str(), path] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(canonical.as_bytes());
        Fingerprint(hasher.finalize().into())
    }

    /// Like [`of_request`](Self::of_request) for a raw body; an empty body counts as none.
    ///
    /// # Errors
    /// [`FingerprintError`] if the body is not JSON (answer 400).
    pub fn of_json_request(
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Self, FingerprintError> {
        let value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body)?
        };
        Ok(Fingerprint::of_request(method, path, &value))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl fmt::Display for Fingerprint {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Writes `value` with object keys sorted and no whitespace, whatever order the map kept.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Scalars print compactly and with escaped strings.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(method: &str, path: &str, body: &str) -> Fingerprint {
        Fingerprint::of_json_request(method, path, body.as_bytes()).unwrap()
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = fp("POST", "/orders", r#"{"b": [1, {"y":2,"x":1}], "a": "s"}"#);
        let b = fp(
            "post",
            "/orders",
            "{\"a\":\"s\",\n\"b\":[1,{\"x\":1,\"y\":2}]}",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn method_path_and_values_do_matter() {
        let base = fp("POST", "/orders", r#"{"qty":1}"#);
        assert_ne!(base, fp("PUT", "/orders", r#"{"qty":1}"#));
        assert_ne!(base, fp("POST", "/orders/1", r#"{"qty":1}"#));
        assert_ne!(base, fp("POST", "/orders", r#"{"qty":2}"#));
        assert_ne!(base, fp("POST", "/orders", r#"[{"qty":1}]"#));
    }

    #[test]
    fn empty_body_is_no_body_and_bad_json_is_an_error() {
        assert_eq!(fp("POST", "/x", ""), fp("POST", "/x", "  "));
        assert!(Fingerprint::of_json_request("POST", "/x", b"{").is_err());
    }

    #[test]
    fn the_digest_is_stable_across_versions() {
        // Stored fingerprints must keep matching after an upgrade.
        let digest = fp("POST", "/orders", r#"{"qty":1}"#).to_string();
        assert_eq!(
            digest,
            "02f1ad842069ef56a2ad92df99740c2fab43a34bfdd4a90109229670dd883ce4"
        );
        assert_eq!(
            digest,
            fp("POST", "/orders", r#"{ "qty" : 1 }"#).to_string()
        );
    }
}
