//! What you need only to implement a port.
//!
//! An application that *uses* booking-core never needs this module: it calls the ports
//! ([`BookingStore`](super::store::BookingStore), [`LockManager`](super::lock::LockManager), …)
//! and reads what they return. A crate that *implements* a port — a database backend, a Redis
//! crate, a payment gateway client — finds here the rules every implementation applies, so
//! that all of them refuse, answer and store alike:
//!
//! | module | for implementors of | what it holds |
//! |---|---|---|
//! | [`store`] | [`BookingStore`](super::store::BookingStore) | the check of an order's lines, the sweep's step per payment, the refusals every store reports |
//! | [`stored`] | stores that keep records as text | the versioned stored form of orders and payments |
//! | [`coupon`] | [`CouponStore`](super::coupon::CouponStore) | the moves of a coupon, the issuance check, a state from its stored parts |
//! | [`wallet`] | [`WalletStore`](super::wallet::WalletStore) | one movement checked, answered and written alike |
//! | [`queue`] | [`AdmissionQueue`](super::queue::AdmissionQueue) | when admissions lapse, and where an admitted token stands |
//! | [`idempotency`] | [`IdempotencyStore`](super::idempotency::IdempotencyStore) | the lease and retention rules, the answer of `begin`, claims |
//! | [`lock`] | [`LockManager`](super::lock::LockManager) | key order, lease ends, the bounded wait, guards and their handle |
//! | [`gateway`] | [`PaymentGateway`](super::gateway::PaymentGateway) | the check of a cancel reason |
//!
//! Each rule is the one the in-memory ports of [`crate::memory`] apply; the conformance suite
//! (feature `testkit`) checks that a backend's answers match theirs.

pub mod coupon;
pub mod gateway;
pub mod idempotency;
pub mod lock;
pub mod queue;
pub mod store;
pub mod stored;
pub mod wallet;
