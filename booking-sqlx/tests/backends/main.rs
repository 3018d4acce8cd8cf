//! Every backend of booking-sqlx runs booking-core's conformance suite, plus its own fault
//! tests, in this one test binary. Each backend's module compiles with its feature
//! (`cargo test -p booking-sqlx --all-features` runs them all).
//!
//! - SQLite always runs: each test gets a fresh database file in the system's temp dir.
//! - PostgreSQL reads `BOOKING_TEST_POSTGRES_URL` and gives each test its own schema.
//! - MySQL / MariaDB reads `BOOKING_TEST_MYSQL_URL` and gives each test its own database.
//!
//! A server backend whose variable is unset has its tests ignored, with the variable named as
//! the reason (`build.rs` sets `no_postgres_url` / `no_mysql_url`), except under CI (`CI`
//! set), where an unset variable or an unreachable server fails them.
#![allow(clippy::expect_used, clippy::panic)] // a test reports by panicking

mod legacy_rows;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod outbox_relay;
mod support;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_faults;

#[cfg(feature = "mysql")]
mod mysql;

#[cfg(feature = "sqlite")]
mod sqlite;
