//! The [`BookingStore`](crate::ports::store::BookingStore) suite: the outbox delivers every
//! event once to a relay that pages while orders are placed concurrently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Backend;
use super::concurrency::in_parallel;
use super::fixtures::seats;
use super::store::{later, ticket};
use super::store_orders::{PRICE, TEN_MINUTES, place};
use crate::clock::Clock;
use crate::ids::{EventId, TicketId};
use crate::machine::DomainEvent;
use crate::ports::store::{BookingStore, OutboxEntry};

/// Orders placed at once.
const ORDERS: usize = 24;
/// Entries a relay takes per page: small, so it pages often while orders commit.
const PAGE: u32 = 3;

/// Pages from `after` until a page comes back empty, appending to `got`; the positions
/// must only grow.
async fn drain(store: &dyn BookingStore, after: &mut u64, got: &mut Vec<OutboxEntry>) {
    loop {
        let page = store.outbox(*after, PAGE).await.unwrap();
        if page.is_empty() {
            return;
        }
        for entry in page {
            assert!(entry.seq > *after, "{} after {}", entry.seq, *after);
            *after = entry.seq;
            got.push(entry);
        }
    }
}

/// While 24 orders of two seats each are placed by parallel tasks, a relay pages the
/// outbox a few entries at a time; once they are done it drains the rest. It receives every
/// seat's hold exactly once, an order's two holds in the order's line order, and the same
/// entries in the same order as a reader that starts afterwards. Repeated three times.
pub async fn store_outbox_pages_concurrent_orders_once(b: Backend) {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    for _round in 0..3 {
        let ids = seats(&b, event, 2 * ORDERS, PRICE).await;
        let mut start = 0;
        drain(b.store.as_ref(), &mut start, &mut Vec::new()).await;
        let done = Arc::new(AtomicBool::new(false));
        let relay = {
            let (store, done) = (Arc::clone(&b.store), Arc::clone(&done));
            tokio::spawn(async move {
                let (mut after, mut got) = (start, Vec::new());
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    drain(store.as_ref(), &mut after, &mut got).await;
                    if finished {
                        return got;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let backend = Arc::new(b.clone());
        let placed = in_parallel(ORDERS, |i| {
            let (b, pair) = (Arc::clone(&backend), [ids[2 * i], ids[2 * i + 1]]);
            async move {
                place(&b, event, &[ticket(pair[0]), ticket(pair[1])], now, until).await;
                pair
            }
        })
        .await;
        done.store(true, Ordering::SeqCst);
        let got = relay.await.expect("the relay task");

        let held: Vec<TicketId> = got
            .iter()
            .filter_map(|e| match e.event {
                DomainEvent::TicketHeld { ticket, .. } => Some(ticket),
                _ => None,
            })
            .collect();
        assert_eq!(held.len(), 2 * ORDERS, "every hold once: {held:?}");
        for pair in &placed {
            let at = |id| held.iter().position(|t| *t == id).expect("delivered");
            assert!(at(pair[0]) < at(pair[1]), "an order's holds in line order");
        }
        let mut after = start;
        let mut again = Vec::new();
        drain(b.store.as_ref(), &mut after, &mut again).await;
        assert_eq!(got, again, "one order for every reader");
    }
}
