#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod connection;
pub mod coupon;
mod error;
pub mod gate;
pub mod idempotency;
pub mod keys;
pub mod lock;
mod maintenance;
mod port_rules;
pub mod queue;
mod scripts;
mod time;

pub use connection::{ConnectError, RedisConnection, Timeouts};
pub use coupon::RedisCouponStore;
pub use error::RedisFailure;
pub use gate::RedisStockGate;
pub use idempotency::RedisIdempotencyStore;
pub use keys::{InvalidNamespace, Namespace};
pub use lock::RedisLockManager;
pub use maintenance::delete_namespace;
pub use queue::RedisAdmissionQueue;
