//! Every backend of booking-sqlx runs booking-core's conformance suite, plus its own fault
//! tests, in this one test binary. Each backend's module compiles with its feature
//! (`cargo test -p booking-sqlx --all-features` runs them all).
//!
//! - SQLite always runs: each test gets a fresh database file in the system's temp dir.
//! - PostgreSQL reads `BOOKING_TEST_POSTGRES_URL` and gives each test its own schema.
//! - MySQL / MariaDB reads `BOOKING_TEST_MYSQL_URL` and gives each test its own database.
//!
//! A server backend whose variable is unset prints `skipped: …` and passes, except under CI
//! (`CI` set), where that and an unreachable server are failures.
#![allow(clippy::expect_used, clippy::panic, clippy::print_stdout)] // a test reports by panicking

mod support;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_faults;

#[cfg(feature = "mysql")]
mod mysql;

#[cfg(feature = "sqlite")]
mod sqlite;
