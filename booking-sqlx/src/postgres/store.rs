//! What the SQL store needs of PostgreSQL: its migrations, how it connects, and write
//! transactions at the default `READ COMMITTED`: the statements' own conditions and row locks
//! (`FOR UPDATE`, `SKIP LOCKED` in the sweep) make each write correct.

use std::str::FromStr;

use booking_core::ports::store::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Transaction};

use super::{MIGRATOR, PG};
use crate::error::{Backend, Db, server_target, unreachable};
use crate::store::database::StoreDatabase;

/// Where `options` connect, for errors.
fn target(options: &PgConnectOptions) -> String {
    server_target(
        options.get_host(),
        options.get_port(),
        options.get_socket().map(|p| p.as_path()),
        options.get_database(),
    )
}

impl StoreDatabase for Postgres {
    const BACKEND: Backend = PG;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// A pool with sqlx's default options, once a first connection answered: a pool alone
    /// would retry a refused connection until its acquire timeout and report only the timeout.
    async fn connect(url: &str) -> Result<PgPool, StoreError> {
        let options = PgConnectOptions::from_str(url).db(PG)?;
        let first = options
            .connect()
            .await
            .map_err(|e| unreachable(PG, target(&options), e))?;
        // The connection only showed that the server answers; a failure to close it politely
        // changes nothing for the pool.
        let _ = first.close().await;
        Ok(PgPoolOptions::new().connect_lazy_with(options))
    }

    fn target(pool: &PgPool) -> String {
        target(&pool.connect_options())
    }

    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }
}
