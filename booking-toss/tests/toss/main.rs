//! booking-toss against its fake Toss server, in process: the client's contract for every
//! endpoint, the documented samples, the gateway conformance suite, faults, webhooks, and the
//! flight-seat flow through `BookingService`. Nothing here reaches the real Toss API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod conformance;
mod contract;
mod faults;
mod flight;
mod props;
mod samples;
mod support;
mod webhooks;
