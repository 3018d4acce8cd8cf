//! One gate counter in Redis: take, settle and set it from the store.

use std::time::Duration;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, OrderId, StockId};

use crate::connection::RedisConnection;
use crate::error::RedisFailure;
use crate::keys::{GateKeys, Namespace, gate_keys};
use crate::scripts::{GATE_SETTLE, GATE_SYNC, GATE_TAKE, at, int, items, run, text};
use crate::time::{nanos, score_down, score_up};

/// How long (on the caller's clock) a counter remembers that it gave back the units of a hold
/// that lapsed, so that a payment landing after the hold lapsed takes them again.
const REMEMBER_GIVEN_BACK: Duration = Duration::from_secs(24 * 3600);

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// The units were taken.
    Taken,
    /// The order had taken its units here already; nothing changed.
    Repeat,
    /// The stock is not of the order's event: the store refuses the order.
    Foreign,
    /// Not enough units left.
    Short {
        /// Units left.
        left: u64,
    },
    /// Not enough units left, and the counter was set from the store long enough ago that
    /// this caller should set it again (concurrent takes are told `Short` meanwhile).
    Rebuild {
        /// Units left.
        left: u64,
    },
    /// The counter is not set: set it from the store, then take again.
    Unknown,
}

/// A change of one order's units after the store changed them (see `gate_settle.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The hold ended early: up to this many of its units come back (fewer when the store
    /// said it had fewer than the counter let through).
    Release(u64),
    /// The units are sold.
    Sold,
    /// The hold ends later.
    Extend(Timestamp),
    /// Units are on sale again.
    Restock(u64),
}

/// Whether a counter is set only if missing, or set over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    /// Only if not set (the first use, or after Redis lost it).
    Init,
    /// Over what it says (a resync).
    Reset,
}

/// `at` as the scripts take it.
fn arg(at: Timestamp) -> Result<String, RedisFailure> {
    nanos(at).map_err(|_| RedisFailure::corrupt("a gate instant before 1970"))
}

/// A count the scripts answered with.
fn count(value: &redis::Value) -> Result<u64, RedisFailure> {
    let n = text(value)?;
    n.parse()
        .map_err(|_| RedisFailure::corrupt(format!("gate count {n:?}")))
}

/// The counters of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub(crate) conn: RedisConnection,
    pub(crate) ns: Namespace,
}

impl Counters {
    fn keys(&self, stock: StockId) -> GateKeys {
        gate_keys(&self.ns, stock)
    }

    /// Takes `n` units of `stock` for `order` (of `event`), whose hold ends at `until`; a
    /// counter short of units and set at or before `stale` is due for a rebuild.
    #[allow(clippy::too_many_arguments)] // one call site, each argument a script argument
    pub(crate) async fn take(
        &self,
        stock: StockId,
        event: EventId,
        order: OrderId,
        n: u64,
        now: Timestamp,
        until: Timestamp,
        stale: Timestamp,
    ) -> Result<Take, RedisFailure> {
        let keys = self.keys(stock);
        let mut invocation = GATE_TAKE.key(&keys.left);
        invocation
            .key(&keys.holds)
            .key(&keys.units)
            .key(&keys.synced)
            .arg(order.to_string())
            .arg(n)
            .arg(arg(now)?)
            .arg(score_down(now))
            .arg(arg(until)?)
            .arg(score_up(until))
            .arg(REMEMBER_GIVEN_BACK.as_micros().to_string())
            .arg(event.to_string())
            .arg(arg(stale)?);
        let answer = items(run(&invocation, &self.conn).await?)?;
        match text(at(&answer, 0)?)?.as_str() {
            "taken" => Ok(Take::Taken),
            "repeat" => Ok(Take::Repeat),
            "unknown" => Ok(Take::Unknown),
            "foreign" => Ok(Take::Foreign),
            "short" => Ok(Take::Short {
                left: count(at(&answer, 1)?)?,
            }),
            "rebuild" => Ok(Take::Rebuild {
                left: count(at(&answer, 1)?)?,
            }),
            other => Err(RedisFailure::corrupt(format!("gate answer {other:?}"))),
        }
    }

    /// Sets `stock`'s counter (a stock of `event`) to `available`, the store's figure at
    /// `now`; `false` when `Init` found it set.
    pub(crate) async fn sync(
        &self,
        stock: StockId,
        event: EventId,
        available: u64,
        now: Timestamp,
        how: Sync,
    ) -> Result<bool, RedisFailure> {
        let keys = self.keys(stock);
        let mut invocation = GATE_SYNC.key(&keys.left);
        invocation
            .key(&keys.holds)
            .key(&keys.units)
            .key(&keys.synced)
            .arg(available)
            .arg(arg(now)?)
            .arg(score_down(now))
            .arg(match how {
                Sync::Init => "init",
                Sync::Reset => "reset",
            })
            .arg(REMEMBER_GIVEN_BACK.as_micros().to_string())
            .arg(event.to_string());
        Ok(int(&run(&invocation, &self.conn).await?)? == 1)
    }

    /// Applies `step` to `order`'s units of `stock` (no order for a restock).
    pub(crate) async fn settle(
        &self,
        stock: StockId,
        order: Option<OrderId>,
        step: Settle,
    ) -> Result<(), RedisFailure> {
        let keys = self.keys(stock);
        let mut invocation = GATE_SETTLE.key(&keys.left);
        invocation.key(&keys.holds).key(&keys.units);
        let order = order.map(|o| o.to_string()).unwrap_or_default();
        match step {
            Settle::Release(back) => invocation.arg("release").arg(order).arg(back),
            Settle::Sold => invocation.arg("sold").arg(order),
            Settle::Restock(n) => invocation.arg("restock").arg(order).arg(n),
            Settle::Extend(until) => invocation
                .arg("extend")
                .arg(order)
                .arg(0)
                .arg(arg(until)?)
                .arg(score_up(until)),
        };
        run(&invocation, &self.conn).await?;
        Ok(())
    }

    /// What `stock`'s counter says is left, if it is set.
    pub(crate) async fn left(&self, stock: StockId) -> Result<Option<u64>, RedisFailure> {
        use redis::AsyncCommands as _;
        let mut conn = self.conn.clone();
        let left: Option<u64> = conn.get(self.keys(stock).left).await?;
        Ok(left)
    }
}
