//! [`SqliteWalletStore`]: balances and ledgers, one row per movement.
//!
//! A movement is one write transaction: the entry already written under its reference is
//! returned (or refused, if it was another movement); otherwise the wallet's latest
//! `balance_after` is read, the new balance computed with checked money arithmetic, and the
//! entry appended. The write lock makes read-and-append one step, and `reference` is
//! `UNIQUE` besides, so a reference is applied once.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::UserId;
use booking_core::money::{Currency, Money};
use booking_core::ports::backend::wallet::MovementRequest;
use booking_core::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};
use sqlx::{SqliteConnection, SqlitePool};

use super::{SQ, begin_write};
use crate::codec::nanos;
use crate::error::PortDb;
use crate::wallet_ledger::{LEDGER_COLUMNS, LedgerRow};

/// Wallets in the SQLite database of `pool` (see the module docs).
#[derive(Debug, Clone)]
pub struct SqliteWalletStore {
    pool: SqlitePool,
}

impl SqliteWalletStore {
    /// A wallet store over `pool`, migrated by [`SqliteStore::migrate`](super::SqliteStore::migrate).
    pub fn new(pool: SqlitePool) -> Self {
        SqliteWalletStore { pool }
    }
}

/// The entry written under `reference`, if any.
async fn by_reference(
    conn: &mut SqliteConnection,
    reference: &LedgerRef,
) -> Result<Option<LedgerEntry>, WalletError> {
    let sql = format!("SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE reference = ?");
    let row: Option<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .port::<WalletError>(SQ)?;
    row.map(LedgerRow::entry).transpose().port(SQ)
}

/// The balance of `user`'s wallet in `currency`: its latest entry's, or zero.
async fn balance_of(
    conn: &mut SqliteConnection,
    user: UserId,
    currency: Currency,
) -> Result<Money, WalletError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT balance_after FROM wallet_ledger WHERE user_id = ? AND currency = ?
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(user.as_uuid())
    .bind(currency.code())
    .fetch_optional(conn)
    .await
    .port::<WalletError>(SQ)?;
    match row {
        Some((minor,)) => Ok(Money::new(minor, currency)?),
        None => Ok(Money::zero(currency)),
    }
}

impl SqliteWalletStore {
    /// Applies one movement, once per `reference` (see the module docs).
    async fn apply(
        &self,
        user: UserId,
        movement: Movement,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        let request = MovementRequest::new(user, movement, amount, reference)?;
        let at = nanos(now).map_err(|e| WalletError::Backend {
            backend: SQ.name(),
            source: Box::new(e),
        })?;
        let mut tx = begin_write(&self.pool).await.port::<WalletError>(SQ)?;
        if let Some(earlier) = by_reference(&mut tx, reference).await? {
            return request.repeat(earlier);
        }
        let balance = balance_of(&mut tx, user, amount.currency()).await?;
        let balance_after = request.balance_after(balance)?;
        sqlx::query(
            "INSERT INTO wallet_ledger
                 (user_id, currency, movement, amount, balance_after, reference, at_ns)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.as_uuid())
        .bind(amount.currency().code())
        .bind(movement.name())
        .bind(amount.minor())
        .bind(balance_after.minor())
        .bind(reference.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .port::<WalletError>(SQ)?;
        tx.commit().await.port::<WalletError>(SQ)?;
        Ok(request.entry(balance_after, now))
    }
}

#[async_trait]
impl WalletStore for SqliteWalletStore {
    async fn balance(&self, user: UserId, currency: Currency) -> Result<Money, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(SQ)?;
        balance_of(&mut conn, user, currency).await
    }

    async fn credit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        self.apply(user, Movement::Credit, amount, reference, now)
            .await
    }

    async fn debit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        self.apply(user, Movement::Debit, amount, reference, now)
            .await
    }

    async fn ledger(
        &self,
        user: UserId,
        currency: Currency,
    ) -> Result<Vec<LedgerEntry>, WalletError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE user_id = ? AND currency = ?
             ORDER BY seq"
        );
        let rows: Vec<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_all(&self.pool)
            .await
            .port::<WalletError>(SQ)?;
        LedgerRow::entries(rows).port(SQ)
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(SQ)?;
        by_reference(&mut conn, reference).await
    }
}
