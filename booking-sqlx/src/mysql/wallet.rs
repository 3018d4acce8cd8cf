//! [`MySqlWalletStore`]: points and stored balance with an idempotent ledger on MySQL.
//!
//! A movement is one transaction: look the reference up (a repeat is answered with the entry
//! written the first time), move the balance with one conditional `UPDATE` — `balance >=
//! amount` for a debit, no overflow past `i64::MAX` for a credit — then append the ledger
//! entry with the balance the update left. Movements of one wallet queue on its row for one
//! statement each, so none is lost and the balance never goes below zero (a `CHECK` refuses
//! it too). Two concurrent movements with one reference race on the ledger's unique
//! reference: the loser rolls its balance change back and answers with the winner's entry.
//! A wallet's row is created (at zero, outside the movement's transaction) by its first
//! credit; a debit of a wallet that has none fails as insufficient without creating it.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::UserId;
use booking_core::money::{Currency, Money};
use booking_core::ports::backend::wallet::MovementRequest;
use booking_core::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};
use sqlx::{MySqlConnection, MySqlPool};

use super::{MY, begin};
use crate::codec::nanos;
use crate::error::{DbError, Failure, PortDb};
use crate::wallet_ledger::{LEDGER_COLUMNS, LedgerRow, after_taken_reference};

/// Wallets and their ledger in a MySQL database migrated by [`MIGRATOR`](super::MIGRATOR).
/// Cloning is cheap: clones share the pool.
#[derive(Debug, Clone)]
pub struct MySqlWalletStore {
    pool: MySqlPool,
}

/// The entry written under `reference`, if any.
async fn entry(
    conn: &mut MySqlConnection,
    reference: &LedgerRef,
) -> Result<Option<LedgerEntry>, WalletError> {
    let sql = format!("SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE reference = ?");
    sqlx::query_as::<_, LedgerRow>(sqlx::AssertSqlSafe(sql))
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .port::<WalletError>(MY)?
        .map(LedgerRow::entry)
        .transpose()
        .port(MY)
}

/// The balance of `(user, currency)`, zero without a wallet row.
async fn balance_of(
    conn: &mut MySqlConnection,
    user: UserId,
    currency: Currency,
) -> Result<Money, WalletError> {
    let minor: Option<i64> =
        sqlx::query_scalar("SELECT balance FROM wallets WHERE user_id = ? AND currency = ?")
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_optional(conn)
            .await
            .port::<WalletError>(MY)?;
    Ok(Money::new(minor.unwrap_or(0), currency)?)
}

impl MySqlWalletStore {
    /// A store over `pool`.
    pub fn new(pool: MySqlPool) -> Self {
        MySqlWalletStore { pool }
    }

    async fn apply(
        &self,
        user: UserId,
        movement: Movement,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        let request = MovementRequest::new(user, movement, amount, reference)?;
        let at = nanos(now).map_err(|e| port_failure(Failure::Other(Box::new(e))))?;
        let currency = amount.currency();
        if movement == Movement::Credit {
            // Outside the transaction, so concurrent first credits do not hold the new row's
            // duplicate-key locks while they update it (an InnoDB deadlock).
            sqlx::query("INSERT IGNORE INTO wallets (user_id, currency, balance) VALUES (?, ?, 0)")
                .bind(user.as_uuid())
                .bind(currency.code())
                .execute(&self.pool)
                .await
                .port::<WalletError>(MY)?;
        }
        let mut tx = begin(&self.pool).await.port::<WalletError>(MY)?;
        if let Some(earlier) = entry(&mut tx, reference).await? {
            return request.repeat(earlier);
        }
        let sql = match movement {
            Movement::Credit => {
                "UPDATE wallets SET balance = balance + ?
                 WHERE user_id = ? AND currency = ? AND balance <= 9223372036854775807 - ?"
            }
            Movement::Debit => {
                "UPDATE wallets SET balance = balance - ?
                 WHERE user_id = ? AND currency = ? AND balance >= ?"
            }
        };
        let moved = sqlx::query(sql)
            .bind(amount.minor())
            .bind(user.as_uuid())
            .bind(currency.code())
            .bind(amount.minor())
            .execute(&mut *tx)
            .await
            .port::<WalletError>(MY)?
            .rows_affected();
        let balance = balance_of(&mut tx, user, currency).await?;
        if moved != 1 {
            // Refused: the balance as it is now says why.
            return Err(match movement {
                Movement::Credit => balance.checked_add(amount).err().map_or_else(
                    || port_failure(Failure::Busy("the wallet changed; retry".to_owned())),
                    WalletError::Money,
                ),
                Movement::Debit => WalletError::InsufficientFunds {
                    balance,
                    requested: amount,
                },
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO wallet_ledger (reference, user_id, currency, movement, amount,
                                        balance_after, at_ns)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(reference.as_str())
        .bind(user.as_uuid())
        .bind(currency.code())
        .bind(movement.name())
        .bind(amount.minor())
        .bind(balance.minor())
        .bind(at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            let failure = DbError::Sql(e).classify(MY);
            if !matches!(failure, Failure::Unique { .. }) {
                return Err(port_failure(failure));
            }
            // A concurrent movement with this reference committed first: undo ours.
            tx.rollback().await.port::<WalletError>(MY)?;
            let mut conn = self.pool.acquire().await.port::<WalletError>(MY)?;
            let found = entry(&mut conn, reference).await?;
            return after_taken_reference(&request, found, MY);
        }
        tx.commit().await.port::<WalletError>(MY)?;
        Ok(request.entry(balance, now))
    }
}

/// A classified driver failure as the wallet port's `Backend` error.
fn port_failure(f: Failure) -> WalletError {
    let source: Box<dyn std::error::Error + Send + Sync> = match f {
        Failure::Other(source) => source,
        Failure::Busy(message) => message.into(),
        Failure::Unique { constraint, .. } => constraint.into(),
    };
    WalletError::Backend {
        backend: MY.name(),
        source,
    }
}

#[async_trait]
impl WalletStore for MySqlWalletStore {
    async fn balance(&self, user: UserId, currency: Currency) -> Result<Money, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(MY)?;
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
            "SELECT {LEDGER_COLUMNS} FROM wallet_ledger
             WHERE user_id = ? AND currency = ? ORDER BY seq"
        );
        let rows = sqlx::query_as::<_, LedgerRow>(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_all(&self.pool)
            .await
            .port::<WalletError>(MY)?;
        LedgerRow::entries(rows).port(MY)
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(MY)?;
        entry(&mut conn, reference).await
    }
}
