//! The live seat map: changes of seats and stock read from the outbox after commit, fanned
//! out to every stream of this process (`GET /v1/performances/{id}/seats/stream`).
//!
//! The outbox relay turns the entries it read into [`Change`]s and hands them over as one
//! [`Batch`]: straight to this process's [`Live`] hub, or with `REDIS_URL` to a Redis channel
//! every process subscribes to (see [`redis`]), so a stream on one process sees a hold made on
//! another. The hub keeps a ring of recent changes (a stream resuming with `Last-Event-ID`
//! replays from it without a gap) and one tokio broadcast channel per sale: a stream that
//! falls behind the channel's buffer is told `lagged` and closed, never slowing the others.

pub mod events;
pub mod redis;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use booking_core::ids::{EventId, StockId, TicketId};
use tokio::sync::{Notify, broadcast, watch};

pub use events::{Batch, Change, SeatChange, StockChange};

use crate::catalog::Catalog;

/// Changes kept for resumption, across all sales.
pub const RING: usize = 4096;

/// Changes a stream may fall behind before it is dropped.
pub const CHANNEL: usize = 256;

/// What a stream receives from the hub.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A change of the stream's sale.
    Change(Arc<Change>),
    /// The hub may have missed changes (its Redis subscription was re-established): send a
    /// fresh snapshot.
    Reset,
}

/// How a stream starts: what it is sent first, then the live changes from `receiver`.
#[derive(Debug)]
pub struct Start {
    /// The live changes of the sale after `position` (or all, when `None`).
    pub receiver: broadcast::Receiver<Signal>,
    /// The last outbox position the hub has published.
    pub position: Option<u64>,
    /// The changes to replay before the live ones, when the client's position was resumable;
    /// `None` when a snapshot is needed.
    pub replay: Option<Vec<Arc<Change>>>,
}

/// Where a seat or stock belongs, from the catalog.
#[derive(Debug, Default)]
pub struct Index {
    /// A seat's sale and label.
    pub tickets: HashMap<TicketId, (EventId, String)>,
    /// A counted stock's sale.
    pub stocks: HashMap<StockId, EventId>,
}

impl Index {
    /// The seats and stocks of every sale in `catalog`.
    pub fn of(catalog: &Catalog) -> Index {
        let mut index = Index::default();
        for p in &catalog.performances {
            for seat in &p.seats {
                index
                    .tickets
                    .insert(seat.ticket, (p.id, seat.label.clone()));
            }
            for s in &p.stock {
                index.stocks.insert(s.stock, p.id);
            }
        }
        for f in &catalog.flights {
            for seat in &f.seats {
                index
                    .tickets
                    .insert(seat.ticket, (f.id, seat.label.clone()));
            }
        }
        index
    }
}

/// The hub; clones share it.
#[derive(Debug, Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sales: HashMap<EventId, broadcast::Sender<Signal>>,
    index: Index,
    ring: Mutex<Ring>,
    nudge: Notify,
    closing: watch::Sender<bool>,
}

/// Recent changes and how far they reach back.
#[derive(Debug, Default)]
struct Ring {
    changes: VecDeque<Arc<Change>>,
    /// The last outbox position published.
    last: Option<u64>,
    /// Every change after this position is in `changes` (`None`: nothing is known yet).
    complete_after: Option<u64>,
}

impl Live {
    /// A hub for the sales of `catalog`.
    pub fn new(catalog: &Catalog) -> Live {
        let sales = catalog
            .performances
            .iter()
            .map(|p| p.id)
            .chain(catalog.flights.iter().map(|f| f.id))
            .map(|sale| (sale, broadcast::channel(CHANNEL).0))
            .collect();
        Live {
            inner: Arc::new(Inner {
                sales,
                index: Index::of(catalog),
                ring: Mutex::new(Ring::default()),
                nudge: Notify::new(),
                closing: watch::channel(false).0,
            }),
        }
    }

    /// Where each seat and stock belongs.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// Whether `sale` has a stream.
    pub fn has_sale(&self, sale: EventId) -> bool {
        self.inner.sales.contains_key(&sale)
    }

    /// Asks the relay to run now: something was just committed.
    pub fn nudge(&self) {
        self.inner.nudge.notify_one();
    }

    /// Resolves when [`nudge`](Self::nudge) was called (once per call, coalesced).
    pub async fn nudged(&self) {
        self.inner.nudge.notified().await;
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring is consistent between statements: a panic elsewhere leaves it usable.
        self.inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `batch` to the streams of its sales. A batch (or the part of one) at or
    /// before the last position published is a redelivery and is skipped.
    pub fn publish(&self, batch: &Batch) {
        let mut ring = self.ring();
        if ring.last.is_some_and(|last| batch.upto <= last) {
            return;
        }
        if ring.complete_after.is_none() {
            // Outbox positions increase: nothing between `from - 1` and `from` was missed.
            ring.complete_after = Some(batch.from.saturating_sub(1));
        }
        for change in &batch.changes {
            if ring.last.is_some_and(|last| change.position <= last) {
                continue;
            }
            let change = Arc::new(change.clone());
            if ring.changes.len() == RING
                && let Some(evicted) = ring.changes.pop_front()
            {
                ring.complete_after = Some(evicted.position);
            }
            ring.changes.push_back(Arc::clone(&change));
            if let Some(sender) = self.inner.sales.get(&change.sale) {
                // No receiver is not an error: nobody watches this sale now.
                let _ = sender.send(Signal::Change(change));
            }
        }
        ring.last = Some(batch.upto);
    }

    /// Forgets the ring and tells every stream to send a fresh snapshot: changes may have
    /// been missed.
    pub fn reset(&self) {
        let mut ring = self.ring();
        ring.changes.clear();
        ring.complete_after = None;
        for sender in self.inner.sales.values() {
            let _ = sender.send(Signal::Reset);
        }
    }

    /// Subscribes a stream of `sale` resuming after `resume` (its `Last-Event-ID`). `None`
    /// for a sale without a stream.
    pub fn subscribe(&self, sale: EventId, resume: Option<u64>) -> Option<Start> {
        let sender = self.inner.sales.get(&sale)?;
        // Under the ring's lock, so the replay and the receiver meet with nothing in between.
        let ring = self.ring();
        let receiver = sender.subscribe();
        let replay = match (resume, ring.complete_after) {
            (Some(after), Some(complete)) if after >= complete => Some(
                ring.changes
                    .iter()
                    .filter(|c| c.sale == sale && c.position > after)
                    .cloned()
                    .collect(),
            ),
            _ => None,
        };
        Some(Start {
            receiver,
            position: ring.last,
            replay,
        })
    }

    /// The last outbox position published, if any.
    pub fn position(&self) -> Option<u64> {
        self.ring().last
    }

    /// Ends every stream (with a `goodbye` event): the server is shutting down.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Turns true when the server shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// How many streams are open.
    pub fn streams(&self) -> usize {
        self.inner
            .sales
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::live::events::{SeatChange, What};

    fn hub(sale: EventId) -> Live {
        Live {
            inner: Arc::new(Inner {
                sales: [(sale, broadcast::channel(CHANNEL).0)]
                    .into_iter()
                    .collect(),
                index: Index::default(),
                ring: Mutex::new(Ring::default()),
                nudge: Notify::new(),
                closing: watch::channel(false).0,
            }),
        }
    }

    fn batch(sale: EventId, positions: std::ops::RangeInclusive<u64>) -> Batch {
        Batch {
            from: *positions.start(),
            upto: *positions.end(),
            changes: positions
                .map(|position| Change {
                    position,
                    sale,
                    what: What::Seat {
                        ticket: String::new(),
                        label: format!("A{position}"),
                        change: SeatChange::Held,
                        available: false,
                        held_until: None,
                    },
                })
                .collect(),
        }
    }

    fn positions(changes: &[Arc<Change>]) -> Vec<u64> {
        changes.iter().map(|c| c.position).collect()
    }

    #[test]
    fn a_resume_replays_exactly_the_changes_after_it_and_older_ones_need_a_snapshot() {
        let sale = EventId::new();
        let live = hub(sale);
        assert!(live.subscribe(sale, Some(0)).unwrap().replay.is_none());
        live.publish(&batch(sale, 10..=12));
        live.publish(&batch(sale, 10..=12)); // redelivered: skipped
        live.publish(&batch(sale, 13..=14));
        let start = live.subscribe(sale, Some(11)).unwrap();
        assert_eq!(positions(&start.replay.unwrap()), [12, 13, 14]);
        assert_eq!(start.position, Some(14));
        assert_eq!(
            positions(&live.subscribe(sale, Some(9)).unwrap().replay.unwrap()),
            [10, 11, 12, 13, 14]
        );
        assert!(live.subscribe(sale, Some(8)).unwrap().replay.is_none());
        let last = 14 + RING as u64;
        live.publish(&batch(sale, 15..=last));
        assert!(live.subscribe(sale, Some(13)).unwrap().replay.is_none());
        assert_eq!(
            live.subscribe(sale, Some(14))
                .unwrap()
                .replay
                .unwrap()
                .len(),
            RING
        );
        let kept = live
            .subscribe(sale, Some(last - 2))
            .unwrap()
            .replay
            .unwrap();
        assert_eq!(positions(&kept), [last - 1, last]);
        assert!(live.subscribe(EventId::new(), None).is_none());
    }

    #[tokio::test]
    async fn a_slow_receiver_lags_while_publishing_never_waits_and_others_get_everything() {
        let sale = EventId::new();
        let live = hub(sale);
        let mut slow = live.subscribe(sale, None).unwrap().receiver;
        let mut reader = live.subscribe(sale, None).unwrap().receiver;
        let mut got = Vec::new();
        for round in 0..10u64 {
            let from = round * 100 + 1;
            live.publish(&batch(sale, from..=from + 99));
            while let Ok(Signal::Change(c)) = reader.try_recv() {
                got.push(c.position);
            }
        }
        assert_eq!(got, (1..=1000).collect::<Vec<_>>());
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
