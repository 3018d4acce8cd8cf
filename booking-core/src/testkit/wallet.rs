//! The [`WalletStore`](crate::ports::wallet::WalletStore) suite: balances never negative,
//! ledgers that add up, references applied once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::Backend;
use super::fixtures::krw;
use crate::clock::Clock;
use crate::ids::UserId;
use crate::money::{Currency, Money};
use crate::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError};

fn r(s: &str) -> LedgerRef {
    LedgerRef::new(s).unwrap()
}

/// Credits minus debits of a ledger, checking each entry's running balance on the way.
fn ledger_sum(ledger: &[LedgerEntry]) -> i64 {
    ledger.iter().fold(0, |sum, e| {
        let next = match e.movement {
            Movement::Credit => sum + e.amount.minor(),
            Movement::Debit => sum - e.amount.minor(),
        };
        assert!(next >= 0, "the balance never went negative");
        assert_eq!(e.balance_after.minor(), next, "running balance of {e:?}");
        next
    })
}

/// 100 concurrent debits of 700 against 50,000: exactly 71 succeed, the balance never goes
/// negative, and the ledger adds up to the balance. Repeated.
pub async fn wallet_concurrent_debits_never_overdraw(b: Backend) {
    let now = b.clock.now();
    for round in 0..20 {
        let user = UserId::new();
        b.wallet
            .credit(user, krw(50_000), &r(&format!("topup:{round}")), now)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let wallet = b.wallet.clone();
                let reference = r(&format!("pay:{round}:{i}"));
                tokio::spawn(async move { wallet.debit(user, krw(700), &reference, now).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(entry) => {
                    assert!(entry.balance_after.minor() >= 0);
                    ok += 1;
                }
                Err(WalletError::InsufficientFunds { balance, requested }) => {
                    assert!(balance < requested);
                    assert_eq!(requested, krw(700));
                }
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        assert_eq!(ok, 71, "50,000 / 700 = 71 debits fit");
        let balance = b.wallet.balance(user, Currency::KRW).await.unwrap();
        assert_eq!(balance, krw(50_000 - 71 * 700));
        let ledger = b.wallet.ledger(user, Currency::KRW).await.unwrap();
        assert_eq!(ledger.len(), 72, "one entry per applied movement");
        assert_eq!(ledger_sum(&ledger), balance.minor());
    }
}

/// Concurrent credits and debits on one wallet lose no update: the ledger and the balance
/// agree. Repeated.
pub async fn wallet_concurrent_movements_lose_nothing(b: Backend) {
    let now = b.clock.now();
    for round in 0..10 {
        let user = UserId::new();
        b.wallet
            .credit(user, krw(1_000), &r(&format!("seed:{round}")), now)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let wallet = b.wallet.clone();
                let reference = r(&format!("mix:{round}:{i}"));
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        wallet.credit(user, krw(300), &reference, now).await
                    } else {
                        wallet.debit(user, krw(500), &reference, now).await
                    }
                })
            })
            .collect();
        let mut expected = 1_000;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(entry) if i % 2 == 0 => {
                    assert_eq!(entry.movement, Movement::Credit);
                    expected += 300;
                }
                Ok(_) => expected -= 500,
                Err(WalletError::InsufficientFunds { .. }) => assert_eq!(i % 2, 1),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        let balance = b.wallet.balance(user, Currency::KRW).await.unwrap();
        assert_eq!(balance, krw(expected));
        let ledger = b.wallet.ledger(user, Currency::KRW).await.unwrap();
        assert_eq!(ledger_sum(&ledger), expected);
    }
}

/// Ten concurrent credits with one reference apply once and every caller sees the one entry;
/// with ten references all apply.
pub async fn wallet_one_reference_applies_once(b: Backend) {
    let now = b.clock.now();
    let user = UserId::new();
    let same: Vec<_> = (0..10)
        .map(|_| {
            let wallet = b.wallet.clone();
            tokio::spawn(async move {
                wallet
                    .credit(user, krw(1_000), &r("charge:key-1"), now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut entries = Vec::new();
    for t in same {
        entries.push(t.await.unwrap());
    }
    assert!(
        entries.windows(2).all(|w| w[0] == w[1]),
        "every caller sees the one entry"
    );
    assert_eq!(
        b.wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(1_000)
    );
    assert_eq!(
        b.wallet.find(&r("charge:key-1")).await.unwrap(),
        Some(entries[0].clone())
    );

    let distinct: Vec<_> = (0..10)
        .map(|i| {
            let wallet = b.wallet.clone();
            tokio::spawn(async move {
                wallet
                    .credit(user, krw(1_000), &r(&format!("charge:{i}")), now)
                    .await
            })
        })
        .collect();
    for t in distinct {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        b.wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(11_000)
    );
    assert_eq!(
        b.wallet.ledger(user, Currency::KRW).await.unwrap().len(),
        11
    );
}

/// A repeated debit returns the first entry and debits nothing more.
pub async fn wallet_repeated_debit_returns_the_first_entry(b: Backend) {
    let now = b.clock.now();
    let user = UserId::new();
    b.wallet
        .credit(user, krw(5_000), &r("topup"), now)
        .await
        .unwrap();
    let first = b
        .wallet
        .debit(user, krw(2_000), &r("pay:1"), now)
        .await
        .unwrap();
    let later = now.checked_add(std::time::Duration::from_secs(60)).unwrap();
    let again = b
        .wallet
        .debit(user, krw(2_000), &r("pay:1"), later)
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        b.wallet.balance(user, Currency::KRW).await.unwrap(),
        krw(3_000)
    );
}

/// Overdrafts, reused references, zero amounts and overflow are typed errors that change
/// nothing; references are unique across wallets; wallets are per currency.
pub async fn wallet_bad_calls_are_typed_and_change_nothing(b: Backend) {
    let now = b.clock.now();
    let wallet = &b.wallet;
    let user = UserId::new();
    wallet
        .credit(user, krw(500), &r("topup"), now)
        .await
        .unwrap();
    assert!(matches!(
        wallet.debit(user, krw(501), &r("pay"), now).await,
        Err(WalletError::InsufficientFunds { balance, requested })
            if balance == krw(500) && requested == krw(501)
    ));
    assert!(matches!(
        wallet.debit(user, krw(100), &r("topup"), now).await,
        Err(WalletError::ReferenceConflict { .. })
    ));
    assert!(matches!(
        wallet.credit(user, krw(600), &r("topup"), now).await,
        Err(WalletError::ReferenceConflict { .. })
    ));
    assert!(
        matches!(
            wallet
                .credit(UserId::new(), krw(500), &r("topup"), now)
                .await,
            Err(WalletError::ReferenceConflict { .. })
        ),
        "references are unique across wallets"
    );
    assert_eq!(wallet.find(&r("topup")).await.unwrap().unwrap().user, user);
    assert_eq!(wallet.find(&r("nothing")).await.unwrap(), None);
    assert_eq!(
        wallet.find(&r("pay")).await.unwrap(),
        None,
        "a refused debit wrote nothing"
    );
    assert!(matches!(
        wallet.debit(user, krw(0), &r("zero"), now).await,
        Err(WalletError::ZeroAmount)
    ));
    assert!(matches!(
        wallet.credit(user, krw(0), &r("zero"), now).await,
        Err(WalletError::ZeroAmount)
    ));
    let huge = Money::new(i64::MAX, Currency::KRW).unwrap();
    assert!(matches!(
        wallet.credit(user, huge, &r("huge"), now).await,
        Err(WalletError::Money(_))
    ));
    assert_eq!(wallet.balance(user, Currency::KRW).await.unwrap(), krw(500));
    assert_eq!(wallet.ledger(user, Currency::KRW).await.unwrap().len(), 1);
    assert_eq!(
        wallet.balance(user, Currency::USD).await.unwrap(),
        Money::zero(Currency::USD)
    );
    assert!(wallet.ledger(user, Currency::USD).await.unwrap().is_empty());
    let usd = Money::new(100, Currency::USD).unwrap();
    assert!(matches!(
        wallet.debit(user, usd, &r("usd-pay"), now).await,
        Err(WalletError::InsufficientFunds { .. })
    ));
}
