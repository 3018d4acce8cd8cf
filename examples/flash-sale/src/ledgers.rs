//! The gateways' side of the money: what the fake card gateway and the points ledgers say was
//! charged and refunded, read from their own records rather than from the store.

use std::error::Error;

use booking_core::money::{Currency, Money};
use booking_core::ports::wallet::Movement;

use crate::invariants::sum;
use crate::plan::Method;
use crate::sale::Sale;

/// Card money from the fake gateway's own records: charged, refunded, payments charged.
pub(crate) fn card_totals(sale: &Sale) -> Result<(Money, Money, u64), Box<dyn Error>> {
    let mut charged = Vec::new();
    let mut refunded = Vec::new();
    for intent in sale.outcomes.iter().flat_map(|o| &o.intents) {
        let Some(payment) = sale.world.card.payment(&intent.order_ref) else {
            continue;
        };
        if payment.approved_at.is_some() {
            charged.push(payment.total);
            refunded.extend(payment.cancels.iter().map(|c| c.amount));
        }
    }
    let count = u64::try_from(charged.len())?;
    Ok((sum(charged)?, sum(refunded)?, count))
}

/// Points money from the ledgers, and whether every ledger is a consistent running sum.
pub(crate) async fn points_totals(sale: &Sale) -> Result<(Money, Money, bool), Box<dyn Error>> {
    let wallet = &sale.world.wallet;
    let mut charged = Vec::new();
    let mut refunded = Vec::new();
    let mut consistent = true;
    for plan in sale.outcomes.iter().map(|o| &o.plan) {
        if plan.method != Method::Points {
            continue;
        }
        let mut balance = Money::zero(Currency::KRW);
        for entry in wallet.ledger(plan.user, Currency::KRW).await? {
            let reference = entry.reference.as_str();
            let next = match entry.movement {
                Movement::Credit => balance.checked_add(entry.amount),
                Movement::Debit => balance.checked_sub(entry.amount),
            };
            // A debit below zero fails here: the wallet went negative.
            consistent &= next.as_ref().is_ok_and(|b| *b == entry.balance_after);
            balance = entry.balance_after;
            match entry.movement {
                Movement::Debit if reference.ends_with(":charge") => charged.push(entry.amount),
                Movement::Credit if reference.contains(":cancel:") => refunded.push(entry.amount),
                _ => {}
            }
        }
        consistent &= wallet.balance(plan.user, Currency::KRW).await? == balance;
    }
    Ok((sum(charged)?, sum(refunded)?, consistent))
}
