//! The ports: object-safe async traits for what needs storage or the network, with the
//! error enums and contracts their implementations keep. In-memory implementations live in
//! [`crate::memory`].
//!
//! | port | what it is for |
//! |---|---|
//! | [`lock`] | leased locks with fencing tokens, lock-then-transaction helper |
//! | [`fencing`] | the rule a store keeps to refuse writes from an expired lock holder |
//! | [`idempotency`] | at-most-once handling of retried requests, with replay |
//! | [`gateway`] | payment gateways: confirm, cancel (full or partial), look up |
//! | [`coupon`] | first-come coupon issuance and single use |
//! | [`queue`] | the waiting room in front of a sale |
//! | [`wallet`] | points and stored balance with an idempotent ledger |
//! | [`store`] | inventory, orders, payments and the outbox, changed atomically |
//!
//! [`backend`] holds what only an implementation of a port needs: the rules every
//! implementation applies, and the stored form of records.

pub mod backend;
pub mod coupon;
pub mod fencing;
pub mod gateway;
pub mod idempotency;
pub mod lock;
pub mod queue;
pub mod store;
pub mod wallet;
