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
//! | [`machine`] | ticket, stock, order and payment state machines; domain events |
//! | [`ports`] | async traits: payment gateway, coupons, waiting room, wallet |
//! | [`memory`] | in-memory implementations of every port |
//! | [`policy`] | time-slot admission |
//! | [`gateways`] | payment gateways built from ports: points over a wallet |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod gateways;
pub mod ids;
pub mod machine;
pub mod memory;
pub mod money;
pub mod policy;
pub mod ports;
