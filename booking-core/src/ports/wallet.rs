//! The wallet port: points or stored balance, with a ledger that always adds up.
//!
//! Every movement is a ledger entry carrying a caller-chosen [`LedgerRef`] (for example
//! `payment:<id>:debit`). A reference is applied at most once per store: repeating a call with
//! the same reference and the same movement returns the entry already written, so a retried
//! debit never debits twice; the same reference with a different movement is refused.
//! Balances never go below zero and concurrent movements never lose an update.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::money::{Currency, Money, MoneyError};

/// A caller-chosen reference that makes a wallet movement idempotent: 1 to 255 printable ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LedgerRef(String);

impl LedgerRef {
    /// The longest reference accepted.
    pub const MAX_LEN: usize = 255;

    /// Validates `reference`.
    pub fn new(reference: impl Into<String>) -> Result<Self, WalletError> {
        let reference = reference.into();
        let printable = reference.bytes().all(|b| b.is_ascii_graphic());
        if reference.is_empty() || reference.len() > Self::MAX_LEN || !printable {
            return Err(WalletError::InvalidReference(reference));
        }
        Ok(LedgerRef(reference))
    }

    /// The reference text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LedgerRef {
    type Error = WalletError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        LedgerRef::new(s)
    }
}

impl From<LedgerRef> for String {
    fn from(r: LedgerRef) -> String {
        r.0
    }
}

impl fmt::Display for LedgerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which way money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Added to the balance: a top-up, or a refund credited back.
    Credit,
    /// Taken from the balance: a payment.
    Debit,
}

impl Movement {
    /// The movement's stored name: `"credit"` or `"debit"`.
    pub const fn name(self) -> &'static str {
        match self {
            Movement::Credit => "credit",
            Movement::Debit => "debit",
        }
    }
}

/// One line of a wallet's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Whose wallet.
    pub user: UserId,
    /// Credit or debit.
    pub movement: Movement,
    /// How much (positive).
    pub amount: Money,
    /// The balance right after this entry.
    pub balance_after: Money,
    /// The caller's reference; unique per store.
    pub reference: LedgerRef,
    /// When it was written.
    pub at: Timestamp,
}

/// Why a wallet call failed. A failed call changes nothing, except
/// [`Backend`](WalletError::Backend): the store could not tell whether the movement was
/// written (repeating it with the same reference is safe).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The debit is larger than the balance.
    #[error("insufficient balance: {balance} available, {requested} requested")]
    InsufficientFunds {
        /// The balance at the time of the call.
        balance: Money,
        /// The amount asked for.
        requested: Money,
    },
    /// The reference was already used for a different movement or amount.
    #[error("ledger reference {reference} was already used for another movement")]
    ReferenceConflict {
        /// The reused reference.
        reference: LedgerRef,
    },
    /// Zero amounts are refused: they would write meaningless entries.
    #[error("wallet movements must be of a positive amount")]
    ZeroAmount,
    /// The reference is empty, too long or not printable ASCII.
    #[error("invalid ledger reference {0:?}: 1 to 255 printable ASCII characters")]
    InvalidReference(String),
    /// The balance would overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The backing store failed; the movement may or may not have been written. Retrying with
    /// the same reference is safe.
    #[error("{backend} wallet backend failed: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Balances and ledgers per `(user, currency)`.
///
/// Contract (checked by the conformance suite): balances never go negative; every balance
/// equals credits minus debits of its ledger; concurrent movements are all applied or refused,
/// never lost; a reference is applied at most once per store (across all wallets), so a
/// repeated call returns the entry written the first time.
#[async_trait]
pub trait WalletStore: Send + Sync + fmt::Debug + 'static {
    /// The balance of `user`'s wallet in `currency` (zero if it has never moved).
    async fn balance(&self, user: UserId, currency: Currency) -> Result<Money, WalletError>;

    /// Adds `amount` to `user`'s wallet, once per `reference`.
    async fn credit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError>;

    /// Takes `amount` from `user`'s wallet if the balance covers it, once per `reference`.
    async fn debit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError>;

    /// The ledger of `user`'s wallet in `currency`, oldest first.
    async fn ledger(
        &self,
        user: UserId,
        currency: Currency,
    ) -> Result<Vec<LedgerEntry>, WalletError>;

    /// The entry written under `reference`, if any.
    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_one_to_255_printable_characters() {
        assert!(LedgerRef::new("payment:1:debit").is_ok());
        assert!(LedgerRef::new("x".repeat(LedgerRef::MAX_LEN)).is_ok());
        assert!(LedgerRef::new("").is_err());
        assert!(LedgerRef::new("has space").is_err());
        assert!(LedgerRef::new("x".repeat(LedgerRef::MAX_LEN + 1)).is_err());
        assert!(serde_json::from_str::<LedgerRef>("\"\"").is_err());
    }
}
