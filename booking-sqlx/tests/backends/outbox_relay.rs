//! Relays paging the outbox on a server backend get every committed entry exactly once, in
//! one order, even when the writers' transactions commit in another order than they
//! inserted: entries are written here by raw inserts in transactions the test holds open
//! (as the store's own statements insert them), so the commit order is the test's to choose.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use booking_core::ids::{HoldId, TicketId};
use booking_core::machine::DomainEvent;
use booking_core::ports::store::BookingStore;

/// Writer tasks committing at once in the many-writers check.
pub(crate) const WRITERS: usize = 5;
/// Transactions each writer commits.
pub(crate) const COMMITS: usize = 12;
/// Rounds of the many-writers check.
pub(crate) const ROUNDS: usize = 3;

/// A distinct event, and its JSON as the store writes it.
pub(crate) fn entry() -> (DomainEvent, String) {
    let event = DomainEvent::TicketReleased {
        ticket: TicketId::new(),
        hold: HoldId::new(),
    };
    let json = serde_json::to_string(&event).unwrap();
    (event, json)
}

/// The ticket of an event [`entry`] made.
pub(crate) fn key(event: &DomainEvent) -> Option<TicketId> {
    match event {
        DomainEvent::TicketReleased { ticket, .. } => Some(*ticket),
        _ => None,
    }
}

/// A consumer of the outbox: its position and what it received, in order.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    /// The last position received.
    pub(crate) after: u64,
    /// Every position received, in order.
    pub(crate) seqs: Vec<u64>,
    /// Every event received, in order.
    pub(crate) events: Vec<DomainEvent>,
}

impl Relay {
    /// Pages `limit` entries at a time from its position until a page comes back empty;
    /// returns how many entries it received.
    pub(crate) async fn poll(&mut self, store: &dyn BookingStore, limit: u32) -> usize {
        let mut got = 0;
        loop {
            let page = store.outbox(self.after, limit).await.unwrap();
            if page.is_empty() {
                return got;
            }
            assert!(page.len() <= usize::try_from(limit).unwrap());
            for e in page {
                assert!(
                    e.seq > self.after,
                    "positions only grow: {} after {}",
                    e.seq,
                    self.after
                );
                self.after = e.seq;
                self.seqs.push(e.seq);
                self.events.push(e.event);
                got += 1;
            }
        }
    }
}

/// Two writers insert an entry each in open transactions and commit in reverse order; a relay
/// paging between the commits still receives both, once each. `$insert` appends one outbox
/// row given its event JSON and `recorded_ns`, as the backend's statements do.
macro_rules! check_reverse_commit {
    ($pool:expr, $store:expr, $insert:literal $(,)?) => {{
        use $crate::outbox_relay::{Relay, entry};
        let pool = $pool;
        let store: &dyn ::booking_core::ports::store::BookingStore = $store;
        let mut relay = Relay::default();
        relay.poll(store, 10).await;
        let start = relay.events.len();
        for _ in 0..3 {
            let (first, first_json) = entry();
            let (second, second_json) = entry();
            let mut early = pool.begin().await.unwrap();
            sqlx::query($insert)
                .bind(first_json)
                .bind(0_i64)
                .execute(&mut *early)
                .await
                .unwrap();
            let mut late = pool.begin().await.unwrap();
            sqlx::query($insert)
                .bind(second_json)
                .bind(0_i64)
                .execute(&mut *late)
                .await
                .unwrap();
            // The later insert commits first; the relay pages while the first is still open
            // (and must not wait for it).
            late.commit().await.unwrap();
            let got =
                tokio::time::timeout(::std::time::Duration::from_secs(10), relay.poll(store, 10))
                    .await
                    .expect("reading the outbox does not wait for an open writer");
            assert_eq!(got, 1, "only the committed entry is delivered");
            assert_eq!(relay.events.last(), Some(&second));
            early.commit().await.unwrap();
            assert_eq!(
                relay.poll(store, 10).await,
                1,
                "the late commit is still delivered"
            );
            assert_eq!(relay.events.last(), Some(&first));
            assert_eq!(relay.poll(store, 10).await, 0, "nothing twice");
        }
        assert_eq!(relay.events.len(), start + 6);
        // A fresh consumer reads the same entries in the same order.
        let mut fresh = Relay::default();
        fresh.poll(store, 4).await;
        assert_eq!(fresh.seqs, relay.seqs);
        assert_eq!(fresh.events, relay.events);
    }};
}
pub(crate) use check_reverse_commit;

/// Many writers commit transactions of one to three entries, holding each open a little
/// while, while two relays page concurrently: each relay receives every entry exactly once,
/// and both in the same order. `$insert` is as for [`check_reverse_commit`].
macro_rules! check_relays_race_writers {
    ($pool:expr, $store:expr, $insert:literal $(,)?) => {{
        use $crate::outbox_relay::{COMMITS, ROUNDS, Relay, WRITERS, entry, key, relay_until};
        let pool = $pool;
        let store: ::std::sync::Arc<dyn ::booking_core::ports::store::BookingStore> = $store;
        for round in 0..ROUNDS {
            let done = ::std::sync::Arc::new(::std::sync::atomic::AtomicBool::new(false));
            let relays: Vec<_> = [3_u32, 7]
                .into_iter()
                .map(|limit| {
                    let (store, done) = (
                        ::std::sync::Arc::clone(&store),
                        ::std::sync::Arc::clone(&done),
                    );
                    tokio::spawn(relay_until(store, done, limit))
                })
                .collect();
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let mut written = Vec::new();
                        for k in 0..COMMITS {
                            let mut tx = pool.begin().await.unwrap();
                            for _ in 0..=(w + k) % 3 {
                                let (event, json) = entry();
                                sqlx::query($insert)
                                    .bind(json)
                                    .bind(0_i64)
                                    .execute(&mut *tx)
                                    .await
                                    .unwrap();
                                written.push(key(&event).unwrap());
                            }
                            // Open for a varying while, so commits overtake inserts.
                            let hold = (w * 7 + k * 3 + round) % 5;
                            tokio::time::sleep(::std::time::Duration::from_millis(hold as u64))
                                .await;
                            tx.commit().await.unwrap();
                        }
                        written
                    })
                })
                .collect();
            let mut written = Vec::new();
            for w in writers {
                written.extend(w.await.unwrap());
            }
            done.store(true, ::std::sync::atomic::Ordering::SeqCst);
            let mut received: Vec<Relay> = Vec::new();
            for r in relays {
                received.push(r.await.unwrap());
            }
            // Only this round's entries are checked: earlier rounds' come before them.
            let ours: ::std::collections::HashSet<_> = written.iter().copied().collect();
            assert_eq!(
                ours.len(),
                written.len(),
                "round {round}: every write distinct"
            );
            assert!(written.len() >= WRITERS * COMMITS);
            let mut orders = Vec::new();
            for relay in &received {
                let got: Vec<_> = relay
                    .events
                    .iter()
                    .filter_map(key)
                    .filter(|t| ours.contains(t))
                    .collect();
                let unique: ::std::collections::HashSet<_> = got.iter().copied().collect();
                assert_eq!(
                    got.len(),
                    unique.len(),
                    "round {round}: an entry delivered twice"
                );
                assert_eq!(unique, ours, "round {round}: an entry lost");
                orders.push(got);
            }
            assert_eq!(
                orders[0], orders[1],
                "round {round}: both relays see one order"
            );
        }
    }};
}
pub(crate) use check_relays_race_writers;

/// A relay paging `limit` at a time until `done` is set, then once more to the end.
pub(crate) async fn relay_until(
    store: Arc<dyn BookingStore>,
    done: Arc<AtomicBool>,
    limit: u32,
) -> Relay {
    let mut relay = Relay::default();
    loop {
        let finished = done.load(Ordering::SeqCst);
        relay.poll(store.as_ref(), limit).await;
        if finished {
            return relay;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
