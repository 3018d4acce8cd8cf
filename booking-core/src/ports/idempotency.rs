//! At-most-once handling of retried requests: the [`IdempotencyStore`] port.
//!
//! A client sends an `Idempotency-Key` with each unsafe request and resends the same key when
//! it retries. The server files each key under its [`Scope`] with the request's
//! [`Fingerprint`]:
//!
//! 1. [`begin`](IdempotencyStore::begin) with a fresh key *claims* it for a lease
//!    ([`BeginOutcome::Claimed`]); the handler does the work, then
//!    [`complete`](IdempotencyStore::complete)s the claim with the response to replay.
//! 2. The same key and fingerprint while the claim is live: [`BeginOutcome::InFlight`]
//!    (answer 409 with `Retry-After`); after completion: [`BeginOutcome::Replay`] of the
//!    stored response (marked with [`REPLAYED_HEADER`]); with a different fingerprint:
//!    [`BeginOutcome::Mismatch`] (answer 422), for as long as the record is retained.
//! 3. A claim whose lease ran out (its worker crashed) is taken over by the next `begin`
//!    with the same fingerprint; the old claim can then no longer complete
//!    ([`IdempotencyError::Lost`]).
//! 4. [`abandon`](IdempotencyStore::abandon) drops a claim without storing anything (an
//!    unexpected error: the client may retry as new).
//! 5. Records are kept for a retention period after completion (or after the claim was
//!    made, if never completed), then forgotten: the key may be used afresh.
//!
//! See `docs/idempotency.md` for the full HTTP mapping.

mod fingerprint;
mod key;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

pub use fingerprint::{Fingerprint, FingerprintError};
pub use key::{IdempotencyKey, InvalidKey, MAX_KEY_LEN, Scope};

/// The response header set on a replayed response, with the value `true`.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// The response stored on completion and replayed to retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOutcome {
    /// HTTP status (or an application code) of the first response.
    pub status: u16,
    /// Its body, as sent.
    pub body: Vec<u8>,
}

/// The right to handle a request once, granted by [`IdempotencyStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    scope: Scope,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    token: u64,
    lease_expires_at: Timestamp,
}

impl Claim {
    /// A claim record; `token` must differ from every earlier claim of the same key (it is
    /// how a taken-over claim is told apart). Stores build this in `begin`, through
    /// [`backend::idempotency::claim`](crate::ports::backend::idempotency::claim).
    pub(crate) fn new(
        scope: Scope,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        token: u64,
        lease_expires_at: Timestamp,
    ) -> Self {
        Claim {
            scope,
            key,
            fingerprint,
            token,
            lease_expires_at,
        }
    }

    /// Whose key.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The key claimed.
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// The fingerprint of the request that claimed it.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// This claim's identity among the claims of its key.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// When another request may take the key over: finish the work before then.
    pub fn lease_expires_at(&self) -> Timestamp {
        self.lease_expires_at
    }
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum BeginOutcome {
    /// First use (or takeover of an expired claim): do the work, then complete or abandon.
    Claimed(Claim),
    /// Another request with this key is being handled. Answer 409 with
    /// `Retry-After: retry_after` rounded up to whole seconds.
    InFlight {
        /// How long until that claim's lease runs out.
        retry_after: Duration,
    },
    /// Already handled: send the stored response again, with [`REPLAYED_HEADER`]` : true`.
    Replay(StoredOutcome),
    /// The key was used for a different request. Answer 422; the client must pick a new key.
    Mismatch,
}

impl BeginOutcome {
    /// The HTTP status to answer with, or `None` for [`Claimed`](Self::Claimed) (do the work).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            BeginOutcome::Claimed(_) => None,
            BeginOutcome::InFlight { .. } => Some(409),
            BeginOutcome::Replay(outcome) => Some(outcome.status),
            BeginOutcome::Mismatch => Some(422),
        }
    }

    /// The `Retry-After` header value in whole seconds (rounded up, at least 1) for
    /// [`InFlight`](Self::InFlight); `None` otherwise.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            BeginOutcome::InFlight { retry_after } => {
                let whole = retry_after.as_secs();
                let rounded = if retry_after.subsec_nanos() > 0 {
                    whole.saturating_add(1)
                } else {
                    whole
                };
                Some(rounded.max(1))
            }
            _ => None,
        }
    }
}

/// Why an idempotency operation failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyError {
    /// The claim is no longer this caller's: its lease ran out and another request took the
    /// key over, or the record was forgotten. Its outcome was not stored.
    #[error("the idempotency claim was lost (lease expired and taken over, or forgotten)")]
    Lost,
    /// The request cannot be served as asked (a zero lease). Fix the call.
    #[error("invalid idempotency request: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The backend failed; the record's state is unknown, retrying may help.
    #[error("idempotency backend {backend} failed: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// Records of handled requests, filed under (scope, key).
///
/// Implementations must make `begin` atomic: among any number of concurrent `begin`s for one
/// (scope, key), at most one returns [`BeginOutcome::Claimed`] while that claim is live.
#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync + fmt::Debug + 'static {
    /// Claims `key` for `lease`, or reports what earlier use of it found.
    ///
    /// # Errors
    /// [`IdempotencyError::Invalid`] for a zero lease; `Backend` on store failure.
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError>;

    /// Stores `outcome` for replay and ends the claim.
    ///
    /// # Errors
    /// [`IdempotencyError::Lost`] if the claim was taken over or forgotten.
    async fn complete(&self, claim: &Claim, outcome: StoredOutcome)
    -> Result<(), IdempotencyError>;

    /// Ends the claim without storing anything: the key is free for a new request.
    ///
    /// # Errors
    /// [`IdempotencyError::Lost`] if the claim was taken over or forgotten.
    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError>;

    /// Forgets up to `limit` records past retention; returns how many. Expired records are
    /// already ignored by `begin`, so this only frees space.
    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError>;
}
