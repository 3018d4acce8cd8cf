//! [`MemoryWalletStore`]: wallets in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::money::{Currency, Money};
use crate::ports::backend::wallet::MovementRequest;
use crate::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};

/// Wallets held in memory; one mutex makes every movement atomic.
#[derive(Debug, Default)]
pub struct MemoryWalletStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    ledgers: HashMap<(UserId, Currency), Vec<LedgerEntry>>,
    /// Where each reference's entry is: its wallet and its index in that ledger.
    by_reference: HashMap<LedgerRef, ((UserId, Currency), usize)>,
}

impl State {
    fn entry(&self, reference: &LedgerRef) -> Option<&LedgerEntry> {
        let (wallet, index) = self.by_reference.get(reference)?;
        self.ledgers.get(wallet)?.get(*index)
    }

    fn balance(&self, wallet: (UserId, Currency)) -> Money {
        self.ledgers
            .get(&wallet)
            .and_then(|ledger| ledger.last())
            .map_or(Money::zero(wallet.1), |e| e.balance_after)
    }
}

impl MemoryWalletStore {
    /// No wallets yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(
        &self,
        user: UserId,
        movement: Movement,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        let request = MovementRequest::new(user, movement, amount, reference)?;
        let mut state = self.lock();
        if let Some(earlier) = state.entry(reference) {
            return request.repeat(earlier.clone());
        }
        let wallet = (user, amount.currency());
        let entry = request.entry(request.balance_after(state.balance(wallet))?, now);
        let ledger = state.ledgers.entry(wallet).or_default();
        let index = ledger.len();
        ledger.push(entry.clone());
        state
            .by_reference
            .insert(reference.clone(), (wallet, index));
        Ok(entry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every write completes before the guard drops, so even a poisoned lock guards a
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl WalletStore for MemoryWalletStore {
    async fn balance(&self, user: UserId, currency: Currency) -> Result<Money, WalletError> {
        Ok(self.lock().balance((user, currency)))
    }

    async fn credit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        self.apply(user, Movement::Credit, amount, reference, now)
    }

    async fn debit(
        &self,
        user: UserId,
        amount: Money,
        reference: &LedgerRef,
        now: Timestamp,
    ) -> Result<LedgerEntry, WalletError> {
        self.apply(user, Movement::Debit, amount, reference, now)
    }

    async fn ledger(
        &self,
        user: UserId,
        currency: Currency,
    ) -> Result<Vec<LedgerEntry>, WalletError> {
        Ok(self
            .lock()
            .ledgers
            .get(&(user, currency))
            .cloned()
            .unwrap_or_default())
    }

    async fn find(&self, reference: &LedgerRef) -> Result<Option<LedgerEntry>, WalletError> {
        Ok(self.lock().entry(reference).cloned())
    }
}
