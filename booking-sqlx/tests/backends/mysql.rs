//! The MySQL / MariaDB backend runs booking-core's whole conformance suite: the booking
//! store, coupons, wallet, waiting room, idempotency keys and locks.
//!
//! Each test gets its own database (`booking_test_<unix seconds>_<uuid>`) holding freshly
//! migrated tables, so tests run in parallel without seeing each other. Set
//! `BOOKING_TEST_MYSQL_URL` (for example `mysql://root@127.0.0.1:3306/test`); without it the
//! tests are ignored with that reason, except under CI (`CI` set), where they fail. The user
//! needs the right to create and drop databases.
//!
//! A test's database is dropped when the test ends (a conformance case's when it drops its
//! backend, whose lock port owns the [`Teardown`]); the first test of each run also drops the
//! databases of runs more than an hour old, which an interrupted run leaves behind.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, ManualClock};
use booking_core::policy::ManualSleeper;
use booking_core::testkit::{Backend, BackendFactory, IDEMPOTENCY_RETENTION};
use booking_sqlx::{
    MySqlAdmissionQueue, MySqlCouponStore, MySqlIdempotencyStore, MySqlLockManager, MySqlStore,
    MySqlWalletStore,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

use super::support::{PREFIX, Teardown, dropped_after, fresh_name, is_stale, server_url};

/// Where the test server is.
const URL_VAR: &str = "BOOKING_TEST_MYSQL_URL";
/// Connections per test: enough for the races to contend, few enough for parallel tests.
const POOL_SIZE: u32 = 8;

/// Whether the first backend of this run has cleaned up stale databases.
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Builds a [`Backend`] whose every port is a MySQL one, in a fresh database.
#[derive(Debug, Clone, Copy)]
struct MySql;

/// Drops the test databases of runs older than an hour.
async fn drop_stale_databases(admin: &mut MySqlConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata
         WHERE schema_name LIKE CONCAT(?, '%')",
    )
    .bind(PREFIX)
    .fetch_all(&mut *admin)
    .await
    .expect("list test databases");
    for name in names {
        if is_stale(&name) {
            // The name matched the prefix and a number: it is one of ours, quoted anyway.
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .execute(&mut *admin)
                .await
                .expect("drop a stale test database");
        }
    }
}

/// A fresh database on the test server with every port's tables, a pool of it, and what
/// drops it when dropped.
async fn fresh_database() -> (MySqlPool, Teardown) {
    let url = server_url(URL_VAR);
    let options = MySqlConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("{URL_VAR}={url:?} is not a MySQL URL: {e}"));
    let mut admin = MySqlConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("MySQL at {URL_VAR}={url:?} does not answer: {e}"));
    if !CLEANED.swap(true, Ordering::SeqCst) {
        drop_stale_databases(&mut admin).await;
    }
    let database = fresh_name();
    // The name is built here from digits and hex, never from input.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.expect("close the admin connection");

    let pool = MySqlPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.clone().database(&database))
        .await
        .expect("connect the test pool");
    MySqlStore::new(pool.clone())
        .migrate()
        .await
        .expect("migrate the test database");
    let teardown = Teardown::new(move || async move {
        let mut conn = MySqlConnection::connect_with(&options)
            .await
            .map_err(|e| e.to_string())?;
        // The name was made by `fresh_name`: digits, letters and underscores.
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{database}`"
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        conn.close().await.map_err(|e| e.to_string())
    });
    (pool, teardown)
}

#[async_trait]
impl BackendFactory for MySql {
    async fn backend(&self, clock: ManualClock) -> Backend {
        let (pool, teardown) = fresh_database().await;
        let store = MySqlStore::new(pool.clone());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
        let backend = Backend {
            store: Arc::new(store),
            coupons: Arc::new(MySqlCouponStore::new(pool.clone())),
            wallet: Arc::new(MySqlWalletStore::new(pool.clone())),
            queue: Arc::new(MySqlAdmissionQueue::new(pool.clone())),
            idempotency: Arc::new(MySqlIdempotencyStore::new(
                pool.clone(),
                Arc::clone(&shared),
                IDEMPOTENCY_RETENTION,
            )),
            locks: Arc::new(MySqlLockManager::new(pool, shared, sleeper)),
            clock,
        };
        dropped_after(backend, teardown)
    }
}

booking_core::conformance_tests!(
    #[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is not set")]
    MySql
);

/// Rows written in the previous stored form (before it was versioned, before refunds kept
/// their answers) read as the records they stand for; the next write stores the current form.
#[tokio::test]
#[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is not set")]
async fn mysql_reads_rows_of_the_previous_stored_form() {
    let (pool, _dropped) = fresh_database().await;
    super::legacy_rows::check_legacy_rows!(
        &pool,
        &MySqlStore::new(pool.clone()),
        "INSERT INTO orders (id, event_id, user_id, hold_id, state, version, expires_ns,
                             payment_id, record)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        "INSERT INTO payments (id, order_id, order_ref, state, version, record)
         VALUES (?, ?, ?, ?, 0, ?)",
        "SELECT record FROM orders WHERE id = ?",
    );
}

/// Entries whose transactions commit in the reverse order of their inserts reach a relay
/// that paged between the commits, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is not set")]
async fn mysql_outbox_delivers_entries_committed_out_of_order() {
    let (pool, _dropped) = fresh_database().await;
    super::outbox_relay::check_reverse_commit!(
        &pool,
        &MySqlStore::new(pool.clone()),
        "INSERT INTO outbox (event, recorded_ns) VALUES (?, ?)",
    );
}

/// Two relays paging while many writers commit each receive every entry once, in one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is not set")]
async fn mysql_outbox_relays_race_writers() {
    let (pool, _dropped) = fresh_database().await;
    super::outbox_relay::check_relays_race_writers!(
        &pool,
        Arc::new(MySqlStore::new(pool.clone())),
        "INSERT INTO outbox (event, recorded_ns) VALUES (?, ?)",
    );
}

/// Listing 100,000 seats in one call (800,000 values, past the server's 65,535 placeholders
/// in one statement) stores every one; a later call whose last seat is already listed is
/// refused whole, naming that seat.
#[tokio::test]
#[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is not set")]
async fn mysql_lists_a_hundred_thousand_seats_at_once() {
    use booking_core::ids::{EventId, TicketId};
    use booking_core::machine::Ticket;
    use booking_core::ports::store::{BookingStore, StoreError, TicketListing};
    use booking_core::testkit::fixtures::krw;
    use booking_core::testkit::start_time;

    const SEATS: usize = 100_000;
    let (pool, _dropped) = fresh_database().await;
    let store = MySqlStore::new(pool.clone());
    let event = EventId::new();
    let listing = || TicketListing::new(Ticket::new(TicketId::new()), event, "seat", krw(10_000));
    let listings: Vec<TicketListing> = (0..SEATS).map(|_| listing()).collect();
    store
        .add_tickets(&listings)
        .await
        .expect("list 100,000 seats");
    let total = store
        .availability(event, start_time())
        .await
        .expect("count");
    assert_eq!(total.tickets_total, SEATS as u64);
    assert_eq!(total.tickets_available, SEATS as u64);
    let last = listings[SEATS - 1].ticket.id();
    assert_eq!(
        store.ticket(last).await.expect("the last seat").ticket.id(),
        last
    );

    let mut again: Vec<TicketListing> = (0..70_000).map(|_| listing()).collect();
    again.push(listings[SEATS - 1].clone());
    let refused = store.add_tickets(&again).await;
    assert!(
        matches!(&refused, Err(StoreError::AlreadyExists { what: "ticket", id }) if *id == last.to_string()),
        "{refused:?}"
    );
    let after = store
        .availability(event, start_time())
        .await
        .expect("count");
    assert_eq!(
        after.tickets_total, SEATS as u64,
        "nothing of the refused call stays"
    );
}

/// `MySqlStore::connect` to a server that is not there fails at once, naming the backend and
/// where it was connecting, never the password. No server needed.
#[tokio::test]
async fn mysql_connect_names_where_it_failed_and_not_the_password() {
    let err = MySqlStore::connect("mysql://booker:s3cret@127.0.0.1:1/shop")
        .await
        .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(
        message.starts_with("mysql store failed: cannot reach 127.0.0.1:1/shop: "),
        "{message}"
    );
    assert!(!format!("{message} {err:?}").contains("s3cret"), "{err:?}");
}
