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
//! | [`policy`] | retry schedules, classifier, budget and executor; expiry deadlines; sleepers |
//! | [`ports`] | object-safe traits: lock manager with fencing, idempotency store |
//! | [`memory`] | in-memory implementations of the ports |
//!
//! | feature | what it enables |
//! |---|---|
//! | `tokio` | `TokioSleeper`, `MemoryLockManager::with_tokio`, the lock lease watchdog |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod ids;
pub mod memory;
pub mod money;
pub mod policy;
pub mod ports;
