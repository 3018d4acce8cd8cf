//! What the SQL wallet stores share: the ledger row as plain values and its decoding into a
//! [`LedgerEntry`], and the answer when a movement finds its reference taken.

use booking_core::ids::UserId;
use booking_core::money::{Currency, Money};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use booking_core::ports::backend::wallet::MovementRequest;
use booking_core::ports::backend::wallet::movement_named;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use booking_core::ports::wallet::WalletError;
use booking_core::ports::wallet::{LedgerEntry, LedgerRef};
use uuid::Uuid;

use crate::codec::instant;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::error::Backend;
use crate::error::DbError;

/// The `wallet_ledger` columns [`LedgerRow`] reads, for `SELECT {LEDGER_COLUMNS} FROM …`.
pub(crate) const LEDGER_COLUMNS: &str =
    "user_id, currency, movement, amount, balance_after, reference, at_ns";

/// A `wallet_ledger` row as the database returns it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LedgerRow {
    pub(crate) user_id: Uuid,
    pub(crate) currency: String,
    pub(crate) movement: String,
    pub(crate) amount: i64,
    pub(crate) balance_after: i64,
    pub(crate) reference: String,
    pub(crate) at_ns: i64,
}

impl LedgerRow {
    /// The entry the row stores; a row no valid entry could have written is corrupt.
    pub(crate) fn entry(self) -> Result<LedgerEntry, DbError> {
        let corrupt = |detail: String| DbError::corrupt("ledger entry", detail);
        let currency: Currency = self
            .currency
            .parse()
            .map_err(|_| corrupt(format!("currency {:?}", self.currency)))?;
        let money = |minor| Money::new(minor, currency).map_err(|e| corrupt(e.to_string()));
        let movement = movement_named(&self.movement)
            .ok_or_else(|| corrupt(format!("movement {:?}", self.movement)))?;
        Ok(LedgerEntry {
            user: UserId::from_uuid(self.user_id),
            movement,
            amount: money(self.amount)?,
            balance_after: money(self.balance_after)?,
            reference: LedgerRef::new(self.reference).map_err(|e| corrupt(e.to_string()))?,
            at: instant(self.at_ns)?,
        })
    }

    /// The ledger the rows store, in their order.
    pub(crate) fn entries(rows: Vec<LedgerRow>) -> Result<Vec<LedgerEntry>, DbError> {
        rows.into_iter().map(LedgerRow::entry).collect()
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// The answer when `request` lost the race for its reference and rolled back: the entry now
/// under the reference answers it (the same movement returns it, another is a conflict). An
/// entry that vanished again is a backend failure: entries are never deleted.
pub(crate) fn after_taken_reference(
    request: &MovementRequest<'_>,
    found: Option<LedgerEntry>,
    backend: Backend,
) -> Result<LedgerEntry, WalletError> {
    match found {
        Some(earlier) => request.repeat(earlier),
        None => Err(WalletError::Backend {
            backend: backend.name(),
            source: "the ledger reference was taken and then vanished".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use booking_core::ports::wallet::Movement;

    use super::*;

    fn row() -> LedgerRow {
        LedgerRow {
            user_id: Uuid::nil(),
            currency: "KRW".into(),
            movement: "debit".into(),
            amount: 5,
            balance_after: 10,
            reference: "payment:1:debit".into(),
            at_ns: 0,
        }
    }

    #[test]
    fn a_row_decodes_into_its_entry() {
        let entry = row().entry().unwrap();
        assert_eq!(entry.movement, Movement::Debit);
        assert_eq!(entry.amount.minor(), 5);
        assert_eq!(entry.balance_after.minor(), 10);
        assert_eq!(entry.reference.as_str(), "payment:1:debit");
    }

    #[test]
    fn rows_no_entry_could_write_are_corrupt() {
        let bad = [
            LedgerRow {
                currency: "XX".into(),
                ..row()
            },
            LedgerRow {
                movement: "refund".into(),
                ..row()
            },
            LedgerRow {
                amount: -1,
                ..row()
            },
            LedgerRow {
                reference: String::new(),
                ..row()
            },
        ];
        for row in bad {
            assert!(matches!(row.entry(), Err(DbError::Corrupt { .. })));
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_vanished_reference_is_a_backend_failure() {
        let reference = LedgerRef::new("r").unwrap();
        let amount = Money::new(1, Currency::KRW).unwrap();
        let request =
            MovementRequest::new(UserId::new(), Movement::Credit, amount, &reference).unwrap();
        let answer = after_taken_reference(&request, None, Backend::Postgres);
        assert!(matches!(
            answer,
            Err(WalletError::Backend {
                backend: "postgres",
                ..
            })
        ));
    }
}
