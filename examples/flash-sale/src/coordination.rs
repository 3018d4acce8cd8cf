//! Where the sale coordinates: `--redis URL[,URL…]` puts the locks, the waiting room, the
//! coupons and a hot-stock gate in front of the store on Redis (one URL: a standalone server;
//! several: the nodes of a Redis Cluster); without it every port lives in the database.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::ids::EventId;
use booking_core::policy::Sleeper;
use booking_core::ports::coupon::CouponStore;
use booking_core::ports::lock::LockManager;
use booking_core::ports::queue::AdmissionQueue;
use booking_core::ports::store::{BookingStore, StoreError};
use booking_redis::gate::GateStats;
use booking_redis::{
    Namespace, RedisAdmissionQueue, RedisConnection, RedisCouponStore, RedisLockManager,
    RedisStockGate, delete_namespace,
};

/// The Redis the sale coordinates on, under a namespace of its own.
#[derive(Debug, Clone)]
pub(crate) struct Redis {
    conn: RedisConnection,
    ns: Namespace,
    nodes: Vec<String>,
}

/// What the report and the sale need of the gate, whatever store it stands in front of.
#[async_trait]
pub(crate) trait Gate: Send + Sync + fmt::Debug {
    /// Holds sent to the store and turned away so far.
    fn stats(&self) -> GateStats;
    /// Sets the counters of `event`'s stocks from the store: the sale opens.
    async fn rebuild(&self, event: EventId, now: Timestamp) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: BookingStore> Gate for RedisStockGate<S> {
    fn stats(&self) -> GateStats {
        RedisStockGate::stats(self)
    }

    async fn rebuild(&self, event: EventId, now: Timestamp) -> Result<(), StoreError> {
        RedisStockGate::rebuild(self, event, now).await
    }
}

impl Redis {
    /// Connects to `nodes` (one: standalone; several: a cluster).
    pub(crate) async fn connect(nodes: &[String]) -> Result<Redis, Box<dyn Error>> {
        let conn = match nodes {
            [one] => RedisConnection::connect(one).await?,
            many => RedisConnection::connect_cluster(many).await?,
        };
        let ns = Namespace::new(format!("flash-sale:{}", uuid::Uuid::now_v7().simple()))?;
        Ok(Redis {
            conn,
            ns,
            nodes: nodes.to_vec(),
        })
    }

    /// Where the sale's keys are, for the report.
    pub(crate) fn label(&self) -> String {
        let kind = if self.conn.is_cluster() {
            "Redis Cluster"
        } else {
            "Redis"
        };
        format!("{kind} (namespace {})", self.ns)
    }

    pub(crate) fn locks(
        &self,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Arc<dyn LockManager> {
        Arc::new(RedisLockManager::new(
            self.conn.clone(),
            self.ns.clone(),
            clock,
            sleeper,
        ))
    }

    pub(crate) fn queue(&self) -> Arc<dyn AdmissionQueue> {
        Arc::new(RedisAdmissionQueue::new(self.conn.clone(), self.ns.clone()))
    }

    pub(crate) fn coupons(&self) -> Arc<dyn CouponStore> {
        Arc::new(RedisCouponStore::new(self.conn.clone(), self.ns.clone()))
    }

    /// `store` behind the hot-stock gate.
    pub(crate) fn gate<S: BookingStore>(&self, store: S) -> Arc<RedisStockGate<S>> {
        Arc::new(RedisStockGate::new(
            store,
            self.conn.clone(),
            self.ns.clone(),
        ))
    }

    /// Deletes every key the sale wrote.
    pub(crate) async fn teardown(&self) -> Result<(), Box<dyn Error>> {
        delete_namespace(&self.nodes, &self.ns).await?;
        Ok(())
    }
}
