//! [`MemoryAdmissionQueue`]: the waiting room in process memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{AdmissionToken, EventId, UserId};
use crate::ports::queue::{Admission, AdmissionQueue, QueueEntry, QueueError, QueueStatus};

/// A waiting room per event, held in memory behind one mutex.
///
/// Every operation takes the mutex once, so joins, admissions and leaves are linearizable and
/// positions are exact. A position is counted over the waiting tokens that arrived earlier,
/// which costs time proportional to the position; that is fine for tests and single-process
/// sales of tens of thousands of buyers, and is what the Redis backend replaces with a sorted
/// set.
#[derive(Debug, Default)]
pub struct MemoryAdmissionQueue {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<EventId, Room>,
    tokens: HashMap<AdmissionToken, Entry>,
}

#[derive(Debug, Default)]
struct Room {
    next_sequence: u64,
    /// Waiting tokens by arrival sequence.
    waiting: BTreeMap<u64, AdmissionToken>,
    /// Admitted tokens by expiry, so lapsed ones can be forgotten in order.
    admitted: BTreeMap<(Timestamp, AdmissionToken), ()>,
    /// The live token of each user in this room.
    by_user: HashMap<UserId, AdmissionToken>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    event: EventId,
    user: UserId,
    sequence: u64,
    admitted_until: Option<Timestamp>,
}

impl Room {
    fn position(&self, sequence: u64) -> u64 {
        // usize -> u64 never truncates on supported targets (usize is at most 64 bits).
        self.waiting.range(..=sequence).count() as u64
    }

    fn status(&self, entry: &Entry, now: Timestamp) -> QueueStatus {
        match entry.admitted_until {
            None => QueueStatus::Waiting {
                position: self.position(entry.sequence),
            },
            Some(expires_at) if now < expires_at => QueueStatus::Admitted { expires_at },
            Some(expired_at) => QueueStatus::Expired { expired_at },
        }
    }
}

impl State {
    fn forget(&mut self, token: AdmissionToken) {
        let Some(entry) = self.tokens.remove(&token) else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&entry.event) {
            room.waiting.remove(&entry.sequence);
            if let Some(until) = entry.admitted_until {
                room.admitted.remove(&(until, token));
            }
            if room.by_user.get(&entry.user) == Some(&token) {
                room.by_user.remove(&entry.user);
            }
        }
    }
}

impl MemoryAdmissionQueue {
    /// An empty waiting room set.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that breaks
        // the invariants above more than losing the call would, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AdmissionQueue for MemoryAdmissionQueue {
    async fn join(
        &self,
        event: EventId,
        user: UserId,
        now: Timestamp,
    ) -> Result<QueueEntry, QueueError> {
        let mut state = self.lock();
        let existing = state
            .rooms
            .get(&event)
            .and_then(|room| room.by_user.get(&user).copied())
            .and_then(|token| state.tokens.get(&token).map(|e| (token, *e)));
        if let Some((token, entry)) = existing {
            if let Some(room) = state.rooms.get(&event) {
                let status = room.status(&entry, now);
                if !matches!(status, QueueStatus::Expired { .. }) {
                    return Ok(QueueEntry {
                        token,
                        sequence: entry.sequence,
                        status,
                    });
                }
            }
            // The old admission lapsed: the user goes to the back of the line.
            state.forget(token);
        }
        let room = state.rooms.entry(event).or_default();
        let sequence = room.next_sequence;
        room.next_sequence = sequence.saturating_add(1);
        let token = AdmissionToken::new();
        room.waiting.insert(sequence, token);
        room.by_user.insert(user, token);
        let position = room.position(sequence);
        state.tokens.insert(
            token,
            Entry {
                event,
                user,
                sequence,
                admitted_until: None,
            },
        );
        Ok(QueueEntry {
            token,
            sequence,
            status: QueueStatus::Waiting { position },
        })
    }

    async fn status(
        &self,
        token: AdmissionToken,
        now: Timestamp,
    ) -> Result<QueueStatus, QueueError> {
        let state = self.lock();
        let entry = state.tokens.get(&token).ok_or(QueueError::UnknownToken)?;
        let room = state
            .rooms
            .get(&entry.event)
            .ok_or(QueueError::UnknownToken)?;
        Ok(room.status(entry, now))
    }

    async fn admit_next(
        &self,
        event: EventId,
        n: u32,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Vec<Admission>, QueueError> {
        if ttl.is_zero() {
            return Err(QueueError::InvalidArgument(
                "admission ttl must be positive",
            ));
        }
        let expires_at = now
            .checked_add(ttl)
            .map_err(|_| QueueError::InvalidArgument("admission ttl overflows the clock"))?;
        let mut state = self.lock();
        // Forget admissions of this room that lapsed, oldest first.
        let lapsed: Vec<AdmissionToken> = state.rooms.get(&event).map_or_else(Vec::new, |room| {
            room.admitted
                .keys()
                .take_while(|(until, _)| *until <= now)
                .map(|&(_, token)| token)
                .collect()
        });
        for token in lapsed {
            state.forget(token);
        }
        let State { rooms, tokens } = &mut *state;
        let Some(room) = rooms.get_mut(&event) else {
            return Ok(Vec::new());
        };
        let mut admitted = Vec::new();
        for _ in 0..n {
            let Some((_, token)) = room.waiting.pop_first() else {
                break;
            };
            if let Some(entry) = tokens.get_mut(&token) {
                entry.admitted_until = Some(expires_at);
                room.admitted.insert((expires_at, token), ());
                admitted.push(Admission {
                    token,
                    user: entry.user,
                    expires_at,
                });
            }
        }
        Ok(admitted)
    }

    async fn check_admitted(
        &self,
        token: AdmissionToken,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, QueueError> {
        let state = self.lock();
        let entry = state.tokens.get(&token).ok_or(QueueError::UnknownToken)?;
        if entry.user != user {
            return Err(QueueError::WrongUser);
        }
        let room = state
            .rooms
            .get(&entry.event)
            .ok_or(QueueError::UnknownToken)?;
        match room.status(entry, now) {
            QueueStatus::Admitted { expires_at } => Ok(expires_at),
            QueueStatus::Waiting { position } => Err(QueueError::NotAdmitted { position }),
            QueueStatus::Expired { expired_at } => Err(QueueError::AdmissionExpired { expired_at }),
        }
    }

    async fn leave(&self, token: AdmissionToken) -> Result<(), QueueError> {
        self.lock().forget(token);
        Ok(())
    }

    async fn waiting_len(&self, event: EventId) -> Result<u64, QueueError> {
        Ok(self
            .lock()
            .rooms
            .get(&event)
            .map_or(0, |room| room.waiting.len() as u64))
    }
}

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests {
    use std::sync::Arc;

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    const TTL: Duration = Duration::from_secs(60);

    /// Seed scenario: 1,000 buyers join at once, 50 are admitted per cycle; every position is
    /// exact, admissions follow arrival order, and admissions lapse after their TTL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousand_joiners_fifty_per_cycle() {
        let queue = Arc::new(MemoryAdmissionQueue::new());
        let event = EventId::new();
        let joins = (0..1_000).map(|_| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                let user = UserId::new();
                let entry = queue.join(event, user, at(0)).await.unwrap();
                (user, entry)
            })
        });
        let mut entries = Vec::new();
        for join in joins {
            entries.push(join.await.unwrap());
        }
        entries.sort_by_key(|(_, e)| e.sequence);
        let sequences: Vec<u64> = entries.iter().map(|(_, e)| e.sequence).collect();
        assert_eq!(
            sequences,
            (0..1_000).collect::<Vec<_>>(),
            "sequences are dense and unique"
        );
        for (i, (_, entry)) in entries.iter().enumerate() {
            let expected = u64::try_from(i).unwrap() + 1;
            assert_eq!(
                queue.status(entry.token, at(0)).await.unwrap(),
                QueueStatus::Waiting { position: expected }
            );
        }
        assert_eq!(queue.waiting_len(event).await.unwrap(), 1_000);

        for cycle in 0..20_u64 {
            let now = at(i64::try_from(cycle).unwrap() * 10);
            let admitted = queue.admit_next(event, 50, TTL, now).await.unwrap();
            assert_eq!(admitted.len(), 50);
            let first = usize::try_from(cycle * 50).unwrap();
            for (a, (user, entry)) in admitted.iter().zip(&entries[first..first + 50]) {
                assert_eq!(a.token, entry.token, "admitted in arrival order");
                assert_eq!(a.user, *user);
                assert_eq!(
                    queue.check_admitted(a.token, *user, now).await.unwrap(),
                    now.checked_add(TTL).unwrap()
                );
            }
            if let Some((_, next)) = entries.get(first + 50) {
                assert_eq!(
                    queue.status(next.token, now).await.unwrap(),
                    QueueStatus::Waiting { position: 1 }
                );
            }
        }
        assert_eq!(queue.waiting_len(event).await.unwrap(), 0);
        assert!(
            queue
                .admit_next(event, 50, TTL, at(200))
                .await
                .unwrap()
                .is_empty()
        );

        // The last cycle's admissions lapse exactly at admitted-at + TTL.
        let (user, last) = entries[999];
        let admitted_at = at(190);
        let lapse = admitted_at.checked_add(TTL).unwrap();
        assert!(
            queue
                .check_admitted(last.token, user, at(249))
                .await
                .is_ok()
        );
        assert!(matches!(
            queue.check_admitted(last.token, user, lapse).await,
            Err(QueueError::AdmissionExpired { expired_at }) if expired_at == lapse
        ));
    }

    #[tokio::test]
    async fn join_is_idempotent_per_user_and_rejoin_after_expiry_goes_to_the_back() {
        let queue = MemoryAdmissionQueue::new();
        let event = EventId::new();
        let (alice, bob) = (UserId::new(), UserId::new());
        let a1 = queue.join(event, alice, at(0)).await.unwrap();
        let b = queue.join(event, bob, at(0)).await.unwrap();
        let a2 = queue.join(event, alice, at(1)).await.unwrap();
        assert_eq!(a1.token, a2.token, "refreshing keeps the place");
        assert_eq!(a2.status, QueueStatus::Waiting { position: 1 });
        assert_eq!(queue.waiting_len(event).await.unwrap(), 2);

        queue.admit_next(event, 1, TTL, at(10)).await.unwrap();
        let a3 = queue.join(event, alice, at(20)).await.unwrap();
        assert_eq!(
            a3.token, a1.token,
            "an admitted user joining again keeps the admission"
        );
        assert!(matches!(a3.status, QueueStatus::Admitted { .. }));

        let a4 = queue.join(event, alice, at(100)).await.unwrap();
        assert_ne!(a4.token, a1.token, "a lapsed admission means a new place");
        assert_eq!(a4.status, QueueStatus::Waiting { position: 2 });
        assert!(matches!(
            queue.status(a1.token, at(100)).await,
            Err(QueueError::UnknownToken)
        ));
        assert_eq!(
            queue.status(b.token, at(100)).await.unwrap(),
            QueueStatus::Waiting { position: 1 }
        );
    }

    #[tokio::test]
    async fn gate_refuses_waiting_foreign_and_unknown_tokens() {
        let queue = MemoryAdmissionQueue::new();
        let event = EventId::new();
        let (alice, mallory) = (UserId::new(), UserId::new());
        let a = queue.join(event, alice, at(0)).await.unwrap();
        assert!(matches!(
            queue.check_admitted(a.token, alice, at(0)).await,
            Err(QueueError::NotAdmitted { position: 1 })
        ));
        queue.admit_next(event, 1, TTL, at(0)).await.unwrap();
        assert!(matches!(
            queue.check_admitted(a.token, mallory, at(1)).await,
            Err(QueueError::WrongUser)
        ));
        assert!(matches!(
            queue
                .check_admitted(AdmissionToken::new(), alice, at(1))
                .await,
            Err(QueueError::UnknownToken)
        ));
        assert!(matches!(
            queue.admit_next(event, 1, Duration::ZERO, at(0)).await,
            Err(QueueError::InvalidArgument(_))
        ));
    }

    #[tokio::test]
    async fn leaving_closes_the_gap() {
        let queue = MemoryAdmissionQueue::new();
        let event = EventId::new();
        let mut tokens = Vec::new();
        for _ in 0..5 {
            tokens.push(queue.join(event, UserId::new(), at(0)).await.unwrap().token);
        }
        queue.leave(tokens[1]).await.unwrap();
        queue.leave(tokens[1]).await.unwrap();
        let mut positions = Vec::new();
        for t in [tokens[0], tokens[2], tokens[3], tokens[4]] {
            positions.push(queue.status(t, at(0)).await.unwrap());
        }
        assert_eq!(
            positions,
            (1..=4)
                .map(|position| QueueStatus::Waiting { position })
                .collect::<Vec<_>>()
        );
        let admitted = queue.admit_next(event, 2, TTL, at(0)).await.unwrap();
        assert_eq!(
            admitted.iter().map(|a| a.token).collect::<Vec<_>>(),
            vec![tokens[0], tokens[2]]
        );
    }

    /// Admissions from many concurrent operators never admit a token twice or skip one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_admitters_admit_each_token_once() {
        for _ in 0..20 {
            let queue = Arc::new(MemoryAdmissionQueue::new());
            let event = EventId::new();
            for _ in 0..200 {
                queue.join(event, UserId::new(), at(0)).await.unwrap();
            }
            let admitters = (0..8).map(|_| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move { queue.admit_next(event, 30, TTL, at(0)).await.unwrap() })
            });
            let mut all = Vec::new();
            for a in admitters {
                all.extend(a.await.unwrap().into_iter().map(|a| a.token));
            }
            assert_eq!(all.len(), 200);
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 200, "no token admitted twice");
        }
    }
}
