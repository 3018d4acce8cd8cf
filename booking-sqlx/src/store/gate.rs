//! The hold gate: concurrent `place_order` calls of one store for the same seats meet in the
//! process before they meet in the database.
//!
//! Every order of distinct tickets (the hot path) passes the gate. It boards as the **pilot**
//! of its tickets when no other order of this store is placing any of them: it registers
//! itself under each ticket, places the order the store's usual way, and reports whether it
//! was placed. An order that finds a ticket of its own already registered waits, in process,
//! for those pilots to land and then decides:
//!
//! - a pilot that placed **this order's id** (a retried request): `AlreadyExists`;
//! - every ticket held by a pilot that placed its order (of this order's event, with a
//!   deadline after this order's `now`): the order id is looked up, and the answer is
//!   `AlreadyExists` if it is stored, else `Unavailable` with every ticket in line order —
//!   the answer the database gives, true at the moment the last of those pilots committed,
//!   which lies inside this call. The database is not asked to write anything, and the
//!   waiters that reach this point together share one read for all their ids (see
//!   [`Lookups`]);
//! - anything else (a pilot that failed, was cancelled, or covered only some of the tickets):
//!   the order goes the store's usual way, which answers exactly. It waits in process at most
//!   once.
//!
//! So a hot seat costs the database one writer per store and process: the losers of a rush
//! within one process never queue on the seat's row lock, and a loser whose rival failed or
//! rolled back still gets the seat. Waiters never register while they wait and pilots never
//! wait, so the gate cannot deadlock. Losers in other processes meet the seat in the database
//! as before (ADR 0008).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, TicketId};
use booking_core::ports::store::{OrderRecord, StoreError};
use tokio::sync::watch;

/// Where a pilot's order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    /// Still being placed.
    Flying,
    /// Placed: every ticket of it is held by the order, as committed.
    Placed,
    /// Not placed (refused, failed); a cancelled pilot drops its sender instead.
    NotPlaced,
}

/// A pilot as its waiters see it.
#[derive(Debug, Clone)]
struct Flight {
    order: OrderId,
    event: EventId,
    expires_at: Timestamp,
    landing: watch::Receiver<Landing>,
}

/// The orders of one store being placed, by ticket (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct HoldGate {
    flights: Mutex<HashMap<TicketId, Flight>>,
    lookups: Lookups,
}

/// What a shared look-up found: the ids stored, or `None` if the read failed (each waiter
/// then reads its own id and reports the error itself).
type Found = Option<Arc<HashSet<OrderId>>>;

/// Order-id look-ups shared by the waiters that need one at the same time: the first opens a
/// look-up, lets the tasks ready to run join it, then closes it and reads every joined id in
/// one statement. A look-up is joined only while open, so it always starts after the joiner
/// finished waiting for its pilots: the read it shares is as fresh as its own would be.
#[derive(Debug, Default)]
struct Lookups {
    open: Mutex<Option<OpenLookup>>,
    next: AtomicU64,
}

/// The look-up that can still be joined.
#[derive(Debug)]
struct OpenLookup {
    serial: u64,
    ids: Vec<OrderId>,
    found: watch::Receiver<Option<Found>>,
}

/// The waiter that opened a look-up; dropped before closing it (cancelled), it closes it so
/// that later waiters open their own.
struct Opener<'g> {
    lookups: &'g Lookups,
    serial: u64,
    found: watch::Sender<Option<Found>>,
}

impl Opener<'_> {
    /// Closes the look-up: no one joins it from now on. Returns the ids to read.
    fn close(&self) -> Vec<OrderId> {
        let mut open = self.lookups.lock();
        match open.take() {
            Some(o) if o.serial == self.serial => o.ids,
            other => {
                *open = other;
                Vec::new()
            }
        }
    }
}

impl Drop for Opener<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

impl Lookups {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenLookup>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the order `id` is stored, read by `stored` (given the ids to read, it returns
    /// those stored) together with the other waiters asking now.
    async fn stored<S>(
        &self,
        id: OrderId,
        stored: impl FnOnce(Vec<OrderId>) -> S,
    ) -> Result<bool, StoreError>
    where
        S: Future<Output = Result<Vec<OrderId>, StoreError>>,
    {
        let joined = {
            let mut open = self.lock();
            match open.as_mut() {
                Some(o) => {
                    o.ids.push(id);
                    Err(o.found.clone())
                }
                None => {
                    let serial = self.next.fetch_add(1, Ordering::Relaxed);
                    let (found, waiting) = watch::channel(None);
                    *open = Some(OpenLookup {
                        serial,
                        ids: vec![id],
                        found: waiting,
                    });
                    Ok(Opener {
                        lookups: self,
                        serial,
                        found,
                    })
                }
            }
        };
        let opener = match joined {
            Ok(opener) => opener,
            Err(mut found) => {
                // A closed channel is a cancelled opener.
                let shared = found
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|f| f.clone());
                return match shared.flatten() {
                    Some(ids) => Ok(ids.contains(&id)),
                    None => Ok(stored(vec![id]).await?.contains(&id)),
                };
            }
        };
        // The waiters woken with this one are ready to run: let them join first.
        tokio::task::yield_now().await;
        let ids = opener.close();
        let read = stored(ids).await;
        let found = read
            .as_ref()
            .ok()
            .map(|ids| Arc::new(ids.iter().copied().collect()));
        opener.found.send_replace(Some(found));
        Ok(read?.contains(&id))
    }
}

/// What an order found at the gate.
enum Boarding<'g> {
    /// No other order was placing its tickets: it is now their pilot.
    Pilot(Pilot<'g>),
    /// For each ticket in line order, the pilot placing it, if any (at least one).
    Behind(Vec<Option<Flight>>),
}

/// An order registered under its tickets; dropping it (landed or cancelled) unregisters it.
struct Pilot<'g> {
    gate: &'g HoldGate,
    tickets: Vec<TicketId>,
    landing: watch::Sender<Landing>,
}

impl Pilot<'_> {
    /// Tells the waiters whether the order was placed, then unregisters it.
    fn land(self, placed: bool) {
        let landing = if placed {
            Landing::Placed
        } else {
            Landing::NotPlaced
        };
        self.landing.send_replace(landing);
    }
}

impl Drop for Pilot<'_> {
    fn drop(&mut self) {
        // An entry is only added where none is and only its pilot removes it, so every entry
        // under these tickets is this pilot's. The sender drops after this: a waiter of a
        // cancelled pilot wakes to a closed channel and goes the usual way.
        let mut flights = self.gate.lock();
        for ticket in &self.tickets {
            flights.remove(ticket);
        }
    }
}

impl HoldGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TicketId, Flight>> {
        // The map is consistent between statements, so a panic elsewhere cannot leave it torn.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `record` as the pilot of `tickets` if no other order is placing any of them,
    /// else returns the pilots in its way.
    fn board(&self, record: &OrderRecord, tickets: &[TicketId]) -> Boarding<'_> {
        let mut flights = self.lock();
        let ahead: Vec<Option<Flight>> = tickets.iter().map(|t| flights.get(t).cloned()).collect();
        if ahead.iter().any(Option::is_some) {
            return Boarding::Behind(ahead);
        }
        let (landing, waiting) = watch::channel(Landing::Flying);
        let flight = Flight {
            order: record.order.id(),
            event: record.event,
            expires_at: record.order.expires_at(),
            landing: waiting,
        };
        for &ticket in tickets {
            flights.insert(ticket, flight.clone());
        }
        Boarding::Pilot(Pilot {
            gate: self,
            tickets: tickets.to_vec(),
            landing,
        })
    }

    /// Places `record`, whose lines are the distinct `tickets` (in line order), through the
    /// gate: `place` is the store's usual way, `stored` reads which of some order ids are
    /// stored. Answers as `place` would (see the module docs).
    pub(crate) async fn place<P, S>(
        &self,
        record: &OrderRecord,
        tickets: &[TicketId],
        now: Timestamp,
        place: impl FnOnce() -> P,
        stored: impl FnOnce(Vec<OrderId>) -> S,
    ) -> Result<(), StoreError>
    where
        P: Future<Output = Result<(), StoreError>>,
        S: Future<Output = Result<Vec<OrderId>, StoreError>>,
    {
        let ahead = match self.board(record, tickets) {
            Boarding::Pilot(pilot) => {
                let placed = place().await;
                pilot.land(placed.is_ok());
                return placed;
            }
            Boarding::Behind(ahead) => ahead,
        };
        let id = record.order.id();
        let mut covered = true;
        for flight in &ahead {
            let Some(flight) = flight else {
                covered = false;
                continue;
            };
            let mut landing = flight.landing.clone();
            // A closed channel is a cancelled pilot: not placed.
            let placed = landing
                .wait_for(|l| *l != Landing::Flying)
                .await
                .is_ok_and(|l| *l == Landing::Placed);
            if placed && flight.order == id {
                return Err(already_exists(id));
            }
            covered &= placed && flight.event == record.event && flight.expires_at > now;
        }
        if covered {
            return if self.lookups.stored(id, stored).await? {
                Err(already_exists(id))
            } else {
                Err(StoreError::Unavailable {
                    tickets: tickets.to_vec(),
                })
            };
        }
        match self.board(record, tickets) {
            Boarding::Pilot(pilot) => {
                let placed = place().await;
                pilot.land(placed.is_ok());
                placed
            }
            // Another order boarded meanwhile: no second wait, the database decides.
            Boarding::Behind(_) => place().await,
        }
    }
}

fn already_exists(id: OrderId) -> StoreError {
    StoreError::AlreadyExists {
        what: "order",
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use booking_core::ids::UserId;
    use booking_core::ports::store::ItemRef;
    use booking_core::testkit::fixtures::pending_order;
    use futures_util::future::join_all;
    use tokio::sync::oneshot;

    use super::*;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn order(event: EventId, tickets: &[TicketId]) -> OrderRecord {
        let items: Vec<ItemRef> = tickets
            .iter()
            .map(|&ticket| ItemRef::Ticket { ticket })
            .collect();
        let until = NOW.checked_add(Duration::from_secs(600)).unwrap();
        pending_order(event, UserId::new(), &items, 1_000, NOW, until)
    }

    fn tickets_of(record: &OrderRecord) -> Vec<TicketId> {
        record
            .lines
            .iter()
            .map(|l| match l.item {
                ItemRef::Ticket { ticket } => ticket,
                ItemRef::Stock { .. } => panic!("ticket orders only"),
            })
            .collect()
    }

    /// A pilot for `record` that lands with `outcome` when the returned sender fires, run as
    /// a task; returns once it is registered.
    async fn pilot(
        gate: &Arc<HoldGate>,
        record: &OrderRecord,
    ) -> (
        oneshot::Sender<Result<(), StoreError>>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (tx, rx) = oneshot::channel();
        let (gate2, record2) = (Arc::clone(gate), record.clone());
        let task = tokio::spawn(async move {
            let tickets = tickets_of(&record2);
            gate2
                .place(
                    &record2,
                    &tickets,
                    NOW,
                    || async { rx.await.unwrap() },
                    |_| async { panic!("a pilot never looks up its id") },
                )
                .await
        });
        while gate.lock().len() < record.lines.len() {
            tokio::task::yield_now().await;
        }
        (tx, task)
    }

    /// Places `record` through `gate` as a waiter, counting calls of the usual way (which
    /// answers `usual`) and of the id look-up (which answers `stored`).
    async fn follow(
        gate: &HoldGate,
        record: &OrderRecord,
        now: Timestamp,
        usual: Result<(), StoreError>,
        stored: bool,
        calls: &AtomicUsize,
        lookups: &AtomicUsize,
    ) -> Result<(), StoreError> {
        let tickets = tickets_of(record);
        gate.place(
            record,
            &tickets,
            now,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                usual
            },
            |ids| async move {
                lookups.fetch_add(1, Ordering::SeqCst);
                Ok(if stored { ids } else { Vec::new() })
            },
        )
        .await
    }

    struct Case {
        gate: Arc<HoldGate>,
        calls: AtomicUsize,
        lookups: AtomicUsize,
    }

    impl Case {
        fn new() -> Self {
            Case {
                gate: Arc::new(HoldGate::default()),
                calls: AtomicUsize::new(0),
                lookups: AtomicUsize::new(0),
            }
        }

        /// Runs `waiter` behind a pilot for `flying` that lands with `landing` once the waiter
        /// is waiting; returns the waiter's answer.
        async fn behind(
            &self,
            flying: &OrderRecord,
            landing: Result<(), StoreError>,
            waiter: &OrderRecord,
            now: Timestamp,
            stored: bool,
        ) -> Result<(), StoreError> {
            let (tx, task) = pilot(&self.gate, flying).await;
            let usual = Err(StoreError::Invalid("the usual way".to_owned()));
            let waiting = follow(
                &self.gate,
                waiter,
                now,
                usual,
                stored,
                &self.calls,
                &self.lookups,
            );
            let land = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.send(landing).unwrap();
            };
            let (answer, ()) = tokio::join!(waiting, land);
            task.await.unwrap().ok();
            assert!(self.gate.lock().is_empty(), "every pilot unregistered");
            answer
        }

        fn counts(&self) -> (usize, usize) {
            (
                self.calls.load(Ordering::SeqCst),
                self.lookups.load(Ordering::SeqCst),
            )
        }
    }

    #[tokio::test]
    async fn a_lone_order_goes_the_usual_way_and_leaves_nothing_registered() {
        let case = Case::new();
        let record = order(EventId::new(), &[TicketId::new(), TicketId::new()]);
        let answer = follow(
            &case.gate,
            &record,
            NOW,
            Ok(()),
            false,
            &case.calls,
            &case.lookups,
        )
        .await;
        assert!(answer.is_ok());
        assert_eq!(case.counts(), (1, 0));
        assert!(case.gate.lock().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_behind_a_placed_rival_is_told_its_seats_are_taken_without_writing() {
        let case = Case::new();
        let event = EventId::new();
        let seats = [TicketId::new(), TicketId::new()];
        let rival = order(event, &seats);
        let waiter = order(event, &[seats[1], seats[0]]);
        let answer = case.behind(&rival, Ok(()), &waiter, NOW, false).await;
        match answer {
            Err(StoreError::Unavailable { tickets }) => {
                assert_eq!(tickets, vec![seats[1], seats[0]], "in line order");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert_eq!(case.counts(), (0, 1), "only the id was looked up");
    }

    /// Runs a waiter for one fresh seat behind a rival for it of the same event (or, with
    /// `same_event` false, of another) landing with `landing`; the waiter's `now` and `stored`
    /// as given.
    async fn rivals_for_one_seat(
        landing: Result<(), StoreError>,
        same_event: bool,
        now: Timestamp,
        stored: bool,
    ) -> (Result<(), StoreError>, (usize, usize)) {
        let case = Case::new();
        let (event, seat) = (EventId::new(), TicketId::new());
        let other = if same_event { event } else { EventId::new() };
        let (rival, waiter) = (order(event, &[seat]), order(other, &[seat]));
        let answer = case.behind(&rival, landing, &waiter, now, stored).await;
        (answer, case.counts())
    }

    fn is_the_usual_way(answer: &Result<(), StoreError>) -> bool {
        matches!(answer, Err(StoreError::Invalid(s)) if s == "the usual way")
    }

    #[tokio::test]
    async fn a_stored_order_id_is_reported_before_taken_seats() {
        let (answer, counts) = rivals_for_one_seat(Ok(()), true, NOW, true).await;
        assert!(matches!(
            answer,
            Err(StoreError::AlreadyExists { what: "order", .. })
        ));
        assert_eq!(counts, (0, 1));
    }

    #[tokio::test]
    async fn a_repeat_of_a_placed_order_is_told_it_exists() {
        let case = Case::new();
        let record = order(EventId::new(), &[TicketId::new()]);
        let answer = case.behind(&record, Ok(()), &record, NOW, false).await;
        assert!(matches!(
            answer,
            Err(StoreError::AlreadyExists { what: "order", .. })
        ));
        assert_eq!(case.counts(), (0, 0), "the pilot's landing is the answer");
    }

    #[tokio::test]
    async fn a_waiter_behind_a_failed_rival_goes_the_usual_way() {
        let failed = Err(StoreError::AlreadyExists {
            what: "order",
            id: "taken".to_owned(),
        });
        let (answer, counts) = rivals_for_one_seat(failed, true, NOW, false).await;
        assert!(is_the_usual_way(&answer));
        assert_eq!(counts, (1, 0));
    }

    #[tokio::test]
    async fn a_waiter_with_seats_no_rival_took_goes_the_usual_way() {
        let case = Case::new();
        let event = EventId::new();
        let (hot, own) = (TicketId::new(), TicketId::new());
        let (rival, waiter) = (order(event, &[hot]), order(event, &[own, hot]));
        let answer = case.behind(&rival, Ok(()), &waiter, NOW, false).await;
        assert!(is_the_usual_way(&answer));
        assert_eq!(case.counts(), (1, 0));
    }

    #[tokio::test]
    async fn a_rival_of_another_event_or_lapsed_by_the_waiters_now_is_not_an_answer() {
        let (answer, counts) = rivals_for_one_seat(Ok(()), false, NOW, false).await;
        assert!(is_the_usual_way(&answer));
        assert_eq!(
            counts,
            (1, 0),
            "another event's ticket: the store reports it"
        );

        let late = NOW.checked_add(Duration::from_secs(601)).unwrap();
        let (answer, counts) = rivals_for_one_seat(Ok(()), true, late, false).await;
        assert!(is_the_usual_way(&answer));
        assert_eq!(counts, (1, 0), "the rival's hold has lapsed by then");
    }

    #[tokio::test]
    async fn waiters_behind_one_pilot_share_one_look_up_of_their_ids() {
        let case = Case::new();
        let (event, seat) = (EventId::new(), TicketId::new());
        let rival = order(event, &[seat]);
        let (tx, task) = pilot(&case.gate, &rival).await;
        let waiters: Vec<OrderRecord> = (0..16).map(|_| order(event, &[seat])).collect();
        // Every other waiter repeats an order id that is already stored.
        let stored: HashSet<OrderId> = waiters.iter().step_by(2).map(|w| w.order.id()).collect();
        let reads = AtomicUsize::new(0);
        let answers = join_all(waiters.iter().map(|w| {
            let (gate, stored, reads) = (&case.gate, &stored, &reads);
            async move {
                let tickets = tickets_of(w);
                gate.place(
                    w,
                    &tickets,
                    NOW,
                    || async { panic!("every seat was taken by the pilot") },
                    |ids| async move {
                        reads.fetch_add(1, Ordering::SeqCst);
                        Ok(ids.into_iter().filter(|id| stored.contains(id)).collect())
                    },
                )
                .await
            }
        }));
        let land = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(Ok(())).unwrap();
        };
        let (answers, ()) = tokio::join!(answers, land);
        task.await.unwrap().unwrap();
        for (w, answer) in waiters.iter().zip(answers) {
            if stored.contains(&w.order.id()) {
                assert!(matches!(answer, Err(StoreError::AlreadyExists { .. })));
            } else {
                assert!(
                    matches!(answer, Err(StoreError::Unavailable { ref tickets }) if tickets == &[seat])
                );
            }
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one read for all sixteen");
        assert!(case.gate.lookups.lock().is_none(), "no look-up left open");
    }

    #[tokio::test]
    async fn a_cancelled_pilot_unregisters_and_its_waiters_go_the_usual_way() {
        let case = Case::new();
        let event = EventId::new();
        let seat = TicketId::new();
        let rival = order(event, &[seat]);
        let (tx, task) = pilot(&case.gate, &rival).await;
        let waiter = order(event, &[seat]);
        let waiting = follow(
            &case.gate,
            &waiter,
            NOW,
            Ok(()),
            false,
            &case.calls,
            &case.lookups,
        );
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            drop(tx);
        };
        let (answer, ()) = tokio::join!(waiting, cancel);
        assert!(answer.is_ok(), "the waiter placed its order the usual way");
        assert_eq!(case.counts(), (1, 0));
        assert!(case.gate.lock().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_many_racers_for_one_seat_one_reaches_the_store_when_the_first_wins() {
        for _ in 0..50 {
            let gate = Arc::new(HoldGate::default());
            let (event, seat) = (EventId::new(), TicketId::new());
            let writes = Arc::new(AtomicUsize::new(0));
            let taken = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let racers: Vec<_> = (0..32)
                .map(|_| {
                    let (gate, writes, taken) =
                        (Arc::clone(&gate), Arc::clone(&writes), Arc::clone(&taken));
                    let record = order(event, &[seat]);
                    tokio::spawn(async move {
                        gate.place(
                            &record,
                            &[seat],
                            NOW,
                            || async {
                                writes.fetch_add(1, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                // A store: the first write takes the seat, later ones are refused.
                                if taken.swap(true, Ordering::SeqCst) {
                                    Err(StoreError::Unavailable {
                                        tickets: vec![seat],
                                    })
                                } else {
                                    Ok(())
                                }
                            },
                            |_| async { Ok(Vec::new()) },
                        )
                        .await
                    })
                })
                .collect();
            let mut won = 0;
            for racer in racers {
                match racer.await.unwrap() {
                    Ok(()) => won += 1,
                    Err(StoreError::Unavailable { tickets }) => assert_eq!(tickets, vec![seat]),
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            assert_eq!(won, 1);
            assert!(gate.lock().is_empty());
            // Racers that met the winner in flight never wrote; late arrivals find the gate
            // empty and are refused by the store.
            assert!(writes.load(Ordering::SeqCst) >= 1);
        }
    }
}
