//! The hold gate: concurrent `place_order` calls of one store for the same seats meet in the
//! process before they meet in the database.
//!
//! Every order of distinct tickets (the hot path) passes the gate. It boards as the **pilot**
//! of its tickets when no other order of this store is placing any of them: it registers
//! itself under each ticket, places the order the store's usual way, and reports whether it
//! was placed. An order that finds a ticket of its own already registered waits, in process,
//! for those pilots to land, and then:
//!
//! - if a pilot placed **this order's id** (a retried request), it is told `AlreadyExists`:
//!   the row is committed and orders are never deleted;
//! - otherwise it **reads** its tickets and then whether its order id is stored, and answers
//!   from that read what the hold would: `AlreadyExists` for a stored id; `Unavailable` with
//!   every ticket not free for it (per the ticket machine at its `now`), in line order, if
//!   its tickets are all listed for its event and any is not free. Nothing is written. The
//!   read starts after the wait ended, so the answer is true of a committed state inside
//!   this call; the tickets are read before the ids, so an id not stored at the second read
//!   was not stored at the first;
//! - if the read leaves it nothing to refuse (every ticket free, or one unknown or of another
//!   event, which the store reports), the order goes the store's usual way, as the pilot of
//!   its tickets if they are clear by then. It waits in process at most once.
//!
//! The waiters that read at the same time share one read (see [`Lookups`]).
//!
//! So a hot seat costs the database one writer per store and process: the losers of a rush
//! within one process never queue on the seat's row lock, and a loser whose rival failed or
//! rolled back reads the seat free and takes it. Waiters never register while they wait and
//! pilots never wait on the gate, so it cannot deadlock. Losers in other processes meet the
//! seat in the database as before (ADR 0008); ADR 0013 records the design.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, TicketId};
use booking_core::machine::Ticket;
use booking_core::ports::store::{OrderRecord, StoreError};
use tokio::sync::watch;

/// What a read for the gate found: each ticket listed (its event and state), and the order
/// ids stored.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The listed tickets among those read; an unknown ticket is missing.
    pub(crate) tickets: HashMap<TicketId, (EventId, Ticket)>,
    /// The order ids among those read that are stored.
    pub(crate) stored: HashSet<OrderId>,
}

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
    landing: watch::Receiver<Landing>,
}

/// The orders of one store being placed, by ticket (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct HoldGate {
    flights: Mutex<HashMap<TicketId, Flight>>,
    lookups: Lookups,
}

/// A shared read's result: `None` if it failed (each waiter then reads on its own and reports
/// the error itself).
type Shared = Option<Arc<Seen>>;

/// Reads shared by the waiters that need one at the same time: the first opens a look-up,
/// lets the tasks ready to run join it, then closes it and reads every joined ticket and id
/// at once. A look-up is joined only while open, so it always starts after the joiner's wait
/// ended: the read it shares is as fresh as the joiner's own would be.
#[derive(Debug, Default)]
struct Lookups {
    open: Mutex<Option<OpenLookup>>,
    next: AtomicU64,
}

/// The look-up that can still be joined.
#[derive(Debug)]
struct OpenLookup {
    serial: u64,
    tickets: Vec<TicketId>,
    orders: Vec<OrderId>,
    seen: watch::Receiver<Option<Shared>>,
}

/// The waiter that opened a look-up; dropped before closing it (cancelled), it closes it so
/// that later waiters open their own.
struct Opener<'g> {
    lookups: &'g Lookups,
    serial: u64,
    seen: watch::Sender<Option<Shared>>,
}

impl Opener<'_> {
    /// Closes the look-up: no one joins it from now on. Returns what to read.
    fn close(&self) -> (Vec<TicketId>, Vec<OrderId>) {
        let mut open = self.lookups.lock();
        match open.take() {
            Some(o) if o.serial == self.serial => (o.tickets, o.orders),
            other => {
                *open = other;
                (Vec::new(), Vec::new())
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
    fn lock(&self) -> MutexGuard<'_, Option<OpenLookup>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `tickets` and the order `id` as `read` finds them (given tickets and ids, it reads the
    /// tickets first), read together with the other waiters asking now.
    async fn read<R>(
        &self,
        tickets: &[TicketId],
        id: OrderId,
        read: impl FnOnce(Vec<TicketId>, Vec<OrderId>) -> R,
    ) -> Result<Arc<Seen>, StoreError>
    where
        R: Future<Output = Result<Seen, StoreError>>,
    {
        let joined = {
            let mut open = self.lock();
            match open.as_mut() {
                Some(o) => {
                    o.tickets.extend_from_slice(tickets);
                    o.orders.push(id);
                    Err(o.seen.clone())
                }
                None => {
                    let serial = self.next.fetch_add(1, Ordering::Relaxed);
                    let (seen, waiting) = watch::channel(None);
                    *open = Some(OpenLookup {
                        serial,
                        tickets: tickets.to_vec(),
                        orders: vec![id],
                        seen: waiting,
                    });
                    Ok(Opener {
                        lookups: self,
                        serial,
                        seen,
                    })
                }
            }
        };
        let opener = match joined {
            Ok(opener) => opener,
            Err(mut seen) => {
                // A closed channel is a cancelled opener.
                let shared = seen
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|s| s.clone());
                return match shared.flatten() {
                    Some(seen) => Ok(seen),
                    None => Ok(Arc::new(read(tickets.to_vec(), vec![id]).await?)),
                };
            }
        };
        // The waiters woken with this one are ready to run: let them join first.
        tokio::task::yield_now().await;
        let (mut all_tickets, orders) = opener.close();
        all_tickets.sort_unstable();
        all_tickets.dedup();
        match read(all_tickets, orders).await {
            Ok(seen) => {
                let seen = Arc::new(seen);
                opener.seen.send_replace(Some(Some(Arc::clone(&seen))));
                Ok(seen)
            }
            Err(e) => {
                opener.seen.send_replace(Some(None));
                Err(e)
            }
        }
    }
}

/// What an order found at the gate.
enum Boarding<'g> {
    /// No other order was placing its tickets: it is now their pilot.
    Pilot(Pilot<'g>),
    /// The pilots placing some of its tickets (at least one, possibly repeated).
    Behind(Vec<Flight>),
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
        // cancelled pilot wakes to a closed channel.
        let mut flights = self.gate.lock();
        for ticket in &self.tickets {
            flights.remove(ticket);
        }
    }
}

impl HoldGate {
    fn lock(&self) -> MutexGuard<'_, HashMap<TicketId, Flight>> {
        // The map is consistent between statements, so a panic elsewhere cannot leave it torn.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `record` as the pilot of `tickets` if no other order is placing any of them,
    /// else returns the pilots in its way.
    fn board(&self, record: &OrderRecord, tickets: &[TicketId]) -> Boarding<'_> {
        let mut flights = self.lock();
        let ahead: Vec<Flight> = tickets
            .iter()
            .filter_map(|t| flights.get(t).cloned())
            .collect();
        if !ahead.is_empty() {
            return Boarding::Behind(ahead);
        }
        let (landing, waiting) = watch::channel(Landing::Flying);
        let flight = Flight {
            order: record.order.id(),
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
    /// gate: `place` is the store's usual way; `read`, given tickets and order ids, reads the
    /// tickets and then which of the ids are stored. Answers as `place` would (see the module
    /// docs).
    pub(crate) async fn place<P, R>(
        &self,
        record: &OrderRecord,
        tickets: &[TicketId],
        now: Timestamp,
        place: impl FnOnce() -> P,
        read: impl FnOnce(Vec<TicketId>, Vec<OrderId>) -> R,
    ) -> Result<(), StoreError>
    where
        P: Future<Output = Result<(), StoreError>>,
        R: Future<Output = Result<Seen, StoreError>>,
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
        for flight in ahead {
            let mut landing = flight.landing;
            // A closed channel is a cancelled pilot: not placed.
            let placed = landing
                .wait_for(|l| *l != Landing::Flying)
                .await
                .is_ok_and(|l| *l == Landing::Placed);
            if placed && flight.order == id {
                return Err(already_exists(id));
            }
        }
        let seen = self.lookups.read(tickets, id, read).await?;
        if seen.stored.contains(&id) {
            return Err(already_exists(id));
        }
        let mut taken = Vec::new();
        for ticket in tickets {
            match seen.tickets.get(ticket) {
                Some((event, t)) if *event == record.event => {
                    if !t.is_available_at(now) {
                        taken.push(*ticket);
                    }
                }
                // Unknown, or another event's: the store reports it.
                _ => {
                    taken.clear();
                    break;
                }
            }
        }
        if !taken.is_empty() {
            return Err(StoreError::Unavailable { tickets: taken });
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

    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use booking_core::ids::UserId;
    use booking_core::machine::TicketCommand;
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

    /// A store's rows as the gate sees them, with what it was asked.
    #[derive(Default)]
    struct Db {
        tickets: Mutex<HashMap<TicketId, (EventId, Ticket)>>,
        stored: Mutex<HashSet<OrderId>>,
        reads: AtomicUsize,
        writes: AtomicUsize,
    }

    impl Db {
        /// Lists fresh tickets of `event`.
        fn list(&self, event: EventId, n: usize) -> Vec<TicketId> {
            let ids: Vec<TicketId> = (0..n).map(|_| TicketId::new()).collect();
            let mut tickets = self.tickets.lock().unwrap();
            for &id in &ids {
                tickets.insert(id, (event, Ticket::new(id)));
            }
            ids
        }

        /// Places `record` as the store would: all its tickets held, or nothing written.
        fn place(&self, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            let mut stored = self.stored.lock().unwrap();
            if stored.contains(&record.order.id()) {
                return Err(already_exists(record.order.id()));
            }
            let mut tickets = self.tickets.lock().unwrap();
            let hold = TicketCommand::Hold {
                order: record.order.id(),
                hold: record.hold,
                expires_at: record.order.expires_at(),
            };
            let mut next = Vec::new();
            let mut taken = Vec::new();
            for id in tickets_of(record) {
                let (event, t) = tickets.get(&id).copied().unwrap();
                assert_eq!(event, record.event);
                match t.apply(hold, now) {
                    Ok(step) => next.push((id, step.next)),
                    Err(_) => taken.push(id),
                }
            }
            if !taken.is_empty() {
                return Err(StoreError::Unavailable { tickets: taken });
            }
            for (id, t) in next {
                tickets.insert(id, (record.event, t));
            }
            stored.insert(record.order.id());
            Ok(())
        }

        fn read(&self, tickets: &[TicketId], orders: &[OrderId]) -> Seen {
            self.reads.fetch_add(1, Ordering::SeqCst);
            // Locked in `place`'s order, or a read and a write on two threads deadlock; with
            // both held the read sees one instant, as the store's tickets-then-ids read may.
            let stored = self.stored.lock().unwrap();
            let rows = self.tickets.lock().unwrap();
            Seen {
                tickets: tickets
                    .iter()
                    .filter_map(|t| rows.get(t).map(|row| (*t, *row)))
                    .collect(),
                stored: orders
                    .iter()
                    .copied()
                    .filter(|o| stored.contains(o))
                    .collect(),
            }
        }

        fn counts(&self) -> (usize, usize) {
            (
                self.writes.load(Ordering::SeqCst),
                self.reads.load(Ordering::SeqCst),
            )
        }
    }

    /// Places `record` at `now` through `gate` on `db`.
    async fn place(
        gate: &HoldGate,
        db: &Db,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let tickets = tickets_of(record);
        gate.place(
            record,
            &tickets,
            now,
            || async { db.place(record, now) },
            |tickets, orders| async move { Ok(db.read(&tickets, &orders)) },
        )
        .await
    }

    /// A pilot for `record`, run as a task, that writes when the returned sender fires with
    /// `true` (and fails without writing on `false`); returns once it is registered.
    async fn pilot(
        gate: &Arc<HoldGate>,
        db: &Arc<Db>,
        record: &OrderRecord,
    ) -> (
        oneshot::Sender<bool>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (tx, rx) = oneshot::channel::<bool>();
        let (gate2, db2, record2) = (Arc::clone(gate), Arc::clone(db), record.clone());
        let task = tokio::spawn(async move {
            let tickets = tickets_of(&record2);
            let write = || async {
                if rx.await.unwrap() {
                    db2.place(&record2, NOW)
                } else {
                    Err(StoreError::Invalid("the pilot failed".to_owned()))
                }
            };
            let read = |_, _| async { panic!("a pilot never reads") };
            gate2.place(&record2, &tickets, NOW, write, read).await
        });
        while gate.lock().len() < record.lines.len() {
            tokio::task::yield_now().await;
        }
        (tx, task)
    }

    /// Lands a pilot from [`pilot`] (writing if `write`) once the waiters started with it had
    /// their first poll: they register behind the pilot then, so the delay only orders the
    /// two and no answer depends on its length.
    async fn land_soon(tx: oneshot::Sender<bool>, write: bool) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(write).unwrap();
    }

    /// A gate and a store with one event.
    struct Case {
        gate: Arc<HoldGate>,
        db: Arc<Db>,
        event: EventId,
    }

    impl Case {
        fn new() -> Self {
            Case {
                gate: Arc::new(HoldGate::default()),
                db: Arc::new(Db::default()),
                event: EventId::new(),
            }
        }

        /// `waiter` at `now`, behind a pilot for `rival` that lands (writing if `write`) once
        /// the waiter is waiting; the waiter's answer, and the store's (writes, reads) caused
        /// by the waiter.
        async fn behind(
            &self,
            rival: &OrderRecord,
            write: bool,
            waiter: &OrderRecord,
            now: Timestamp,
        ) -> (Result<(), StoreError>, (usize, usize)) {
            let (tx, task) = pilot(&self.gate, &self.db, rival).await;
            let land = land_soon(tx, write);
            let (answer, ()) = tokio::join!(place(&self.gate, &self.db, waiter, now), land);
            let _ = task.await.unwrap();
            assert!(self.gate.lock().is_empty(), "every pilot unregistered");
            assert!(self.gate.lookups.lock().is_none(), "no look-up left open");
            let (writes, reads) = self.db.counts();
            (answer, (writes - usize::from(write), reads))
        }
    }

    fn unavailable(answer: &Result<(), StoreError>) -> Option<&[TicketId]> {
        match answer {
            Err(StoreError::Unavailable { tickets }) => Some(tickets),
            _ => None,
        }
    }

    fn exists(answer: &Result<(), StoreError>) -> bool {
        matches!(answer, Err(StoreError::AlreadyExists { what: "order", .. }))
    }

    #[tokio::test]
    async fn a_lone_order_is_placed_the_usual_way_and_leaves_nothing_registered() {
        let case = Case::new();
        let seats = case.db.list(case.event, 2);
        let answer = place(&case.gate, &case.db, &order(case.event, &seats), NOW).await;
        assert!(answer.is_ok());
        assert_eq!(case.db.counts(), (1, 0));
        assert!(case.gate.lock().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_behind_a_placed_rival_is_refused_from_a_read_without_writing() {
        let case = Case::new();
        let seats = case.db.list(case.event, 2);
        let rival = order(case.event, &seats);
        let waiter = order(case.event, &[seats[1], seats[0]]);
        let (answer, counts) = case.behind(&rival, true, &waiter, NOW).await;
        assert_eq!(
            unavailable(&answer),
            Some(&[seats[1], seats[0]][..]),
            "in line order"
        );
        assert_eq!(counts, (0, 1));
    }

    #[tokio::test]
    async fn a_waiter_is_told_only_the_seats_taken_and_keeps_its_free_ones_free() {
        let case = Case::new();
        let seats = case.db.list(case.event, 2);
        let (hot, own) = (seats[0], seats[1]);
        let (rival, waiter) = (order(case.event, &[hot]), order(case.event, &[own, hot]));
        let (answer, counts) = case.behind(&rival, true, &waiter, NOW).await;
        assert_eq!(unavailable(&answer), Some(&[hot][..]));
        assert_eq!(counts, (0, 1));
        let own_row = case.db.tickets.lock().unwrap()[&own].1;
        assert!(
            own_row.is_available_at(NOW),
            "nothing written for the waiter"
        );
    }

    #[tokio::test]
    async fn a_stored_order_id_is_reported_before_taken_seats() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let waiter = order(case.event, &[seat]);
        case.db.stored.lock().unwrap().insert(waiter.order.id());
        let (answer, counts) = case
            .behind(&order(case.event, &[seat]), true, &waiter, NOW)
            .await;
        assert!(exists(&answer));
        assert_eq!(counts, (0, 1));
    }

    #[tokio::test]
    async fn a_repeat_of_a_placed_order_is_told_it_exists_without_a_read() {
        let case = Case::new();
        let record = order(case.event, &case.db.list(case.event, 1));
        let (answer, counts) = case.behind(&record, true, &record, NOW).await;
        assert!(exists(&answer));
        assert_eq!(counts, (0, 0), "the pilot's landing is the answer");
    }

    #[tokio::test]
    async fn a_waiter_behind_a_failed_rival_takes_the_seat() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let (rival, waiter) = (order(case.event, &[seat]), order(case.event, &[seat]));
        let (answer, counts) = case.behind(&rival, false, &waiter, NOW).await;
        assert!(answer.is_ok(), "got {answer:?}");
        assert_eq!(counts, (1, 1));
    }

    #[tokio::test]
    async fn an_unknown_ticket_is_left_to_the_store_to_report() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let gate = &case.gate;
        // Unknown: the read finds no row, so the usual way runs (and reports it).
        let (tx, task) = pilot(gate, &case.db, &order(case.event, &[seat])).await;
        let unknown = TicketId::new();
        let waiter = order(case.event, &[seat, unknown]);
        let tickets = tickets_of(&waiter);
        let usual = AtomicUsize::new(0);
        let waiting = gate.place(
            &waiter,
            &tickets,
            NOW,
            || async {
                usual.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::not_found("ticket", unknown))
            },
            |t, o| async move { Ok(case.db.read(&t, &o)) },
        );
        let land = land_soon(tx, true);
        let (answer, ()) = tokio::join!(waiting, land);
        task.await.unwrap().unwrap();
        assert!(
            matches!(answer, Err(StoreError::NotFound { .. })),
            "got {answer:?}"
        );
        assert_eq!(usual.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_hold_lapsed_at_the_waiters_now_leaves_it_the_seat() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let late = NOW.checked_add(Duration::from_secs(601)).unwrap();
        let (rival, waiter) = (order(case.event, &[seat]), order(case.event, &[seat]));
        let (answer, counts) = case.behind(&rival, true, &waiter, late).await;
        assert!(answer.is_ok(), "got {answer:?}");
        assert_eq!(counts, (1, 1));
    }

    #[tokio::test]
    async fn waiters_behind_one_pilot_share_one_read() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let (tx, task) = pilot(&case.gate, &case.db, &order(case.event, &[seat])).await;
        let waiters: Vec<OrderRecord> = (0..16).map(|_| order(case.event, &[seat])).collect();
        // Every other waiter repeats an order id that is already stored.
        let stored: HashSet<OrderId> = waiters.iter().step_by(2).map(|w| w.order.id()).collect();
        case.db
            .stored
            .lock()
            .unwrap()
            .extend(stored.iter().copied());
        let answers = join_all(waiters.iter().map(|w| place(&case.gate, &case.db, w, NOW)));
        let land = land_soon(tx, true);
        let (answers, ()) = tokio::join!(answers, land);
        task.await.unwrap().unwrap();
        for (w, answer) in waiters.iter().zip(answers) {
            if stored.contains(&w.order.id()) {
                assert!(exists(&answer), "got {answer:?}");
            } else {
                assert_eq!(unavailable(&answer), Some(&[seat][..]));
            }
        }
        assert_eq!(
            case.db.counts(),
            (1, 1),
            "the pilot's write and one read for sixteen"
        );
        assert!(case.gate.lookups.lock().is_none(), "no look-up left open");
    }

    #[tokio::test]
    async fn a_cancelled_pilot_unregisters_and_its_waiter_takes_the_seat() {
        let case = Case::new();
        let seat = case.db.list(case.event, 1)[0];
        let (tx, task) = pilot(&case.gate, &case.db, &order(case.event, &[seat])).await;
        let waiter = order(case.event, &[seat]);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            drop(tx);
        };
        let (answer, ()) = tokio::join!(place(&case.gate, &case.db, &waiter, NOW), cancel);
        assert!(answer.is_ok(), "got {answer:?}");
        assert_eq!(case.db.counts(), (1, 1));
        assert!(case.gate.lock().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_many_racers_for_one_seat_exactly_one_wins_and_every_loser_is_told() {
        for _ in 0..50 {
            let case = Arc::new(Case::new());
            let seat = case.db.list(case.event, 1)[0];
            let racers: Vec<_> = (0..32)
                .map(|_| {
                    let case = Arc::clone(&case);
                    let record = order(case.event, &[seat]);
                    tokio::spawn(async move { place(&case.gate, &case.db, &record, NOW).await })
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
            assert!(case.gate.lock().is_empty());
            assert!(case.gate.lookups.lock().is_none());
        }
    }
}
