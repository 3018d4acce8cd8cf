//! The concert and flight flows with `DATABASE_URL` on PostgreSQL and on MySQL/MariaDB, each
//! in a schema (database) of its own, dropped afterwards. Ignored, with the variable named,
//! when `BOOKING_TEST_POSTGRES_URL` / `BOOKING_TEST_MYSQL_URL` is unset outside CI.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Url;
use sqlx::{AssertSqlSafe, Connection};

use crate::concert::concert_flow;
use crate::flight::flight_flow;
use crate::support::Server;

/// A name no other test run picks: `server_{unix nanos}_{pid}`, digits only besides.
pub(crate) fn fresh_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("server_{nanos}_{}", std::process::id())
}

fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: set it to a test server's URL (unset, outside CI, this test is ignored)")
    })
}

#[tokio::test]
#[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is unset")]
async fn the_flows_run_on_postgresql() {
    let url = server_url("BOOKING_TEST_POSTGRES_URL");
    let schema = fresh_name();
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("PostgreSQL answers");
    // The name is built from digits and a fixed prefix, never from input.
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let mut database_url = Url::parse(&url).expect("URL");
    database_url
        .query_pairs_mut()
        .append_pair("options[search_path]", &schema);
    let server = Server::start_with(|c| c.database_url = Some(database_url.to_string())).await;
    concert_flow(&server).await;
    flight_flow(&server).await;
    server.stop().await.expect("stopped");
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
}

#[tokio::test]
#[cfg_attr(no_mysql_url, ignore = "BOOKING_TEST_MYSQL_URL is unset")]
async fn the_flows_run_on_mysql() {
    let url = server_url("BOOKING_TEST_MYSQL_URL");
    let database = fresh_name();
    let mut admin = sqlx::MySqlConnection::connect(&url)
        .await
        .expect("MySQL answers");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let mut database_url = Url::parse(&url).expect("URL");
    database_url.set_path(&database);
    let server = Server::start_with(|c| c.database_url = Some(database_url.to_string())).await;
    concert_flow(&server).await;
    flight_flow(&server).await;
    server.stop().await.expect("stopped");
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{database}`")))
        .execute(&mut admin)
        .await
        .expect("drop database");
}
