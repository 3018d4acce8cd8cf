//! Group commit of holds: concurrent `place_order` calls on the hot path (a pending order of
//! distinct tickets) placed together by one statement, when the store is built with
//! [`PostgresStore::group_commit`](crate::PostgresStore::group_commit).
//!
//! A caller queues its order and, if fewer than [`GroupCommit::batches_in_flight`] batches
//! are running, starts one with everything queued (up to [`GroupCommit::max_batch`]
//! orders) as a task of its own, so no caller's cancellation cuts another's batch short.
//! While every slot is busy, orders gather in the queue: the busier the store, the larger the
//! batches, and one statement, one round trip and one commit serve all of them.
//!
//! The batch statement decides each order on its own, all or nothing, like the single hold
//! statement (`hold.rs`):
//!
//! - `free` locks, `SKIP LOCKED`, every requested ticket that is free for its order (listed
//!   for the order's event; available, or held by a hold lapsed at the order's `now`), in id
//!   order;
//! - `complete` is the orders all of whose tickets are in `free`; `win` keeps those that
//!   share no ticket with an earlier complete order of the batch and repeat no earlier order
//!   id of it, so no two winners ever share a ticket;
//! - `placed` inserts the winners' order rows, passing over an id that is already stored;
//!   `held` writes the holds of the orders placed, and `logged` their outbox events, in batch
//!   and line order.
//!
//! Every order placed is checked against the machine, ticket by ticket, as the single path
//! checks it. An order the batch did not place — a ticket taken, passed over while locked,
//! wanted by an earlier order of the batch, a repeated or stored order id — is placed by its
//! caller on the single path, which answers exactly (`Unavailable` with the taken tickets,
//! `AlreadyExists`, …) or takes the seats if they are free after all. If the batch statement
//! fails, every caller in it does the same. A batch of one order is the single path.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use booking_core::clock::Timestamp;
use booking_core::ids::TicketId;
use booking_core::machine::Kind;
use booking_core::ports::store::{OrderRecord, StoreError};
use sqlx::{PgPool, Postgres, Row};
use tokio::sync::{Semaphore, oneshot};

use super::PG;
use super::hold::{check_taken, event_templates, hold_command, place};
use crate::codec::{events_json, nanos, order_json, to_db};
use crate::error::{Db, DbError};
use crate::store::rules::distinct_tickets_only;
use crate::store::{Placer, PlacerFuture, SqlStore};

/// The batch statement (see the module docs). Per order, in batch order: `$1` id, `$2`
/// event, `$3` user, `$4` hold, `$5` state, `$6` version, `$7` deadline, `$8` payment, `$9`
/// record, `$10` now. Per line: `$11` its order's place in the batch (from 1), `$12` the
/// ticket, `$13` the machine's event. Both lists are limited to their own length, as in the
/// single statement, so PostgreSQL keeps one generic plan for the statement.
const HOLD_BATCH: &str = "WITH req AS (
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                              $6::bigint[], $7::bigint[], $8::uuid[], $9::text[], $10::bigint[])
             WITH ORDINALITY AS r(id, event_id, user_id, hold_id, state, version, expires_ns,
                                  payment_id, record, now_ns, k)
         LIMIT cardinality($1::uuid[])),
     lines AS (
         SELECT * FROM unnest($11::bigint[], $12::uuid[], $13::text[])
             WITH ORDINALITY AS l(k, id, event, n)
         LIMIT cardinality($12::uuid[])),
     free AS (
         SELECT l.k, t.id, t.state, t.order_id, t.hold_id, t.expires_ns, t.version
         FROM lines l JOIN req r ON r.k = l.k JOIN tickets t ON t.id = l.id
         WHERE t.event_id = r.event_id
           AND (t.state = 'Available' OR (t.state = 'Held' AND t.expires_ns <= r.now_ns))
         ORDER BY t.id FOR UPDATE OF t SKIP LOCKED),
     complete AS (
         SELECT l.k FROM lines l LEFT JOIN free f ON f.k = l.k AND f.id = l.id
         GROUP BY l.k HAVING count(f.id) = count(*)),
     win AS (
         SELECT r.k FROM req r JOIN complete c ON c.k = r.k
         WHERE NOT EXISTS (SELECT FROM req e WHERE e.id = r.id AND e.k < r.k)
           AND NOT EXISTS (SELECT FROM lines a JOIN lines b ON b.id = a.id AND b.k < a.k
                           JOIN complete cb ON cb.k = b.k
                           WHERE a.k = r.k)),
     placed AS (
         INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         SELECT r.id, r.event_id, r.user_id, r.hold_id, r.state, r.version, r.expires_ns,
                r.payment_id, r.record::json
         FROM req r JOIN win w ON w.k = r.k ORDER BY r.id
         ON CONFLICT (id) DO NOTHING
         RETURNING id),
     held AS (
         UPDATE tickets t
         SET state = 'Held', order_id = r.id, hold_id = r.hold_id, expires_ns = r.expires_ns,
             version = t.version + 1
         FROM free f JOIN win w ON w.k = f.k JOIN req r ON r.k = f.k
              JOIN placed p ON p.id = r.id
         WHERE t.id = f.id
         RETURNING f.k, f.id AS old_id, f.state AS old_state, f.order_id AS old_order,
                   f.hold_id AS old_hold, f.expires_ns AS old_expires,
                   f.version AS old_version, t.id, t.state, t.order_id, t.hold_id,
                   t.expires_ns, t.version),
     logged AS (
         INSERT INTO outbox (event, recorded_ns)
         SELECT CASE WHEN h.old_state = 'Held'
                     THEN (l.event::jsonb || jsonb_build_object('replaced', h.old_hold))::json
                     ELSE l.event::json END, r.now_ns
         FROM lines l JOIN held h ON h.k = l.k AND h.id = l.id JOIN req r ON r.k = l.k
         ORDER BY l.k, l.n
         RETURNING event)
     SELECT h.*, g.event
     FROM held h LEFT JOIN logged g ON g.event ->> 'ticket' = h.id::text
     ORDER BY h.k";

/// How [`PostgresStore::group_commit`](crate::PostgresStore::group_commit) batches holds.
///
/// Group commit pays off when many holds arrive at once (a sale opening: dozens of
/// connections or more): each batch is one statement, one round trip and one commit. With
/// few concurrent holds the batches are of one order and it costs a hand-off to a task per
/// hold; leave it off for such loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    max_batch: usize,
    batches_in_flight: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit::new()
    }
}

impl GroupCommit {
    /// Batches of at most 128 orders, at most 2 batches running at once.
    #[must_use]
    pub const fn new() -> Self {
        GroupCommit {
            max_batch: 128,
            batches_in_flight: 2,
        }
    }

    /// The most orders one batch places (at least 1).
    #[must_use]
    pub const fn max_batch(mut self, orders: usize) -> Self {
        self.max_batch = if orders == 0 { 1 } else { orders };
        self
    }

    /// The most batches running at once, each on a connection of the pool (at least 1). While
    /// all of them run, holds queue up for the next batch: fewer batches in flight make
    /// larger batches.
    #[must_use]
    pub const fn batches_in_flight(mut self, batches: usize) -> Self {
        self.batches_in_flight = if batches == 0 { 1 } else { batches };
        self
    }
}

/// An order waiting for its batch.
struct Waiting {
    record: OrderRecord,
    tickets: Vec<TicketId>,
    now: Timestamp,
    answer: oneshot::Sender<Verdict>,
}

/// What a batch tells a caller.
enum Verdict {
    /// The order's outcome: placed and checked, or the single path's answer.
    Done(Result<(), StoreError>),
    /// The batch did not place the order: place it on the single path.
    Single,
}

/// The queue of orders and the batches running on the pool.
struct Batcher {
    pool: PgPool,
    queue: Mutex<Vec<Waiting>>,
    slots: Arc<Semaphore>,
    max_batch: usize,
}

impl fmt::Debug for Batcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("max_batch", &self.max_batch)
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Places `record` (of the distinct `tickets`) in a batch, or on the single path if the
    /// batch did not place it.
    async fn place(
        self: &Arc<Self>,
        record: &OrderRecord,
        tickets: Vec<TicketId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (answer, verdict) = oneshot::channel();
        let waiting = Waiting {
            record: record.clone(),
            tickets,
            now,
            answer,
        };
        let tickets = waiting.tickets.clone();
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(waiting);
        self.dispatch();
        match verdict.await {
            Ok(Verdict::Done(result)) => result,
            // A batch that ended without a word (its task was cancelled at shutdown) may or
            // may not have placed the order: the single path finds out.
            Ok(Verdict::Single) | Err(_) => place(&self.pool, record, &tickets, now).await,
        }
    }

    /// Starts batches of the queued orders while slots are free.
    fn dispatch(self: &Arc<Self>) {
        loop {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.is_empty() {
                return;
            }
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                // A running batch dispatches again when it ends.
                return;
            };
            let n = queue.len().min(self.max_batch);
            let batch: Vec<Waiting> = queue.drain(..n).collect();
            drop(queue);
            let this = Arc::clone(self);
            tokio::spawn(async move {
                run(&this.pool, batch).await;
                drop(slot);
                this.dispatch();
            });
        }
    }
}

/// Runs one batch and answers each of its callers.
async fn run(pool: &PgPool, mut batch: Vec<Waiting>) {
    if batch.len() == 1 {
        if let Some(w) = batch.pop() {
            let result = place(pool, &w.record, &w.tickets, w.now).await;
            // A caller that gave up no longer listens.
            let _ = w.answer.send(Verdict::Done(result));
        }
        return;
    }
    match place_batch(pool, &batch).await {
        Ok(outcomes) => {
            for (w, outcome) in batch.into_iter().zip(outcomes) {
                let _ = w.answer.send(match outcome {
                    Some(checked) => Verdict::Done(checked),
                    None => Verdict::Single,
                });
            }
        }
        Err(_) => {
            for w in batch {
                let _ = w.answer.send(Verdict::Single);
            }
        }
    }
}

/// The batch statement over `batch`: for each order, `Some` with the machine's check if it
/// was placed, `None` if not.
async fn place_batch(
    pool: &PgPool,
    batch: &[Waiting],
) -> Result<Vec<Option<Result<(), StoreError>>>, StoreError> {
    let n = batch.len();
    let (mut ids, mut events, mut users, mut holds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut states, mut versions, mut expires, mut payments, mut records, mut nows) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut line_orders, mut line_tickets, mut line_events) = (Vec::new(), Vec::new(), Vec::new());
    for (k, w) in (1_i64..).zip(batch) {
        let (record, order) = (&w.record, &w.record.order);
        ids.push(*order.id().as_uuid());
        events.push(*record.event.as_uuid());
        users.push(*record.user.as_uuid());
        holds.push(*record.hold.as_uuid());
        states.push(order.state().kind().name());
        versions.push(to_db(order.version())?);
        expires.push(nanos(order.expires_at())?);
        payments.push(record.payment.map(|p| *p.as_uuid()));
        records.push(order_json(record)?);
        nows.push(nanos(w.now)?);
        let templates = event_templates(&w.tickets, hold_command(record), w.now)?;
        line_events.extend(events_json(&templates)?);
        line_tickets.extend(w.tickets.iter().map(|t| *t.as_uuid()));
        line_orders.extend(std::iter::repeat_n(k, w.tickets.len()));
    }
    let rows = sqlx::query(HOLD_BATCH)
        .bind(ids)
        .bind(events)
        .bind(users)
        .bind(holds)
        .bind(states)
        .bind(versions)
        .bind(expires)
        .bind(payments)
        .bind(records)
        .bind(nows)
        .bind(line_orders)
        .bind(line_tickets)
        .bind(line_events)
        .fetch_all(pool)
        .await
        .db(PG)?;
    let mut outcomes: Vec<Option<Result<(), StoreError>>> = (0..n).map(|_| None).collect();
    let mut taken = vec![0_usize; n];
    for row in &rows {
        let k: i64 = row.try_get("k").db(PG)?;
        let i = usize::try_from(k - 1)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| DbError::corrupt("order", "the batch named no order of it"))
            .db(PG)?;
        let w = &batch[i];
        taken[i] += 1;
        let checked = check_taken(row, hold_command(&w.record), w.now);
        let outcome = outcomes[i].get_or_insert(Ok(()));
        if outcome.is_ok() {
            *outcome = checked;
        }
    }
    for (i, w) in batch.iter().enumerate() {
        if taken[i] != 0 && taken[i] != w.tickets.len() {
            outcomes[i] = Some(
                Err(DbError::corrupt(
                    "order",
                    "the batch statement wrote only part of an order",
                ))
                .db(PG),
            );
        }
    }
    Ok(outcomes)
}

/// The store's hot path through a [`Batcher`].
#[derive(Debug)]
struct Grouped(Arc<Batcher>);

impl Placer for Grouped {
    fn place<'a>(&'a self, record: &'a OrderRecord, now: Timestamp) -> PlacerFuture<'a> {
        Box::pin(async move {
            let tickets = distinct_tickets_only(record)?;
            Some(self.0.place(record, tickets, now).await)
        })
    }
}

impl SqlStore<Postgres> {
    /// The store, placing concurrent holds together in batches (group commit): see
    /// [`GroupCommit`]. Only the hot path is batched — a pending order of distinct tickets —
    /// and every order is still placed all or nothing and answered exactly as without
    /// batching. Clones share the batches.
    ///
    /// Batches run as tasks on the tokio runtime the store is used on.
    #[must_use]
    pub fn group_commit(self, options: GroupCommit) -> Self {
        let batcher = Batcher {
            pool: self.pool().clone(),
            queue: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(options.batches_in_flight)),
            max_batch: options.max_batch,
        };
        self.with_placer(Arc::new(Grouped(Arc::new(batcher))))
    }
}
