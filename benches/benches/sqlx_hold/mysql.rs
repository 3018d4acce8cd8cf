//! The MySQL table of `sqlx_hold`: `MySqlStore` holds against the hand-written conditional
//! `UPDATE`, on the same server and pool sizes, in the same run.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use booking_benches::{Summary, format_ns};
use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, OrderId, TicketId};
use booking_sqlx::MySqlStore;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions};

use super::{Plan, Side, latency_row, list_seats, nanos, rate_row, speed, throughput_row};

/// The hand-written MySQL hold: one autocommitted conditional `UPDATE` of the seat rows of
/// booking-sqlx's `tickets` table, taking seats that are free or whose hold lapsed by `now`.
/// Returns how many rows it took.
pub(super) async fn raw_hold(
    pool: &MySqlPool,
    seats: &[TicketId],
    now: Timestamp,
    until: Timestamp,
) -> u64 {
    let marks = vec!["?"; seats.len()].join(", ");
    let sql = format!(
        "UPDATE tickets SET state = 'Held', order_id = ?, hold_id = ?, expires_ns = ?,
                            version = version + 1
         WHERE id IN ({marks}) AND (state = 'Available' OR (state = 'Held' AND expires_ns <= ?))"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(*OrderId::new().as_uuid())
        .bind(*HoldId::new().as_uuid())
        .bind(nanos(until));
    for seat in seats {
        query = query.bind(*seat.as_uuid());
    }
    query
        .bind(nanos(now))
        .execute(pool)
        .await
        .unwrap()
        .rows_affected()
}

/// A migrated store of `size` connections in database `name`.
async fn store_in(options: &MySqlConnectOptions, name: &str, size: u32) -> MySqlStore {
    let pool = MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.clone().database(name))
        .await
        .unwrap();
    let store = MySqlStore::new(pool);
    store.migrate().await.unwrap();
    store
}

/// The MySQL table: hold throughput at 1, 8, 32 and 64 connections and the 4-seat hold
/// latency, each against the raw `UPDATE`, in a database of its own dropped at the end.
pub(super) async fn table(plan: &Plan, url: &str, tag: &str) -> Summary {
    let options = MySqlConnectOptions::from_str(url).unwrap();
    let name = format!("booking_bench_{tag}");
    let mut admin = options.connect().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut s = Summary::new("sqlx_hold: MySqlStore vs hand-written sqlx, same server, same run");
    let store = store_in(&options, &name, 8).await;
    let ours = list_seats(&store, plan.seats).await;
    let raw = list_seats(&store, plan.seats).await;
    store.pool().close().await;
    for size in [1_u32, 8, 32, 64] {
        let store = store_in(&options, &name, size).await;
        let pool = store.pool().clone();
        let sides = [&Side::Store(Arc::new(store)), &Side::RawMy(pool.clone())];
        let tasks = usize::try_from(size).unwrap();
        let rates = throughput_row(plan, &sides, &[&ours, &raw], tasks).await;
        let [a, b] = rates[..] else { unreachable!() };
        rate_row(
            &mut s,
            &format!("hold 1 seat, {size} connection(s)"),
            a,
            b,
            "holds/s: place_order (order row, hold, outbox) vs autocommitted conditional UPDATE",
        );
        if size == 8 {
            let [a, b] = latency_row(plan, sides, [&ours, &raw], 4).await;
            s.row(
                "hold 4 seats, latency",
                format_ns(a),
                format_ns(b),
                speed(a, b),
                "median: place_order of 4 tickets vs raw 4-row conditional UPDATE",
            );
        }
        pool.close().await;
    }
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    s
}
