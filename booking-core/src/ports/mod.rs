//! The ports: object-safe async traits for what needs storage or the network, with the
//! error enums and contracts their implementations keep.
//!
//! | port | what it is for |
//! |---|---|
//! | [`lock`] | leased locks with fencing tokens, lock-then-transaction helper |
//! | [`fencing`] | the rule a store keeps to refuse writes from an expired lock holder |
//! | [`idempotency`] | at-most-once handling of retried requests, with replay |

pub mod fencing;
pub mod idempotency;
pub mod lock;
