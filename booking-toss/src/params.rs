//! Request bodies: [`ConfirmParams`] and [`CancelParams`], checked before anything is sent.

use serde::{Deserialize, Serialize};

use crate::TossError;
use crate::amount::Amount;

/// The body of `POST /v1/payments/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmParams {
    /// The key from the success redirect (1 to 200 characters).
    pub payment_key: String,
    /// Our order id for this payment attempt (6 to 64 of `[A-Za-z0-9_-]`).
    pub order_id: String,
    /// The amount to approve: the stored order's total, never the redirect's claim.
    pub amount: Amount,
}

impl ConfirmParams {
    /// Checks the fields against Toss's limits.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] naming the first bad field.
    pub fn validate(&self) -> Result<(), TossError> {
        validate_payment_key(&self.payment_key)?;
        validate_order_id(&self.order_id)
    }
}

/// The body of `POST /v1/payments/{paymentKey}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelParams {
    /// Why (1 to 200 characters); shown to the buyer.
    pub cancel_reason: String,
    /// How much; `None` cancels the whole balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_amount: Option<Amount>,
    /// Where to refund a virtual-account payment (required for those, ignored otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_receive_account: Option<RefundReceiveAccount>,
    /// The tax-free part of the cancel (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_free_amount: Option<Amount>,
}

impl CancelParams {
    /// A full cancel.
    pub fn full(reason: impl Into<String>) -> Self {
        CancelParams {
            cancel_reason: reason.into(),
            cancel_amount: None,
            refund_receive_account: None,
            tax_free_amount: None,
        }
    }

    /// A partial cancel of `amount`.
    pub fn partial(reason: impl Into<String>, amount: Amount) -> Self {
        CancelParams {
            cancel_amount: Some(amount),
            ..CancelParams::full(reason)
        }
    }

    /// Checks the fields against Toss's limits.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] naming the first bad field.
    pub fn validate(&self) -> Result<(), TossError> {
        let reason = self.cancel_reason.chars().count();
        if !(1..=200).contains(&reason) {
            return Err(TossError::InvalidRequest(format!(
                "cancelReason is 1 to 200 characters, got {reason}"
            )));
        }
        if self.cancel_amount == Some(Amount::ZERO) {
            return Err(TossError::InvalidRequest(
                "cancelAmount must be positive (omit it to cancel the whole balance)".to_owned(),
            ));
        }
        match &self.refund_receive_account {
            Some(account) => account.validate(),
            None => Ok(()),
        }
    }
}

/// The account a virtual-account refund is paid into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReceiveAccount {
    /// The bank (code or name as Toss lists them).
    pub bank: String,
    /// Digits only, at most 20.
    pub account_number: String,
    /// The holder's name, at most 60 characters.
    pub holder_name: String,
}

impl RefundReceiveAccount {
    /// Checks the fields against Toss's limits.
    ///
    /// # Errors
    /// [`TossError::InvalidRequest`] naming the first bad field.
    pub fn validate(&self) -> Result<(), TossError> {
        if self.bank.is_empty() {
            return Err(TossError::InvalidRequest(
                "refundReceiveAccount.bank is empty".into(),
            ));
        }
        let number = &self.account_number;
        if number.is_empty() || number.len() > 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TossError::InvalidRequest(
                "refundReceiveAccount.accountNumber is 1 to 20 digits".into(),
            ));
        }
        let holder = self.holder_name.chars().count();
        if !(1..=60).contains(&holder) {
            return Err(TossError::InvalidRequest(
                "refundReceiveAccount.holderName is 1 to 60 characters".into(),
            ));
        }
        Ok(())
    }
}

/// Checks a payment key: 1 to 200 printable ASCII characters.
pub(crate) fn validate_payment_key(key: &str) -> Result<(), TossError> {
    if (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(TossError::InvalidRequest(
            "paymentKey is 1 to 200 printable ASCII characters".to_owned(),
        ))
    }
}

/// Checks an order id: 6 to 64 of `[A-Za-z0-9_-]`.
pub(crate) fn validate_order_id(id: &str) -> Result<(), TossError> {
    if (6..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(TossError::InvalidRequest(
            "orderId is 6 to 64 of A-Z a-z 0-9 _ -".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_serialize_as_toss_reads_them() {
        let confirm = ConfirmParams {
            payment_key: "pk".into(),
            order_id: "order-1".into(),
            amount: Amount::new(15_000).unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&confirm).unwrap(),
            r#"{"paymentKey":"pk","orderId":"order-1","amount":15000}"#
        );
        let full = CancelParams::full("buyer asked");
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"cancelReason":"buyer asked"}"#
        );
        let part = CancelParams::partial("one seat", Amount::new(3_000).unwrap());
        assert_eq!(
            serde_json::to_string(&part).unwrap(),
            r#"{"cancelReason":"one seat","cancelAmount":3000}"#
        );
    }

    #[test]
    fn limits_are_checked_before_sending() {
        assert!(validate_order_id("a4CWyWY5m89PNh7xJwhk1").is_ok());
        assert!(validate_order_id("short").is_err());
        assert!(validate_order_id("with space").is_err());
        assert!(validate_payment_key("").is_err());
        assert!(CancelParams::full("").validate().is_err());
        assert!(CancelParams::full("가".repeat(200)).validate().is_ok());
        assert!(CancelParams::partial("x", Amount::ZERO).validate().is_err());
        let mut with_account = CancelParams::full("refund");
        with_account.refund_receive_account = Some(RefundReceiveAccount {
            bank: "88".into(),
            account_number: "123-456".into(),
            holder_name: "홍길동".into(),
        });
        assert!(with_account.validate().is_err());
    }
}
