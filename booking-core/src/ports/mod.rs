//! Ports: the async traits booking-core needs from the outside world.
//!
//! Every port is object-safe (`Arc<dyn Port>` in an application's state) and says in its docs
//! the contract an implementation keeps. In-memory implementations live in [`crate::memory`].

pub mod coupon;
pub mod gateway;
pub mod queue;
pub mod wallet;
