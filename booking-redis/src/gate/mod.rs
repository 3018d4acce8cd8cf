//! [`RedisStockGate`]: a Redis counter in front of a booking store, so that a sale of 100
//! units to 10,000 buyers sends about 100 hold attempts to the database, not 10,000.
//!
//! The gate keeps one counter per stock: the units it will still let through. An order of
//! stock units first takes them from the counters of its stocks (a script that never lets a
//! counter go below zero); only if every counter had enough does the hold reach the store.
//! **The store stays the authority**: its compare-and-set decides every hold, so the gate can
//! only turn buyers away early, never oversell. What the gate must get right is not to turn
//! buyers away while the store still has units, so units come back to it:
//!
//! - at once when a pending order is cancelled, or the store refuses a hold the gate let
//!   through (when the store says it has fewer units than the counter thought, only those
//!   come back: the counter stops letting through units that are not there);
//! - when a hold lapses, without any sweep: each counter keeps the holds it let through with
//!   their end, and every take first gives back the units of those that ended (the store
//!   counts a lapsed hold as free the same way);
//! - when a refund puts units back on sale.
//!
//! A hold whose payment lands after it lapsed is sold by the store if its units are still
//! free; the counter then takes back the units it gave back when the hold lapsed.
//!
//! A counter is **built from the store** ([`BookingStore::availability`]) when first used,
//! when Redis lost it (a restart without persistence), by [`RedisStockGate::rebuild`], and
//! again whenever it says "sold out" and was last built longer ago than the resync interval
//! (1 s by default, on the caller's clock). Those rebuilds bound every drift: a crash between
//! the counter and the store (units taken for a hold that never reached the store) costs at
//! most until that hold's end or the next rebuild, and a counter too high only sends a few more
//! holds to the store, which refuses them.
//!
//! The gate answers only what the store would answer: it passes to the store, untouched, every
//! order it cannot judge alone — orders with ticket lines (a seat is sold by its own
//! compare-and-set, and a seat map already hides taken seats), malformed orders (the store says
//! why), orders naming a stock of another event. A refusal is the store's own
//! [`StoreError::InsufficientStock`], naming the counter's figure as what is available.
//!
//! When Redis cannot be reached, holds fail at once with [`StoreError::Busy`] ("coordination
//! unavailable"), before the store is touched: a database behind a gate that went down is not
//! handed the whole burst. Later steps (sold, cancelled, refunded) always reach the store; a
//! failure to tell the gate is logged and corrected by the next rebuild.

mod counter;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, StockId};
use booking_core::ports::store::{BookingStore, ItemRef, OrderRecord, StoreError};

use self::counter::{Counters, Settle, Sync, Take};
use crate::connection::RedisConnection;
use crate::error::RedisFailure;
use crate::keys::Namespace;
use crate::port_rules::check_lines;

/// The default interval between rebuilds of a counter that says "sold out".
pub const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A [`BookingStore`] with a Redis gate in front of its holds; see the [module docs](self).
pub struct RedisStockGate<S> {
    inner: S,
    counters: Counters,
    resync_every: Duration,
    sent: AtomicU64,
    turned_away: AtomicU64,
}

/// What a gate did since it was built, for metrics (and for seeing it work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateStats {
    /// Holds that reached the store: every hold the gate let through, and every hold it left
    /// to the store to judge (orders with tickets, malformed orders, another event's stock).
    pub sent_to_store: u64,
    /// Holds the gate turned away without asking the store.
    pub turned_away: u64,
}

impl<S: fmt::Debug> fmt::Debug for RedisStockGate<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStockGate")
            .field("inner", &self.inner)
            .field("namespace", &self.counters.ns)
            .field("resync_every", &self.resync_every)
            .finish_non_exhaustive()
    }
}

/// The units of each stock an order holds, if the gate can judge the order alone: only stock
/// lines, well formed (at least one line, no zero quantity, no stock twice). Sorted, so every
/// hold takes counters in one order.
fn demand(record: &OrderRecord) -> Option<BTreeMap<StockId, u64>> {
    check_lines(record, |_| Ok(record.event)).ok()?;
    record
        .lines
        .iter()
        .map(|line| match line.item {
            ItemRef::Stock { stock, quantity } => Some((stock, u64::from(quantity))),
            ItemRef::Ticket { .. } => None,
        })
        .collect()
}

/// The stock lines of `record` (stock, units), whether or not the gate judged it: what the
/// counters hear about once the store changed the order.
fn stock_lines(record: &OrderRecord) -> impl Iterator<Item = (StockId, u64)> + '_ {
    record.lines.iter().filter_map(|line| match line.item {
        ItemRef::Stock { stock, quantity } => Some((stock, u64::from(quantity))),
        ItemRef::Ticket { .. } => None,
    })
}

/// The store's refusal for `wanted` units of `stock` when the counter had `left`.
fn refusal(stock: StockId, wanted: u64, left: u64) -> StoreError {
    StoreError::InsufficientStock {
        stock,
        requested: u32::try_from(wanted).unwrap_or(u32::MAX),
        available: u32::try_from(left).unwrap_or(u32::MAX),
    }
}

/// The answer when the gate cannot be asked.
fn unavailable(failure: &RedisFailure) -> StoreError {
    StoreError::Busy(format!(
        "coordination unavailable: the hot-stock gate could not be asked ({failure}); nothing was held"
    ))
}

impl<S: BookingStore> RedisStockGate<S> {
    /// A gate under `namespace` on `conn` in front of `inner`, rebuilding a sold-out counter
    /// at most every [`DEFAULT_RESYNC_INTERVAL`].
    pub fn new(inner: S, conn: RedisConnection, namespace: Namespace) -> Self {
        RedisStockGate {
            inner,
            counters: Counters {
                conn,
                ns: namespace,
            },
            resync_every: DEFAULT_RESYNC_INTERVAL,
            sent: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
        }
    }

    /// What the gate did since it was built.
    pub fn stats(&self) -> GateStats {
        GateStats {
            sent_to_store: self.sent.load(Ordering::Relaxed),
            turned_away: self.turned_away.load(Ordering::Relaxed),
        }
    }

    /// Rebuilds a counter that says "sold out" at most every `interval` (on the caller's
    /// clock). Shorter finds lost units sooner and reads availability more often.
    #[must_use]
    pub fn with_resync_interval(mut self, interval: Duration) -> Self {
        self.resync_every = interval;
        self
    }

    /// The store behind the gate.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Sets the counters of `event`'s stocks from the store at `now`: call it when a sale
    /// opens (counters are also built on first use, and again after Redis lost them).
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Busy`] when Redis cannot be reached.
    pub async fn rebuild(&self, event: EventId, now: Timestamp) -> Result<(), StoreError> {
        let available = self.inner.availability(event, now).await?;
        for (stock, n) in available.stock_available {
            self.counters
                .sync(stock, event, u64::from(n), now, Sync::Reset)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    /// What the counter of `stock` lets through, if it is set.
    ///
    /// # Errors
    /// A [`RedisFailure`] if Redis cannot be asked.
    pub async fn stock_left(&self, stock: StockId) -> Result<Option<u64>, RedisFailure> {
        self.counters.left(stock).await
    }

    /// Takes `n` units of `stock` for `record`'s hold: `Ok(true)` taken, `Ok(false)` nothing
    /// to give back (a repeat, or a stock the gate leaves to the store), `Err` a refusal.
    async fn take(
        &self,
        stock: StockId,
        n: u64,
        record: &OrderRecord,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (event, order, until) = (record.event, record.order.id(), record.order.expires_at());
        // A counter built at or before this is rebuilt when it says "sold out".
        let stale = now
            .checked_sub(self.resync_every)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let mut rebuilt = false;
        loop {
            let taken = self
                .counters
                .take(stock, event, order, n, now, until, stale)
                .await
                .map_err(|e| unavailable(&e))?;
            let how = match taken {
                Take::Taken => return Ok(true),
                Take::Repeat | Take::Foreign => return Ok(false),
                Take::Short { left } => return Err(refusal(stock, n, left)),
                Take::Rebuild { left } if rebuilt => return Err(refusal(stock, n, left)),
                Take::Unknown if rebuilt => {
                    return Err(unavailable(&RedisFailure::corrupt(
                        "the gate counter vanished while it was being built",
                    )));
                }
                Take::Rebuild { .. } => Sync::Reset,
                Take::Unknown => Sync::Init,
            };
            let available = self.inner.availability(event, now).await?;
            let Some(&(_, left)) = available.stock_available.iter().find(|(s, _)| *s == stock)
            else {
                // Not a stock of this event: the store says what is wrong with the order.
                return Ok(false);
            };
            self.counters
                .sync(stock, event, u64::from(left), now, how)
                .await
                .map_err(|e| unavailable(&e))?;
            rebuilt = true;
        }
    }

    /// Gives back the units `record` took from the counters of `taken`; for the stock the
    /// store said was `short` (with that many available), at most that many.
    async fn give_back(
        &self,
        record: &OrderRecord,
        taken: &[StockId],
        short: Option<(StockId, u64)>,
    ) {
        for (stock, units) in stock_lines(record).filter(|(s, _)| taken.contains(s)) {
            let back = match short {
                Some((s, available)) if s == stock => units.min(available),
                _ => units,
            };
            self.settle(stock, Some(record.order.id()), Settle::Release(back))
                .await;
        }
    }

    /// Tells the counter of `stock` that `order`'s units moved by `step`. Best effort: the
    /// store has changed already; a counter that missed it is corrected by its next rebuild.
    async fn settle(&self, stock: StockId, order: Option<OrderId>, step: Settle) {
        if let Err(error) = self.counters.settle(stock, order, step).await {
            tracing::warn!(%error, ?step, "the hot-stock gate missed a change; its next rebuild corrects it");
        }
    }

    /// Tells the counter of every stock of `record` that its units moved by `step` (for
    /// [`Settle::Release`], each gets its own units back).
    async fn settle_order(&self, record: &OrderRecord, step: Settle) {
        for (stock, units) in stock_lines(record) {
            let step = match step {
                Settle::Release(_) => Settle::Release(units),
                other => other,
            };
            self.settle(stock, Some(record.order.id()), step).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::ids::{TicketId, UserId};
    use booking_core::testkit::fixtures::pending_order;

    fn order(event: EventId, items: &[ItemRef]) -> OrderRecord {
        let now = Timestamp::UNIX_EPOCH;
        pending_order(event, UserId::new(), items, 1, now, now)
    }

    #[test]
    fn the_gate_judges_well_formed_stock_orders_only() {
        let (event, a, b) = (EventId::new(), StockId::new(), StockId::new());
        let units = |stock, quantity| ItemRef::Stock { stock, quantity };
        let pools = demand(&order(event, &[units(b, 2), units(a, 3)])).unwrap();
        assert_eq!(pools, BTreeMap::from([(a, 3), (b, 2)]));
        let seat = ItemRef::Ticket {
            ticket: TicketId::new(),
        };
        assert_eq!(demand(&order(event, &[units(a, 1), seat])), None);
        let mut zero = order(event, &[units(a, 1)]);
        zero.lines[0].item = units(a, 0);
        assert_eq!(demand(&zero), None);
        let mut twice = order(event, &[units(a, 1)]);
        twice.lines.push(twice.lines[0].clone());
        assert_eq!(demand(&twice), None);
        assert!(matches!(
            refusal(a, 3, 1),
            StoreError::InsufficientStock {
                requested: 3,
                available: 1,
                ..
            }
        ));
    }
}
