//! [`MemoryWalletStore`]: wallets in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::money::{Currency, Money};
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
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        let mut state = self.lock();
        if let Some(earlier) = state.entry(reference) {
            let same =
                earlier.user == user && earlier.movement == movement && earlier.amount == amount;
            return if same {
                Ok(earlier.clone())
            } else {
                Err(WalletError::ReferenceConflict {
                    reference: reference.clone(),
                })
            };
        }
        let wallet = (user, amount.currency());
        let balance = state.balance(wallet);
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
        let entry = LedgerEntry {
            user,
            movement,
            amount,
            balance_after,
            reference: reference.clone(),
            at: now,
        };
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

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests {
    use std::sync::Arc;

    use super::*;

    fn krw(n: i64) -> Money {
        Money::new(n, Currency::KRW).unwrap()
    }

    fn r(s: &str) -> LedgerRef {
        LedgerRef::new(s).unwrap()
    }

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    /// Sums a ledger's credits minus debits.
    fn ledger_sum(ledger: &[LedgerEntry]) -> i64 {
        ledger
            .iter()
            .map(|e| match e.movement {
                Movement::Credit => e.amount.minor(),
                Movement::Debit => -e.amount.minor(),
            })
            .sum()
    }

    /// 100 concurrent debits of 700 against 50,000: exactly 71 succeed, the balance never goes
    /// negative, and the ledger adds up to the balance. Repeated to mean something.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_debits_never_overdraw_and_the_ledger_sums() {
        for round in 0..20 {
            let wallet = Arc::new(MemoryWalletStore::new());
            let user = UserId::new();
            wallet
                .credit(user, krw(50_000), &r("topup"), NOW)
                .await
                .unwrap();
            let tasks = (0..100).map(|i| {
                let wallet = Arc::clone(&wallet);
                tokio::spawn(async move {
                    wallet
                        .debit(user, krw(700), &r(&format!("pay:{i}")), NOW)
                        .await
                })
            });
            let mut ok = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => ok += 1,
                    Err(WalletError::InsufficientFunds { .. }) => {}
                    Err(e) => panic!("round {round}: unexpected {e}"),
                }
            }
            assert_eq!(ok, 71, "50,000 / 700 = 71 debits fit");
            let balance = wallet.balance(user, Currency::KRW).await.unwrap();
            assert_eq!(balance, krw(50_000 - 71 * 700));
            let ledger = wallet.ledger(user, Currency::KRW).await.unwrap();
            assert_eq!(ledger_sum(&ledger), balance.minor());
            assert_eq!(ledger.len(), 72);
        }
    }

    /// Seed scenario 2 at the store: ten concurrent charges with one reference apply once; with
    /// ten references all apply.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_reference_applies_once_distinct_references_all_apply() {
        let wallet = Arc::new(MemoryWalletStore::new());
        let user = UserId::new();
        let same = (0..10).map(|_| {
            let wallet = Arc::clone(&wallet);
            tokio::spawn(async move {
                wallet
                    .credit(user, krw(1_000), &r("charge:key-1"), NOW)
                    .await
                    .unwrap()
            })
        });
        let mut entries = Vec::new();
        for t in same {
            entries.push(t.await.unwrap());
        }
        assert!(
            entries.windows(2).all(|w| w[0] == w[1]),
            "every caller sees the one entry"
        );
        assert_eq!(
            wallet.balance(user, Currency::KRW).await.unwrap(),
            krw(1_000)
        );

        let distinct = (0..10).map(|i| {
            let wallet = Arc::clone(&wallet);
            tokio::spawn(async move {
                wallet
                    .credit(user, krw(1_000), &r(&format!("charge:{i}")), NOW)
                    .await
            })
        });
        for t in distinct {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            wallet.balance(user, Currency::KRW).await.unwrap(),
            krw(11_000)
        );
    }

    #[tokio::test]
    async fn bad_calls_are_typed_and_change_nothing() {
        let wallet = MemoryWalletStore::new();
        let user = UserId::new();
        wallet
            .credit(user, krw(500), &r("topup"), NOW)
            .await
            .unwrap();
        assert!(matches!(
            wallet.debit(user, krw(501), &r("pay"), NOW).await,
            Err(WalletError::InsufficientFunds { balance, requested }) if balance == krw(500) && requested == krw(501)
        ));
        assert!(matches!(
            wallet.debit(user, krw(100), &r("topup"), NOW).await,
            Err(WalletError::ReferenceConflict { .. })
        ));
        assert!(
            matches!(
                wallet
                    .credit(UserId::new(), krw(500), &r("topup"), NOW)
                    .await,
                Err(WalletError::ReferenceConflict { .. })
            ),
            "references are unique across wallets"
        );
        assert_eq!(wallet.find(&r("topup")).await.unwrap().unwrap().user, user);
        assert_eq!(wallet.find(&r("nothing")).await.unwrap(), None);
        assert!(matches!(
            wallet.debit(user, krw(0), &r("zero"), NOW).await,
            Err(WalletError::ZeroAmount)
        ));
        let huge = Money::new(i64::MAX, Currency::KRW).unwrap();
        assert!(matches!(
            wallet.credit(user, huge, &r("huge"), NOW).await,
            Err(WalletError::Money(_))
        ));
        assert_eq!(wallet.balance(user, Currency::KRW).await.unwrap(), krw(500));
        assert_eq!(wallet.ledger(user, Currency::KRW).await.unwrap().len(), 1);
        assert_eq!(
            wallet.balance(user, Currency::USD).await.unwrap(),
            Money::zero(Currency::USD)
        );
        assert!(LedgerRef::new("").is_err());
        assert!(LedgerRef::new("has space").is_err());
        assert!(LedgerRef::new("x".repeat(256)).is_err());
        assert!(serde_json::from_str::<LedgerRef>("\"\"").is_err());
    }
}
