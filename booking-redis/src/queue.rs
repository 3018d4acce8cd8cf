//! [`RedisAdmissionQueue`]: the waiting room on Redis.
//!
//! Each event's room lives under one hash tag (`{p/queue/<event>}`): an arrival counter
//! (`INCR`: the sequence), a sorted set of waiting tokens scored by sequence (a position is
//! `ZRANK + 1`), a sorted set of admitted tokens scored by their admission's end, each user's
//! live token, and each token's user, sequence and admission end. Joining, admitting and
//! leaving are one script each, so positions are exact and every token is admitted once
//! however many nodes call [`admit_next`](AdmissionQueue::admit_next) at the same time.
//!
//! A token alone does not say which room it is in, so `p:queue-token:<token>` (its own slot)
//! names the event; it is written after a join and deleted after the room forgets the token.
//! If that deletion is lost, the index points at a room that no longer knows the token, which
//! answers "unknown token" as it should.
//!
//! Admissions end on the caller's clock (the `now` every call takes): an admission is valid
//! while `now < expires_at` (booking-core's `admission_status`), and `admit_next` forgets the
//! room's admissions that ended. Besides `admit_next(n)`, [`RedisAdmissionQueue::admit_due`]
//! admits by time slot: `per_cycle` arrivals per cycle, from the arrival sequence alone
//! ([`TimeSlotAdmission`]).

use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::policy::admission::TimeSlotAdmission;
use booking_core::ports::queue::{Admission, AdmissionQueue, QueueEntry, QueueError, QueueStatus};
use redis::{AsyncCommands, Value};

use crate::connection::RedisConnection;
use crate::error::{Port, RedisFailure};
use crate::keys::{Namespace, RoomKeys, room_keys, token_room};
use crate::port_rules::{admission_expiry, admission_status, admitted};
use crate::scripts::{
    QUEUE_ADMIT, QUEUE_JOIN, QUEUE_LEAVE, QUEUE_STATUS, at, int, items, opt_text, run, text,
};
use crate::time::{instant, nanos, score_down, score_up};

/// The waiting room on standalone Redis or Redis Cluster; see the [module docs](self).
/// Cloning is cheap: clones share the connection.
#[derive(Debug, Clone)]
pub struct RedisAdmissionQueue {
    conn: RedisConnection,
    ns: Namespace,
}

/// `at` as the scripts take it.
fn instant_arg(at: Timestamp) -> Result<String, QueueError> {
    nanos(at).map_err(|_| QueueError::InvalidArgument("the instant is before 1970"))
}

/// A number the scripts answered with.
fn number<T: TryFrom<i64>>(value: &Value, what: &str) -> Result<T, RedisFailure> {
    T::try_from(int(value)?).map_err(|_| RedisFailure::corrupt(format!("{what} out of range")))
}

/// A parsed id.
fn id<T: std::str::FromStr>(value: &Value, what: &str) -> Result<T, RedisFailure> {
    let raw = text(value)?;
    raw.parse()
        .map_err(|_| RedisFailure::corrupt(format!("{what} {raw:?}")))
}

/// Where an entry stands, from its position (0 once admitted) and admission end.
fn status_of(
    position: u64,
    till: Option<String>,
    now: Timestamp,
) -> Result<QueueStatus, RedisFailure> {
    match (position, till) {
        (0, Some(till)) => {
            let expires_at = instant(&till)
                .ok_or_else(|| RedisFailure::corrupt(format!("admission end {till:?}")))?;
            Ok(admission_status(expires_at, now))
        }
        (0, None) => Err(RedisFailure::corrupt(
            "a waiting token is missing from the line",
        )),
        (position, _) => Ok(QueueStatus::Waiting { position }),
    }
}

/// The smallest arrival sequence that `slots` does not let in at `now` (`None`: all may
/// enter): the time-slot bound on the waiting line.
fn first_not_due(slots: &TimeSlotAdmission, now: Timestamp) -> Option<u64> {
    if slots.may_enter(u64::MAX, now) {
        return None;
    }
    // may_enter is monotone: true for every sequence below the bound, false from it on.
    let (mut low, mut high) = (0_u64, u64::MAX);
    while low < high {
        let mid = low + (high - low) / 2;
        if slots.may_enter(mid, now) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Some(low)
}

/// What the status script says about a token: its user and where it stands.
struct Found {
    user: UserId,
    status: QueueStatus,
}

impl RedisAdmissionQueue {
    /// Waiting rooms under `namespace` on `conn`.
    pub fn new(conn: RedisConnection, namespace: Namespace) -> Self {
        RedisAdmissionQueue {
            conn,
            ns: namespace,
        }
    }

    /// The event whose room `token` was put in, if the index knows it.
    async fn room_of(&self, token: AdmissionToken) -> Result<Option<EventId>, QueueError> {
        let mut conn = self.conn.clone();
        let event: Option<String> = conn.get(token_room(&self.ns, token)).await.port()?;
        event
            .map(|e| {
                e.parse()
                    .map_err(|_| RedisFailure::corrupt(format!("room of a token {e:?}")))
                    .port()
            })
            .transpose()
    }

    /// Removes the room index of tokens the room forgot: only space, so a failure is logged.
    async fn forget(&self, tokens: &[Value]) {
        let keys: Vec<String> = tokens
            .iter()
            .filter_map(|t| opt_text(t).ok().flatten()?.parse().ok())
            .map(|token: AdmissionToken| token_room(&self.ns, token))
            .collect();
        let mut conn = self.conn.clone();
        for key in keys {
            if let Err(error) = conn.del::<_, ()>(&key).await {
                tracing::warn!(%error, "could not drop the room index of a forgotten token");
            }
        }
    }

    /// Where `token` stands, with its user.
    async fn find(&self, token: AdmissionToken, now: Timestamp) -> Result<Found, QueueError> {
        let event = self.room_of(token).await?.ok_or(QueueError::UnknownToken)?;
        let room = room_keys(&self.ns, event);
        let mut invocation = QUEUE_STATUS.key(&room.waiting);
        invocation.key(&room.tokens).arg(token.to_string());
        let answer = run(&invocation, &self.conn).await.port()?;
        if answer == Value::Nil {
            return Err(QueueError::UnknownToken);
        }
        let answer = items(answer).port()?;
        let position = number(at(&answer, 2).port()?, "position").port()?;
        Ok(Found {
            user: id(at(&answer, 0).port()?, "user").port()?,
            status: status_of(position, opt_text(at(&answer, 3).port()?).port()?, now).port()?,
        })
    }

    /// Runs the admit script on `room` for up to `n` tokens with sequences within `bound`.
    async fn admit(
        &self,
        room: &RoomKeys,
        n: u32,
        bound: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        let expires_at = admission_expiry(now, ttl)?;
        let mut invocation = QUEUE_ADMIT.key(&room.waiting);
        invocation
            .key(&room.admitted)
            .key(&room.users)
            .key(&room.tokens)
            .arg(n)
            .arg(bound)
            .arg(instant_arg(now)?)
            .arg(score_down(now))
            .arg(instant_arg(expires_at)?)
            .arg(score_up(expires_at));
        let answer = items(run(&invocation, &self.conn).await.port()?).port()?;
        let mut parts = answer.into_iter();
        let admitted = items(parts.next().unwrap_or(Value::Nil)).port()?;
        let forgotten = items(parts.next().unwrap_or(Value::Nil)).port()?;
        self.forget(&forgotten).await;
        admitted
            .chunks(2)
            .map(|pair| {
                Ok(Admission {
                    token: id(at(pair, 0)?, "token")?,
                    user: id(at(pair, 1)?, "user")?,
                    expires_at,
                })
            })
            .collect::<Result<Vec<_>, RedisFailure>>()
            .port()
    }

    /// Time-slot admission: admits every waiting token of `event` whose arrival sequence
    /// `slots` lets in at `now` (`per_cycle` arrivals per cycle from the opening), at most
    /// `limit` per call, for `ttl`, in arrival order. Also forgets the room's ended
    /// admissions, like [`admit_next`](AdmissionQueue::admit_next).
    ///
    /// # Errors
    /// [`QueueError::InvalidArgument`] for a zero `ttl`; `Backend` on a Redis failure.
    pub async fn admit_due(
        &self,
        event: EventId,
        slots: &TimeSlotAdmission,
        ttl: Duration,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Admission>, QueueError> {
        let bound =
            first_not_due(slots, now).map_or_else(|| "+inf".to_owned(), |b| format!("({b}"));
        self.admit(&room_keys(&self.ns, event), limit, &bound, ttl, now)
            .await
    }
}

#[async_trait]
impl AdmissionQueue for RedisAdmissionQueue {
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError> {
        let room = room_keys(&self.ns, event);
        let mut invocation = QUEUE_JOIN.key(&room.seq);
        invocation
            .key(&room.waiting)
            .key(&room.admitted)
            .key(&room.users)
            .key(&room.tokens)
            .arg(user.to_string())
            .arg(AdmissionToken::new().to_string())
            .arg(instant_arg(now)?);
        let answer = items(run(&invocation, &self.conn).await.port()?).port()?;
        let token: AdmissionToken = id(at(&answer, 0).port()?, "token").port()?;
        let sequence: u64 = id(at(&answer, 1).port()?, "sequence").port()?;
        let position = number(at(&answer, 2).port()?, "position").port()?;
        let status = status_of(position, opt_text(at(&answer, 3).port()?).port()?, now).port()?;
        if let Ok(forgotten) = at(&answer, 4) {
            self.forget(std::slice::from_ref(forgotten)).await;
        }
        // The index goes in after the room knows the token; a join repeated after a lost
        // write finds the same token and writes it again.
        let mut conn = self.conn.clone();
        conn.set::<_, _, ()>(token_room(&self.ns, token), event.to_string())
            .await
            .port()?;
        Ok(QueueEntry {
            token,
            sequence,
            status,
        })
    }

    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError> {
        Ok(self.find(token, now).await?.status)
    }

    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        self.admit(&room_keys(&self.ns, event), n, "+inf", ttl, now)
            .await
    }

    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError> {
        let found = self.find(token, now).await?;
        if found.user != user {
            return Err(QueueError::WrongUser);
        }
        admitted(found.status)
    }

    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError> {
        self.room_of(token).await?.ok_or(QueueError::UnknownToken)
    }

    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError> {
        let Some(event) = self.room_of(token).await? else {
            return Ok(());
        };
        let room = room_keys(&self.ns, event);
        let mut invocation = QUEUE_LEAVE.key(&room.waiting);
        invocation
            .key(&room.admitted)
            .key(&room.users)
            .key(&room.tokens)
            .arg(token.to_string());
        run(&invocation, &self.conn).await.port::<QueueError>()?;
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(token_room(&self.ns, token)).await.port()
    }

    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        conn.zcard(room_keys(&self.ns, event).waiting).await.port()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_slots_bound_the_line_at_the_first_sequence_not_due() {
        let opens = Timestamp::from_second(1_000).unwrap();
        let slots = TimeSlotAdmission::new(opens, 50, Duration::from_secs(10)).unwrap();
        let before = Timestamp::from_second(999).unwrap();
        assert_eq!(first_not_due(&slots, before), Some(0));
        assert_eq!(first_not_due(&slots, opens), Some(50));
        let later = Timestamp::from_second(1_025).unwrap();
        assert_eq!(first_not_due(&slots, later), Some(150));
    }

    #[test]
    fn statuses_come_from_position_or_admission_end() {
        let now = Timestamp::from_second(10).unwrap();
        assert_eq!(
            status_of(3, None, now).unwrap(),
            QueueStatus::Waiting { position: 3 }
        );
        let end = Timestamp::from_second(20).unwrap();
        assert_eq!(
            status_of(0, Some(nanos(end).unwrap()), now).unwrap(),
            QueueStatus::Admitted { expires_at: end }
        );
        assert!(status_of(0, None, now).is_err());
    }
}
