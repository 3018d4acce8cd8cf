//! The waiting-room port: a fair, first-come queue in front of a sale.
//!
//! Buyers [`join`](AdmissionQueue::join) and get an [`AdmissionToken`] and a position; an
//! operator (or a timer) [`admits`](AdmissionQueue::admit_next) the next `n` every cycle; an
//! admitted token lets its user into the sale until it expires. Joining is idempotent per user:
//! a second join returns the place the user already has, so refreshing a page never sends
//! anyone to the back of the line.
//!
//! For sales that need no server-side queue at all, [`TimeSlotAdmission`](crate::policy::admission::TimeSlotAdmission)
//! computes an entry time from the arrival sequence alone.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{AdmissionToken, EventId, UserId};

/// Where a token stands, as told by [`AdmissionQueue::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueStatus {
    /// Still waiting; `position` 1 is the next to be admitted.
    Waiting {
        /// 1-based place in the line.
        position: u64,
    },
    /// Admitted: the user may enter the sale until `expires_at`.
    Admitted {
        /// When the admission lapses.
        expires_at: Timestamp,
    },
    /// Was admitted, and the admission lapsed unused. The user may join again.
    Expired {
        /// When the admission lapsed.
        expired_at: Timestamp,
    },
}

/// A user's place, as returned by [`AdmissionQueue::join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The token to present on later calls.
    pub token: AdmissionToken,
    /// 0-based arrival sequence in this waiting room: the order in which users joined.
    pub sequence: u64,
    /// Where the user stands now.
    pub status: QueueStatus,
}

/// One admission granted by [`AdmissionQueue::admit_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The admitted token.
    pub token: AdmissionToken,
    /// Its user.
    pub user: UserId,
    /// When the admission lapses.
    pub expires_at: Timestamp,
}

/// Why a waiting-room call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The token was never issued, has left, or was forgotten after expiry.
    #[error("unknown admission token")]
    UnknownToken,
    /// The token belongs to another user (a shared or stolen token).
    #[error("admission token belongs to another user")]
    WrongUser,
    /// The token is still waiting; the caller should keep polling.
    #[error("not admitted yet: position {position}")]
    NotAdmitted {
        /// 1-based place in the line.
        position: u64,
    },
    /// The admission lapsed; the user must join again.
    #[error("admission expired at {expired_at}")]
    AdmissionExpired {
        /// When it lapsed.
        expired_at: Timestamp,
    },
    /// A zero TTL or another argument that cannot be honoured.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The backing store failed; the operation may or may not have taken effect.
    #[error("{backend} waiting-room backend failed: {source}")]
    Backend {
        /// Which backend, e.g. `"redis"`.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A waiting room per event: join, poll, admit in order, enter while admitted.
///
/// Contract every implementation keeps (the conformance suite checks it):
/// - positions are exact: among the tokens waiting in one room, positions are `1..=len` in
///   arrival order, with no gap and no duplicate, also under concurrent joins;
/// - `join` is idempotent per `(event, user)` while the user's token is waiting or admitted;
/// - `admit_next` admits the earliest waiting tokens, each exactly once, even when called
///   concurrently from several nodes;
/// - an admission is valid while `now < expires_at`; after that `status` says `Expired`
///   (or, once forgotten, the token is unknown) and `check_admitted` refuses it.
#[async_trait]
pub trait AdmissionQueue: Send + Sync + fmt::Debug + 'static {
    /// Puts `user` in line for `event`, or returns the place they already have.
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError>;

    /// Where `token` stands now.
    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError>;

    /// Admits up to `n` of the earliest waiting tokens of `event` for `ttl`, in arrival order.
    /// Also forgets admissions of this room that have expired.
    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError>;

    /// Succeeds when `token` belongs to `user` and is admitted at `now`; the gate in front of
    /// `hold`. Typed errors say whether to keep waiting or join again.
    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError>;

    /// The event whose waiting room `token` joined, while the room knows the token (waiting,
    /// admitted, or lapsed and not yet forgotten); [`QueueError::UnknownToken`] otherwise. Any
    /// process sharing the backend can check a token against a sale's room this way, whichever
    /// process issued it.
    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError>;

    /// Removes `token` from its room, waiting or admitted. Leaving twice is not an error.
    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError>;

    /// How many tokens of `event` are waiting.
    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError>;
}
