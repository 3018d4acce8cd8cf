//! Demo authentication: HMAC-SHA256-signed bearer tokens naming a user and their member
//! grade, the [`CurrentUser`] extractor, and the [`Admin`] extractor for `/v1/admin/*`.
//!
//! A token is `v1.{payload}.{tag}`, both parts base64url without padding; the payload is JSON
//! `{"sub": user id, "grade": member grade or null, "exp": unix seconds}` and the tag is
//! HMAC-SHA256 over `v1.{payload}` with the server's signing key. The token is not encrypted:
//! it carries nothing secret.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use booking_core::ids::UserId;
use booking_core::ports::idempotency::Scope;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::problem::Problem;
use crate::state::AppState;

const PREFIX: &str = "v1";

/// Signs and verifies bearer tokens. The key never appears in `Debug`.
#[derive(Clone)]
pub struct Signer {
    key: Arc<[u8]>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The member grade discount rules match, if any.
    pub grade: Option<String>,
    /// Expiry, in unix seconds.
    pub exp: i64,
}

impl Signer {
    /// A signer with `key` (at least 16 bytes is sensible; the server generates 32).
    pub fn new(key: &[u8]) -> Self {
        Signer { key: key.into() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of every length, so this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// A token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// The claims of `token` if its tag is ours and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Option<Claims> {
        let (signed, tag) = token.rsplit_once('.')?;
        let (prefix, payload) = signed.split_once('.')?;
        if prefix != PREFIX {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let expected = mac.finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.exp > now.as_second()).then_some(claims)
    }

    /// The claims of the request's `Authorization: Bearer` token, if valid.
    pub fn claims_of(&self, parts: &Parts) -> Option<Claims> {
        let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?;
        self.verify(token.trim(), Timestamp::now())
    }

    /// The idempotency scope of the request's user: keys are per user.
    pub fn scope_of(&self, parts: &Parts) -> Option<Scope> {
        self.claims_of(parts)
            .map(|claims| Scope::user("booking-server", claims.sub.to_string()))
    }
}

/// The signed-in user of a `/v1` request; a missing, forged or expired token is a 401
/// problem.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Who.
    pub id: UserId,
    /// Their member grade, if any.
    pub grade: Option<String>,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let claims = state.signer.claims_of(parts).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid bearer token is required",
                "send Authorization: Bearer <token> from POST /v1/auth/demo",
            )
        })?;
        tracing::Span::current().record("user", tracing::field::display(claims.sub));
        Ok(CurrentUser {
            id: claims.sub,
            grade: claims.grade,
        })
    }
}

/// Proof that the request carries the admin token (`Authorization: Bearer <admin token>`);
/// otherwise a 403 problem.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(given.as_bytes().ct_eq(state.admin_token.as_bytes())) {
            Ok(Admin)
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The admin token is required",
                "send Authorization: Bearer <admin token>",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: UserId::new(),
            grade: Some("GOLD".into()),
            exp,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let now = Timestamp::now();
        let c = claims(now.as_second() + 60);
        let token = signer.sign(&c);
        assert_eq!(signer.verify(&token, now), Some(c.clone()));
        let later = Timestamp::from_second(now.as_second() + 61).unwrap();
        assert_eq!(signer.verify(&token, later), None);
    }

    #[test]
    fn a_changed_payload_or_another_key_is_refused() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let now = Timestamp::now();
        let token = signer.sign(&claims(now.as_second() + 60));
        let other = Signer::new(b"another key of thirty-two bytes!");
        assert_eq!(other.verify(&token, now), None);
        let forged_payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now.as_second() + 6000)).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(signer.verify(&forged, now), None);
        assert_eq!(format!("{signer:?}"), "Signer(..)");
    }
}
