//! [`MemoryBookingStore`]: the booking store in process memory.
//!
//! The store is split into one shard per event, each behind its own mutex: an order and its
//! payment belong to one event, so every operation on them is a critical section of one shard,
//! and operations on different events run in parallel. Inside it an operation first computes
//! every change from the shard's state — running the same state machines a database backend
//! runs — and only writes them once all have been computed, so an operation that fails part way
//! has changed nothing.
//!
//! What crosses events lives beside the shards: an [`Index`](index::Index) from every id to its
//! event (and each buyer's orders), behind a read-write lock, and the [`Outbox`](index::Outbox)
//! behind a mutex.
//!
//! **Lock order.** Shards first (several only when listing tickets of several events at once,
//! then in ascending event id), then the index, then the outbox. A shard is found through the
//! index, whose lock is released before the shard is locked; the index and the outbox are
//! never held while waiting for a shard. So no cycle of waits can form.
//!
//! **Outbox.** An operation numbers its events while still holding its shard, under the
//! outbox's mutex, in the same critical section that appends them: sequence numbers have no
//! gaps, a reader never sees a later number without every earlier one, and an operation that
//! observed another's writes numbers its events after that one's.
//!
//! | file | what |
//! |---|---|
//! | `index.rs` | the shards, the id index, the outbox |
//! | `state.rs` | one shard's state, the changes an operation stages, and their commit |
//! | `inventory.rs` | listing, availability, placing an order |
//! | `orders.rs` | order and payment compare-and-set, extending a hold, starting a payment, cancelling an unpaid order |
//! | `settlement.rs` | the paid and refunded steps |
//! | `sweep.rs` | expiring due orders |
//! | `ops.rs` | the port's operations over the shards |

mod index;
mod inventory;
mod ops;
mod orders;
mod settlement;
mod state;
mod sweep;
#[cfg(test)]
mod tests;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::ids::EventId;
use crate::ports::store::StoreError;

use super::sync::{Mutex, PoisonError, RwLock};
use index::{Index, Outbox, Shard};
use state::{Staged, State};

/// The booking store in memory: correct under real parallelism, lost on restart.
#[derive(Debug)]
pub struct MemoryBookingStore {
    index: RwLock<Index>,
    outbox: Mutex<Outbox>,
}

impl Default for MemoryBookingStore {
    fn default() -> Self {
        Self::new()
    }
}

// Operations write only after every check passed (the index, then the shard, then the
// outbox, none of which can fail), so the state is consistent even if a thread panicked while
// holding a lock: poisoning is ignored.
impl MemoryBookingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            index: RwLock::new(Index::default()),
            outbox: Mutex::new(Outbox::default()),
        }
    }

    fn index(&self) -> impl Deref<Target = Index> + '_ {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn index_mut(&self) -> impl DerefMut<Target = Index> + '_ {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn outbox_lock(&self) -> impl DerefMut<Target = Outbox> + '_ {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard of `event`, made if the event has none yet.
    fn shard_for(&self, event: EventId) -> Arc<Shard> {
        if let Some(shard) = self.index().shard(Some(&event)) {
            return shard;
        }
        let mut index = self.index_mut();
        let shard = index.shards.entry(event).or_insert_with(|| {
            Arc::new(Shard {
                event,
                state: Mutex::new(State::default()),
            })
        });
        Arc::clone(shard)
    }

    /// Every shard, in no particular order.
    fn shards(&self) -> Vec<Arc<Shard>> {
        self.index().shards.values().cloned().collect()
    }

    /// Runs `op` in `shard`'s critical section and commits what it staged.
    fn write(
        &self,
        shard: &Shard,
        now: Timestamp,
        op: impl FnOnce(&State) -> Result<Staged, StoreError>,
    ) -> Result<(), StoreError> {
        let mut state = lock(shard);
        let staged = op(&state)?;
        self.commit(shard.event, &mut state, staged, now)
    }

    /// Writes `staged` to the shard of `event` whose locked state is `state`: indexes the
    /// records it creates (refusing all if an id is taken in another shard), writes the shard,
    /// and numbers its events into the outbox.
    fn commit(
        &self,
        event: EventId,
        state: &mut State,
        staged: Staged,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let new = state.new_records(&staged);
        if !new.orders.is_empty() || !new.payments.is_empty() {
            self.index_mut().add_records(event, &new)?;
        }
        let events = state.commit(staged);
        if !events.is_empty() {
            self.outbox_lock().append(events, now);
        }
        Ok(())
    }
}

/// `shard`'s state, locked.
fn lock(shard: &Shard) -> impl DerefMut<Target = State> + '_ {
    shard.state.lock().unwrap_or_else(PoisonError::into_inner)
}
