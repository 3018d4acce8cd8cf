//! What an idempotency record is filed under: the client's key within a scope.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest key accepted, in bytes (all characters are ASCII).
pub const MAX_KEY_LEN: usize = 255;

/// Why a string is not a usable idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidKey {
    /// The key is empty. Answer 400: the client must send a key.
    #[error("the idempotency key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes. Answer 400.
    #[error("the idempotency key is {len} bytes long, the limit is {MAX_KEY_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The key holds a character outside printable ASCII, or starts or ends with a space
    /// (which HTTP would strip, silently changing the key). Answer 400.
    #[error("the idempotency key holds a non-printable or non-ASCII character at byte {at}")]
    BadCharacter {
        /// The byte offset of the first offending character.
        at: usize,
    },
}

/// A client-chosen key (the `Idempotency-Key` header): 1 to 255 printable ASCII characters,
/// no leading or trailing space.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps `key`.
    ///
    /// # Errors
    /// [`InvalidKey`] saying what is wrong with it.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidKey> {
        let key = key.into();
        if key.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(InvalidKey::TooLong { len: key.len() });
        }
        let last = key.len() - 1;
        if let Some(at) = key
            .bytes()
            .enumerate()
            .position(|(i, b)| !(b' '..=b'~').contains(&b) || (b == b' ' && (i == 0 || i == last)))
        {
            return Err(InvalidKey::BadCharacter { at });
        }
        Ok(IdempotencyKey(key))
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidKey;

    fn try_from(key: String) -> Result<Self, InvalidKey> {
        IdempotencyKey::new(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose keys these are. Two clients that pick the same key never see each other's records,
/// because a record is filed under (scope, key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    tenant: String,
    user: Option<String>,
}

impl Scope {
    /// Keys shared by everything in `tenant` (e.g. one API client).
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Scope {
            tenant: tenant.into(),
            user: None,
        }
    }

    /// Keys of one `user` within `tenant`.
    pub fn user(tenant: impl Into<String>, user: impl Into<String>) -> Self {
        Scope {
            tenant: tenant.into(),
            user: Some(user.into()),
        }
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.tenant
    }

    /// The user, if the scope is per user.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert_eq!(IdempotencyKey::new(""), Err(InvalidKey::Empty));
        assert_eq!(
            IdempotencyKey::new("a".repeat(256)),
            Err(InvalidKey::TooLong { len: 256 })
        );
        assert!(IdempotencyKey::new("a".repeat(255)).is_ok());
        assert_eq!(
            IdempotencyKey::new("ab\ncd"),
            Err(InvalidKey::BadCharacter { at: 2 })
        );
        assert_eq!(
            IdempotencyKey::new("키"),
            Err(InvalidKey::BadCharacter { at: 0 })
        );
        assert_eq!(
            IdempotencyKey::new(" a"),
            Err(InvalidKey::BadCharacter { at: 0 })
        );
        assert_eq!(
            IdempotencyKey::new("a "),
            Err(InvalidKey::BadCharacter { at: 1 })
        );
        assert_eq!(
            IdempotencyKey::new("order 42/pay-~1").unwrap().as_str(),
            "order 42/pay-~1"
        );
    }

    #[test]
    fn keys_deserialize_only_when_valid() {
        let ok: IdempotencyKey = serde_json::from_str("\"k-1\"").unwrap();
        assert_eq!(ok.as_str(), "k-1");
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
    }
}
