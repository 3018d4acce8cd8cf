//! Every flow over real HTTP: the app from `example_server::app` on an ephemeral port, each
//! test on its own temporary data directory (a fresh SQLite database and catalog).

// Helpers of the tests (setup, reading answers) fail the test by panicking, as tests do.
#![allow(clippy::expect_used, clippy::panic)]

#[path = "http/support.rs"]
mod support;

#[path = "http/bad_input.rs"]
mod bad_input;
#[path = "http/browser.rs"]
mod browser;
#[path = "http/concert.rs"]
mod concert;
#[path = "http/crash_checks.rs"]
mod crash_checks;
#[path = "http/crash_restart.rs"]
mod crash_restart;
#[path = "http/databases.rs"]
mod databases;
#[path = "http/flash_sale.rs"]
mod flash_sale;
#[path = "http/flight.rs"]
mod flight;
#[path = "http/live.rs"]
mod live;
#[path = "http/openapi.rs"]
mod openapi;
#[path = "http/orders.rs"]
mod orders;
#[path = "http/redis.rs"]
mod redis;
#[path = "http/upkeep.rs"]
mod upkeep;
