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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod discount;
pub mod ids;
pub mod money;
