//! In-memory implementations of every port, correct under real parallelism.
//!
//! They are the reference the conformance suite is written against, and a sound choice for
//! tests and single-process deployments.

mod coupon;
mod gateway;
mod queue;
mod wallet;

pub use coupon::MemoryCouponStore;
pub use gateway::{FakeGateway, FakeGatewayStats, Fault, GatewayOp};
pub use queue::MemoryAdmissionQueue;
pub use wallet::MemoryWalletStore;
