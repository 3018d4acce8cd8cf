//! [`PointsGateway`]: a payment gateway that debits a wallet.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::clock::Clock;
use crate::money::Money;
use crate::ports::backend::gateway::validate_cancel_reason;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayCancel, GatewayError, GatewayOrderId, GatewayPayment,
    GatewayStatus, PaymentGateway, PaymentKey,
};
use crate::ports::wallet::{LedgerEntry, LedgerRef, Movement, WalletError, WalletStore};

const KEY_PREFIX: &str = "points_";

/// Pays orders from the buyer's wallet.
///
/// Every movement is a ledger entry whose reference is derived from the order id (the charge)
/// or from the order id and the cancel's idempotency key (each refund), so the wallet's
/// once-per-reference rule makes confirm and cancel idempotent and `lookup` can rebuild a
/// payment from the ledger alone, after a crash too.
///
/// Refunds of one payment are serialised inside this process: a second cancel of the same
/// payment while one is in flight gets a `Retryable` `CANCEL_IN_PROGRESS`. Across processes,
/// the booking service's compare-and-set on the payment record is what keeps two refunds of
/// one payment from racing.
#[derive(Debug)]
pub struct PointsGateway {
    wallet: Arc<dyn WalletStore>,
    clock: Arc<dyn Clock>,
    cancelling: Mutex<HashSet<GatewayOrderId>>,
}

/// Removes an order from the in-flight cancel set when the cancel ends, however it ends.
struct CancelSlot<'a> {
    set: &'a Mutex<HashSet<GatewayOrderId>>,
    order_ref: GatewayOrderId,
}

impl Drop for CancelSlot<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.order_ref);
    }
}

fn charge_ref(order_ref: &GatewayOrderId) -> Result<LedgerRef, GatewayError> {
    LedgerRef::new(format!("points:{order_ref}:charge")).map_err(wallet_error)
}

fn cancel_prefix(order_ref: &GatewayOrderId) -> String {
    format!("points:{order_ref}:cancel:")
}

fn wallet_error(err: WalletError) -> GatewayError {
    match err {
        WalletError::InsufficientFunds { balance, requested } => GatewayError::Rejected {
            code: "INSUFFICIENT_POINTS".to_owned(),
            message: format!("balance {balance} is less than {requested}"),
        },
        WalletError::ReferenceConflict { reference } => GatewayError::Rejected {
            code: "INVALID_REQUEST".to_owned(),
            message: format!("{reference} was already used for a different amount"),
        },
        WalletError::ZeroAmount | WalletError::InvalidReference(_) | WalletError::Money(_) => {
            GatewayError::InvalidRequest(err.to_string())
        }
        // The wallet may or may not have written: only a lookup can tell.
        other => GatewayError::Unknown {
            reason: other.to_string(),
        },
    }
}

impl PointsGateway {
    /// A gateway paying from `wallet`, stamping entries with `clock`.
    pub fn new(wallet: Arc<dyn WalletStore>, clock: Arc<dyn Clock>) -> Self {
        PointsGateway {
            wallet,
            clock,
            cancelling: Mutex::default(),
        }
    }

    /// The payment key this gateway uses for `order_ref`.
    pub fn payment_key(order_ref: &GatewayOrderId) -> Result<PaymentKey, GatewayError> {
        PaymentKey::new(format!("{KEY_PREFIX}{order_ref}"))
    }

    fn order_ref_of(key: &PaymentKey) -> Result<GatewayOrderId, GatewayError> {
        key.as_str()
            .strip_prefix(KEY_PREFIX)
            .ok_or(GatewayError::NotFound)
            .and_then(|rest| GatewayOrderId::new(rest).map_err(|_| GatewayError::NotFound))
    }

    /// The charge entry of `order_ref`.
    async fn charge(&self, order_ref: &GatewayOrderId) -> Result<LedgerEntry, GatewayError> {
        self.wallet
            .find(&charge_ref(order_ref)?)
            .await
            .map_err(wallet_error)?
            .ok_or(GatewayError::NotFound)
    }

    /// Rebuilds the payment for `order_ref` from its charge and refund entries.
    async fn rebuild(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        let charge = self.charge(order_ref).await?;
        let prefix = cancel_prefix(order_ref);
        let cancels: Vec<LedgerEntry> = self
            .wallet
            .ledger(charge.user, charge.amount.currency())
            .await
            .map_err(wallet_error)?
            .into_iter()
            .filter(|e| e.movement == Movement::Credit && e.reference.as_str().starts_with(&prefix))
            .collect();
        payment_from(order_ref, &charge, &cancels)
    }
}

fn payment_from(
    order_ref: &GatewayOrderId,
    charge: &LedgerEntry,
    cancels: &[LedgerEntry],
) -> Result<GatewayPayment, GatewayError> {
    let refunded = Money::sum(charge.amount.currency(), cancels.iter().map(|e| e.amount))
        .map_err(|e| GatewayError::InvalidRequest(e.to_string()))?;
    let balance = charge
        .amount
        .saturating_sub(refunded)
        .map_err(|e| GatewayError::InvalidRequest(e.to_string()))?;
    let status = if cancels.is_empty() {
        GatewayStatus::Done
    } else if balance.is_zero() {
        GatewayStatus::Canceled
    } else {
        GatewayStatus::PartialCanceled
    };
    Ok(GatewayPayment {
        payment_key: PointsGateway::payment_key(order_ref)?,
        order_ref: order_ref.clone(),
        status,
        total: charge.amount,
        balance,
        approved_at: Some(charge.at),
        cancels: cancels
            .iter()
            .map(|e| GatewayCancel {
                amount: e.amount,
                reason: "points refund".to_owned(),
                transaction_key: e.reference.to_string(),
                canceled_at: e.at,
            })
            .collect(),
    })
}

#[async_trait]
impl PaymentGateway for PointsGateway {
    fn name(&self) -> &'static str {
        "points"
    }

    async fn confirm(&self, request: &ConfirmRequest) -> Result<GatewayPayment, GatewayError> {
        if request.payment_key != Self::payment_key(&request.order_ref)? {
            return Err(GatewayError::Rejected {
                code: "INVALID_REQUEST".to_owned(),
                message: "payment key does not belong to this order".to_owned(),
            });
        }
        // The charge reference is derived from the order id, so a repeated confirm (whatever its
        // idempotency key) finds the first debit instead of debiting again.
        self.wallet
            .debit(
                request.customer,
                request.amount,
                &charge_ref(&request.order_ref)?,
                self.clock.now(),
            )
            .await
            .map_err(wallet_error)?;
        self.rebuild(&request.order_ref).await
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<GatewayPayment, GatewayError> {
        validate_cancel_reason(&request.reason)?;
        let order_ref = Self::order_ref_of(&request.payment_key)?;
        let refund_ref = LedgerRef::new(format!(
            "{}{}",
            cancel_prefix(&order_ref),
            request.idempotency_key
        ))
        .map_err(wallet_error)?;
        if self
            .wallet
            .find(&refund_ref)
            .await
            .map_err(wallet_error)?
            .is_some()
        {
            return self.rebuild(&order_ref).await;
        }
        let _slot = {
            let mut set = self
                .cancelling
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !set.insert(order_ref.clone()) {
                return Err(GatewayError::Retryable {
                    code: "CANCEL_IN_PROGRESS".to_owned(),
                    message: "another cancel of this payment is in progress".to_owned(),
                    retry_after: None,
                });
            }
            CancelSlot {
                set: &self.cancelling,
                order_ref: order_ref.clone(),
            }
        };
        let before = self.rebuild(&order_ref).await?;
        let amount = request.amount.unwrap_or(before.balance);
        if amount.is_zero() || amount > before.balance {
            return Err(GatewayError::Rejected {
                code: "NOT_CANCELABLE_AMOUNT".to_owned(),
                message: format!("cannot cancel {amount} of a balance of {}", before.balance),
            });
        }
        let charge = self.charge(&order_ref).await?;
        self.wallet
            .credit(charge.user, amount, &refund_ref, self.clock.now())
            .await
            .map_err(wallet_error)?;
        self.rebuild(&order_ref).await
    }

    async fn lookup(&self, order_ref: &GatewayOrderId) -> Result<GatewayPayment, GatewayError> {
        self.rebuild(order_ref).await
    }
}

#[cfg(test)]
#[cfg(not(loom))] // these tests run on tokio, which does not build under loom
mod tests;
