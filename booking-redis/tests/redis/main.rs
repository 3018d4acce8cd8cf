//! booking-redis against real Redis, in one test binary:
//!
//! - `sections`: booking-core's conformance sections for every Redis port, on the standalone
//!   server at `BOOKING_TEST_REDIS_URL` and on the Redis Cluster at
//!   `BOOKING_TEST_REDIS_CLUSTER_URLS` (comma-separated node URLs; `.ci/redis-cluster start`
//!   starts six local nodes);
//! - `locks`: what Redis Cluster asks of lock keys, and the watchdog in real time;
//!   `time_slots`: time-slot admission;
//! - `gate`: the hot-stock gate's races, refusals, expiry, crashes and rebuilds;
//! - `restart`: fencing across a Redis restarted without its data, writing to PostgreSQL
//!   (`BOOKING_TEST_POSTGRES_URL`);
//! - `faults`: a connection dropped mid-script, and Redis down in front of PostgreSQL.
//!
//! Every test uses a key prefix of its own; the first test of a run deletes the keys of runs
//! more than an hour old. Restart and fault tests start a `redis-server` of their own on a
//! free port. A test whose server is not configured is ignored with the reason
//! (`build.rs` sets `no_redis_url`, `no_redis_cluster_url`, `no_postgres_url`,
//! `no_redis_server`), except under CI (`CI` set), where it runs and an unset or unreachable
//! server fails it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)] // a test reports by panicking

mod faults;
mod gate;
mod locks;
mod restart;
mod sections;
mod support;
mod time_slots;
