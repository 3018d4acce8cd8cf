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
use booking_core::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{SQ, begin_write};
use crate::codec::{instant, nanos};
use crate::error::{DbError, PortDb};

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

/// The columns [`EntryRow`] reads.
const ENTRY_COLUMNS: &str = "user_id, currency, movement, amount, balance_after, reference, at_ns";

/// A `wallet_ledger` row:
/// `(user_id, currency, movement, amount, balance_after, reference, at_ns)`.
type EntryRow = (Uuid, String, String, i64, i64, String, i64);

/// A movement's stored name.
fn movement_name(movement: Movement) -> &'static str {
    match movement {
        Movement::Credit => "credit",
        Movement::Debit => "debit",
    }
}

/// The entry a row stores.
fn entry_of(
    (user, currency, movement, amount, balance, reference, at): EntryRow,
) -> Result<LedgerEntry, DbError> {
    let currency: Currency = currency
        .parse()
        .map_err(|_| DbError::corrupt("ledger entry", format!("currency {currency:?}")))?;
    let money =
        |minor| Money::new(minor, currency).map_err(|e| DbError::corrupt("ledger entry", e));
    let movement = match movement.as_str() {
        "credit" => Movement::Credit,
        "debit" => Movement::Debit,
        other => {
            return Err(DbError::corrupt(
                "ledger entry",
                format!("movement {other:?}"),
            ));
        }
    };
    Ok(LedgerEntry {
        user: UserId::from_uuid(user),
        movement,
        amount: money(amount)?,
        balance_after: money(balance)?,
        reference: LedgerRef::new(reference).map_err(|e| DbError::corrupt("ledger entry", e))?,
        at: instant(at)?,
    })
}

/// The entry written under `reference`, if any.
async fn by_reference(
    conn: &mut SqliteConnection,
    reference: &LedgerRef,
) -> Result<Option<LedgerEntry>, WalletError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM wallet_ledger WHERE reference = ?");
    let row: Option<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .port::<WalletError>(SQ)?;
    row.map(|row| entry_of(row).port::<WalletError>(SQ))
        .transpose()
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
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        let at = nanos(now).map_err(|e| WalletError::Backend {
            backend: SQ.name(),
            source: Box::new(e),
        })?;
        let mut tx = begin_write(&self.pool).await.port::<WalletError>(SQ)?;
        if let Some(earlier) = by_reference(&mut tx, reference).await? {
            let same =
                earlier.user == user && earlier.movement == movement && earlier.amount == amount;
            return if same {
                Ok(earlier)
            } else {
                Err(WalletError::ReferenceConflict {
                    reference: reference.clone(),
                })
            };
        }
        let balance = balance_of(&mut tx, user, amount.currency()).await?;
        let balance_after = match movement {
            Movement::Credit => balance.checked_add(amount)?,
            Movement::Debit => {
                balance
                    .checked_sub(amount)
                    .map_err(|_| WalletError::InsufficientFunds {
                        balance,
                        requested: amount,
                    })?
            }
        };
        sqlx::query(
            "INSERT INTO wallet_ledger
                 (user_id, currency, movement, amount, balance_after, reference, at_ns)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.as_uuid())
        .bind(amount.currency().code())
        .bind(movement_name(movement))
        .bind(amount.minor())
        .bind(balance_after.minor())
        .bind(reference.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .port::<WalletError>(SQ)?;
        tx.commit().await.port::<WalletError>(SQ)?;
        Ok(LedgerEntry {
            user,
            movement,
            amount,
            balance_after,
            reference: reference.clone(),
            at: now,
        })
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
            "SELECT {ENTRY_COLUMNS} FROM wallet_ledger WHERE user_id = ? AND currency = ?
             ORDER BY seq"
        );
        let rows: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_all(&self.pool)
            .await
            .port::<WalletError>(SQ)?;
        rows.into_iter()
            .map(|row| entry_of(row).port::<WalletError>(SQ))
            .collect()
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(SQ)?;
        by_reference(&mut conn, reference).await
    }
}
