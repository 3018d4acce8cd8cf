//! What the SQL store needs of MySQL / MariaDB: its migrations, how it connects, and write
//! transactions at `READ COMMITTED` (see the module docs): the statements' own conditions and
//! row locks (`FOR UPDATE`, `SKIP LOCKED` in the sweep) make each write correct.

use std::str::FromStr;

use booking_core::ports::store::StoreError;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, MySql, MySqlPool, Transaction};

use super::{MIGRATOR, MY};
use crate::error::{Backend, Db, server_target, unreachable};
use crate::store::database::StoreDatabase;

/// Starts a transaction at `READ COMMITTED` (see the module docs for why), for this
/// transaction only.
pub(crate) async fn begin(pool: &MySqlPool) -> Result<Transaction<'static, MySql>, sqlx::Error> {
    pool.begin_with("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION")
        .await
}

/// Where `options` connect, for errors.
fn target(options: &MySqlConnectOptions) -> String {
    server_target(
        options.get_host(),
        options.get_port(),
        options.get_socket().map(|p| p.as_path()),
        options.get_database(),
    )
}

impl StoreDatabase for MySql {
    const BACKEND: Backend = MY;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// A pool with sqlx's default options, once a first connection answered: a pool alone
    /// would retry a refused connection until its acquire timeout and report only the timeout.
    async fn connect(url: &str) -> Result<MySqlPool, StoreError> {
        let options = MySqlConnectOptions::from_str(url).db(MY)?;
        let first = options
            .connect()
            .await
            .map_err(|e| unreachable(MY, target(&options), e))?;
        // The connection only showed that the server answers; a failure to close it politely
        // changes nothing for the pool.
        let _ = first.close().await;
        Ok(MySqlPoolOptions::new().connect_lazy_with(options))
    }

    fn target(pool: &MySqlPool) -> String {
        target(&pool.connect_options())
    }

    async fn begin_write(pool: &MySqlPool) -> Result<Transaction<'static, MySql>, sqlx::Error> {
        begin(pool).await
    }
}
