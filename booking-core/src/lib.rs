//! # booking-core
//!
//! The hard core of services that sell scarce things — concert and flight seats,
//! general-admission tickets, flash-sale stock, first-come coupons.
//!
//! This crate is pure: it depends on no database, HTTP or Redis crate.
//!
//! | module | what it holds |
//! |---|---|
//! | [`money`] | integer minor units, checked arithmetic, basis points, exact allocation |
//! | [`ids`] | UUID v7 newtypes, one per kind of thing |
//! | [`clock`] | the `Clock` port, `SystemClock`, `ManualClock` |
//! | [`discount`] | discount rules as data, a deterministic quote that explains itself, exact refunds |
//! | [`machine`] | ticket, stock, order and payment state machines; domain events |
//! | [`policy`] | retry, expiry, time-slot admission; sleepers |
//! | [`ports`] | object-safe traits: locks with fencing, idempotency, payment gateway, coupons, waiting room, wallet |
//! | [`memory`] | in-memory implementations of every port; a scriptable fake gateway |
//! | [`gateways`] | payment gateways built from ports: points over a wallet |
//!
//! | feature | what it enables |
//! |---|---|
//! | `tokio` | `TokioSleeper`, `MemoryLockManager::with_tokio`, the lock lease watchdog |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod discount;
pub mod gateways;
pub mod ids;
pub mod machine;
pub mod memory;
pub mod money;
pub mod policy;
pub mod ports;
