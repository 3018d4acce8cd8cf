//! For implementors of [`WalletStore`]: one movement checked, answered and written the way
//! every wallet store does it, and a movement read back from its stored name.

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::money::Money;
#[cfg(doc)]
use crate::ports::wallet::WalletStore;
use crate::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError};

/// The movement stored under `name` (the inverse of [`Movement::name`]), if any.
pub fn movement_named(name: &str) -> Option<Movement> {
    match name {
        "credit" => Some(Movement::Credit),
        "debit" => Some(Movement::Debit),
        _ => None,
    }
}

/// One credit or debit asked of a wallet, checked the way every [`WalletStore`] checks it.
///
/// Implementations build one per call ([`MovementRequest::new`] refuses zero amounts), answer
/// a repeated reference with [`MovementRequest::repeat`], compute the new balance with
/// [`MovementRequest::balance_after`] and describe what they wrote with
/// [`MovementRequest::entry`], so every backend refuses and answers alike.
#[derive(Debug, Clone, Copy)]
pub struct MovementRequest<'a> {
    /// Whose wallet.
    pub user: UserId,
    /// Credit or debit.
    pub movement: Movement,
    /// How much (positive).
    pub amount: Money,
    /// The caller's reference.
    pub reference: &'a LedgerRef,
}

impl<'a> MovementRequest<'a> {
    /// The request, or [`WalletError::ZeroAmount`] for a zero amount.
    pub fn new(
        user: UserId,
        movement: Movement,
        amount: Money,
        reference: &'a LedgerRef,
    ) -> Result<Self, WalletError> {
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        Ok(MovementRequest {
            user,
            movement,
            amount,
            reference,
        })
    }

    /// The answer when `earlier` is already written under this reference: `earlier` itself if
    /// it is the same movement (same user, direction and amount), else
    /// [`WalletError::ReferenceConflict`].
    pub fn repeat(&self, earlier: LedgerEntry) -> Result<LedgerEntry, WalletError> {
        let same = earlier.user == self.user
            && earlier.movement == self.movement
            && earlier.amount == self.amount;
        if same {
            Ok(earlier)
        } else {
            Err(WalletError::ReferenceConflict {
                reference: self.reference.clone(),
            })
        }
    }

    /// The balance after this movement applied to `balance`: refuses a debit larger than the
    /// balance ([`WalletError::InsufficientFunds`]) and a credit that would overflow.
    pub fn balance_after(&self, balance: Money) -> Result<Money, WalletError> {
        match self.movement {
            Movement::Credit => Ok(balance.checked_add(self.amount)?),
            Movement::Debit => {
                balance
                    .checked_sub(self.amount)
                    .map_err(|_| WalletError::InsufficientFunds {
                        balance,
                        requested: self.amount,
                    })
            }
        }
    }

    /// The ledger entry this movement writes, leaving `balance_after`, at `at`.
    pub fn entry(&self, balance_after: Money, at: Timestamp) -> LedgerEntry {
        LedgerEntry {
            user: self.user,
            movement: self.movement,
            amount: self.amount,
            balance_after,
            reference: self.reference.clone(),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::ports::wallet::LedgerRef;

    #[test]
    fn movements_are_stored_by_name() {
        for movement in [Movement::Credit, Movement::Debit] {
            assert_eq!(movement_named(movement.name()), Some(movement));
        }
        assert_eq!(movement_named("refund"), None);
    }

    fn request(movement: Movement, minor: i64, reference: &LedgerRef) -> MovementRequest<'_> {
        let amount = Money::new(minor, Currency::KRW).unwrap();
        MovementRequest::new(UserId::new(), movement, amount, reference).unwrap()
    }

    #[test]
    fn zero_amounts_are_refused() {
        let reference = LedgerRef::new("r").unwrap();
        let zero = Money::zero(Currency::KRW);
        let refused = MovementRequest::new(UserId::new(), Movement::Credit, zero, &reference);
        assert!(matches!(refused, Err(WalletError::ZeroAmount)));
    }

    #[test]
    fn a_debit_never_takes_the_balance_below_zero() {
        let reference = LedgerRef::new("r").unwrap();
        let balance = Money::new(100, Currency::KRW).unwrap();
        let debit = request(Movement::Debit, 100, &reference);
        assert!(debit.balance_after(balance).unwrap().is_zero());
        let too_much = request(Movement::Debit, 101, &reference);
        assert!(matches!(
            too_much.balance_after(balance),
            Err(WalletError::InsufficientFunds { .. })
        ));
        let credit = request(Movement::Credit, 1, &reference);
        assert_eq!(credit.balance_after(balance).unwrap().minor(), 101);
        let overflow = Money::new(i64::MAX, Currency::KRW).unwrap();
        assert!(matches!(
            credit.balance_after(overflow),
            Err(WalletError::Money(_))
        ));
    }

    #[test]
    fn a_repeat_answers_with_the_same_movement_or_a_conflict() {
        let reference = LedgerRef::new("payment:1:debit").unwrap();
        let debit = request(Movement::Debit, 5, &reference);
        let written = debit.entry(
            Money::new(10, Currency::KRW).unwrap(),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(debit.repeat(written.clone()).unwrap(), written);
        let other = MovementRequest {
            movement: Movement::Credit,
            ..debit
        };
        assert!(matches!(
            other.repeat(written),
            Err(WalletError::ReferenceConflict { .. })
        ));
    }
}
