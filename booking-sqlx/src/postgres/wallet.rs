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
use booking_core::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Row};

use super::PG;
use crate::codec::{instant, nanos};
use crate::error::{DbError, PortDb};

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

/// The columns [`entry_of`] reads.
macro_rules! select_entry {
    () => {
        "SELECT user_id, currency, movement, amount, balance_after, reference, at_ns
         FROM wallet_ledger "
    };
}

/// A movement's name in the ledger.
const fn movement_name(movement: Movement) -> &'static str {
    match movement {
        Movement::Credit => "credit",
        Movement::Debit => "debit",
    }
}

/// The ledger entry a row stores.
fn entry_of(row: &PgRow) -> Result<LedgerEntry, DbError> {
    let code: String = row.try_get("currency")?;
    let currency: Currency = code
        .parse()
        .map_err(|_| DbError::corrupt("ledger entry", format!("currency {code:?}")))?;
    let money = |column: &str| -> Result<Money, DbError> {
        Money::new(row.try_get(column)?, currency).map_err(|e| DbError::corrupt("ledger entry", e))
    };
    let movement = match row.try_get::<&str, _>("movement")? {
        "credit" => Movement::Credit,
        "debit" => Movement::Debit,
        other => return Err(DbError::corrupt("ledger entry", format!("{other:?}"))),
    };
    let reference: String = row.try_get("reference")?;
    Ok(LedgerEntry {
        user: UserId::from_uuid(row.try_get("user_id")?),
        movement,
        amount: money("amount")?,
        balance_after: money("balance_after")?,
        reference: LedgerRef::new(reference).map_err(|e| DbError::corrupt("ledger entry", e))?,
        at: instant(row.try_get("at_ns")?)?,
    })
}

/// The entry under `reference`, if any.
async fn entry_under(
    conn: &mut PgConnection,
    reference: &LedgerRef,
) -> Result<Option<LedgerEntry>, WalletError> {
    let row = sqlx::query(concat!(select_entry!(), "WHERE reference = $1"))
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .port::<WalletError>(PG)?;
    row.as_ref().map(entry_of).transpose().port(PG)
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

/// The earlier entry `earlier` answers a repeat of `(user, movement, amount)` under its
/// reference: itself if it is the same movement, else a conflict.
fn repeat(
    earlier: LedgerEntry,
    user: UserId,
    movement: Movement,
    amount: Money,
) -> Result<LedgerEntry, WalletError> {
    if earlier.user == user && earlier.movement == movement && earlier.amount == amount {
        Ok(earlier)
    } else {
        Err(WalletError::ReferenceConflict {
            reference: earlier.reference,
        })
    }
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
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        let at = nanos(now).map_err(|e| WalletError::Backend {
            backend: PG.name(),
            source: Box::new(e),
        })?;
        let mut conn = self.pool.acquire().await.port::<WalletError>(PG)?;
        if let Some(earlier) = entry_under(&mut conn, reference).await? {
            return repeat(earlier, user, movement, amount);
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
        .bind(movement_name(movement))
        .bind(amount.minor())
        .bind(balance_after.minor())
        .bind(at)
        .execute(&mut *tx)
        .await
        .port::<WalletError>(PG)?
        .rows_affected();
        if written == 1 {
            tx.commit().await.port::<WalletError>(PG)?;
            return Ok(LedgerEntry {
                user,
                movement,
                amount,
                balance_after,
                reference: reference.clone(),
                at: now,
            });
        }
        // A concurrent call wrote the reference first: undo the balance, answer with its entry.
        tx.rollback().await.port::<WalletError>(PG)?;
        match entry_under(&mut conn, reference).await? {
            Some(earlier) => repeat(earlier, user, movement, amount),
            None => Err(WalletError::Backend {
                backend: PG.name(),
                source: "the ledger reference was taken and then vanished".into(),
            }),
        }
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
        let rows = sqlx::query(concat!(
            select_entry!(),
            "WHERE user_id = $1 AND currency = $2 ORDER BY seq"
        ))
        .bind(user.as_uuid())
        .bind(currency.code())
        .fetch_all(&self.pool)
        .await
        .port::<WalletError>(PG)?;
        rows.iter().map(entry_of).collect::<Result<_, _>>().port(PG)
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        let mut conn = self.pool.acquire().await.port::<WalletError>(PG)?;
        entry_under(&mut conn, reference).await
    }
}
