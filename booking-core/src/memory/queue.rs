//! [`MemoryAdmissionQueue`]: the waiting room in process memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{AdmissionToken, EventId, UserId};
use crate::ports::backend::queue::{admission_expiry, admission_status, admitted};
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
            Some(expires_at) => admission_status(expires_at, now),
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
        let expires_at = admission_expiry(now, ttl)?;
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
        admitted(room.status(entry, now))
    }

    async fn room(&self, token: AdmissionToken) -> Result<EventId, QueueError> {
        let state = self.lock();
        let entry = state.tokens.get(&token).ok_or(QueueError::UnknownToken)?;
        Ok(entry.event)
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
