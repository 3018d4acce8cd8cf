//! [`PostgresWalletStore`]: balances and an idempotent ledger.
//!
//! A movement is one transaction: a conditional update of the wallet's balance (a debit only
//! `WHERE balance >= amount`, a credit only while the sum stays in range), then the insert of
//! its ledger entry with `ON CONFLICT (reference) DO NOTHING`. The balance update locks the
//! wallet's row until commit, so movements of one wallet queue for one short transaction each
//! and none is lost; the entry carries the balance right after it. If the reference turns out
//! to be taken (by an earlier call, or a concurrent one that committed first), the transaction
//! rolls back and the entry under the reference answers: the same movement returns it, a
//! different one is `ReferenceConflict`. A repeat is usually caught before any lock, by
//! reading the reference first.

use async_trait::async_trait;
use booking_core::clock::Timestamp;
use booking_core::ids::UserId;
use booking_core::money::{Currency, Money};
use booking_core::ports::backend::wallet::MovementRequest;
use booking_core::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};
use sqlx::{Connection, PgConnection, PgPool};

use super::PG;
use crate::codec::nanos;
use crate::error::PortDb;
use crate::wallet_ledger::{LEDGER_COLUMNS, LedgerRow, after_taken_reference};

/// [`WalletStore`] on PostgreSQL (tables `wallets`, `wallet_ledger`). Cloning is cheap:
/// clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresWalletStore {
    pool: PgPool,
}

impl PostgresWalletStore {
    /// A store over `pool`, whose schema has the tables of [`MIGRATOR`](super::MIGRATOR).
    pub fn new(pool: PgPool) -> Self {
        PostgresWalletStore { pool }
    }
}

/// The entry under `reference`, if any.
async fn entry_under(
    conn: &mut PgConnection,
    reference: &LedgerRef,
) -> Result<Option<LedgerEntry>, WalletError> {
    let sql = format!("SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE reference = $1");
    let row: Option<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .port::<WalletError>(PG)?;
    row.map(LedgerRow::entry).transpose().port(PG)
}

/// The balance of a wallet as `conn` sees it (zero if it never moved).
async fn balance_on(
    conn: &mut PgConnection,
    user: UserId,
    currency: Currency,
) -> Result<Money, WalletError> {
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT balance FROM wallets WHERE user_id = $1 AND currency = $2")
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_optional(conn)
            .await
            .port::<WalletError>(PG)?;
    Ok(Money::new(balance.unwrap_or(0), currency)?)
}

/// Moves the balance inside the caller's transaction; returns the balance after, or the
/// refusal (insufficient funds, overflow).
async fn move_balance(
    conn: &mut PgConnection,
    user: UserId,
    movement: Movement,
    amount: Money,
) -> Result<Money, WalletError> {
    let currency = amount.currency();
    let sql = match movement {
        // The guard keeps the sum within bigint: an overflow is refused, not raised.
        Movement::Credit => {
            "INSERT INTO wallets AS w (user_id, currency, balance) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, currency) DO UPDATE SET balance = w.balance + $3
             WHERE w.balance <= 9223372036854775807 - $3
             RETURNING balance"
        }
        Movement::Debit => {
            "UPDATE wallets SET balance = balance - $3
             WHERE user_id = $1 AND currency = $2 AND balance >= $3
             RETURNING balance"
        }
    };
    let after: Option<i64> = sqlx::query_scalar(sql)
        .bind(user.as_uuid())
        .bind(currency.code())
        .bind(amount.minor())
        .fetch_optional(&mut *conn)
        .await
        .port::<WalletError>(PG)?;
    if let Some(after) = after {
        return Ok(Money::new(after, currency)?);
    }
    let balance = balance_on(conn, user, currency).await?;
    match movement {
        Movement::Credit => Ok(balance.checked_add(amount)?),
        Movement::Debit => Err(WalletError::InsufficientFunds {
            balance,
            requested: amount,
        }),
    }
}

impl PostgresWalletStore {
    /// Applies one movement under `reference`, once.
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
            backend: PG.name(),
            source: Box::new(e),
        })?;
        let mut conn = self.pool.acquire().await.port::<WalletError>(PG)?;
        if let Some(earlier) = entry_under(&mut conn, reference).await? {
            return request.repeat(earlier);
        }
        let mut tx = conn.begin().await.port::<WalletError>(PG)?;
        let balance_after = move_balance(&mut tx, user, movement, amount).await?;
        let written = sqlx::query(
            "INSERT INTO wallet_ledger
                 (reference, user_id, currency, movement, amount, balance_after, at_ns)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reference) DO NOTHING",
        )
        .bind(reference.as_str())
        .bind(user.as_uuid())
        .bind(amount.currency().code())
        .bind(movement.name())
        .bind(amount.minor())
        .bind(balance_after.minor())
        .bind(at)
        .execute(&mut *tx)
        .await
        .port::<WalletError>(PG)?
        .rows_affected();
        if written == 1 {
            tx.commit().await.port::<WalletError>(PG)?;
            return Ok(request.entry(balance_after, now));
        }
        // A concurrent call wrote the reference first: undo the balance, answer with its entry.
        tx.rollback().await.port::<WalletError>(PG)?;
        let found = entry_under(&mut conn, reference).await?;
        after_taken_reference(&request, found, PG)
    }
}

#[async_trait]
impl WalletStore for PostgresWalletStore {
    async fn balance(&self, user: UserId, currency: Currency) -> Result<Money, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(PG)?;
        balance_on(&mut conn, user, currency).await
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
             WHERE user_id = $1 AND currency = $2 ORDER BY seq"
        );
        let rows: Vec<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .bind(currency.code())
            .fetch_all(&self.pool)
            .await
            .port::<WalletError>(PG)?;
        LedgerRow::entries(rows).port(PG)
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(PG)?;
        entry_under(&mut conn, reference).await
    }
}
