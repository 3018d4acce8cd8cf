//! Method details of a [`Payment`](crate::Payment): card, virtual account, easy pay, transfer,
//! mobile phone, gift certificate. Every field is optional, and unknown ones are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::amount::Amount;
use crate::open_enum::open_enum;

open_enum!(
    /// Where a card payment stands with the card company.
    AcquireStatus {
        /// Not requested yet.
        Ready => "READY",
        /// Requested.
        Requested => "REQUESTED",
        /// Done.
        Completed => "COMPLETED",
        /// Cancellation requested.
        CancelRequested => "CANCEL_REQUESTED",
        /// Cancelled.
        Canceled => "CANCELED",
    }
);

open_enum!(
    /// Where a virtual account's refund stands.
    RefundStatus {
        /// No refund.
        None => "NONE",
        /// Under way.
        Pending => "PENDING",
        /// Failed.
        Failed => "FAILED",
        /// Partly failed.
        PartialFailed => "PARTIAL_FAILED",
        /// Done.
        Completed => "COMPLETED",
    }
);

/// Card details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// The amount charged to the card.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// The issuer's code.
    #[serde(default)]
    pub issuer_code: Option<String>,
    /// The acquirer's code.
    #[serde(default)]
    pub acquirer_code: Option<String>,
    /// The masked card number.
    #[serde(default)]
    pub number: Option<String>,
    /// Installment months (0 = paid at once).
    #[serde(default)]
    pub installment_plan_months: Option<u32>,
    /// The card company's approval number.
    #[serde(default)]
    pub approve_no: Option<String>,
    /// Whether card points were used.
    #[serde(default)]
    pub use_card_point: Option<bool>,
    /// `신용` (credit), `체크` (debit), `기프트` (gift) or `미확인` (unknown).
    #[serde(default)]
    pub card_type: Option<String>,
    /// `개인` (personal), `법인` (corporate) or `미확인` (unknown).
    #[serde(default)]
    pub owner_type: Option<String>,
    /// Where the charge stands with the card company.
    #[serde(default)]
    pub acquire_status: Option<AcquireStatus>,
    /// Whether installments are interest-free.
    #[serde(default)]
    pub is_interest_free: Option<bool>,
    /// Who pays installment interest.
    #[serde(default)]
    pub interest_payer: Option<String>,
}

/// Virtual-account details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccount {
    /// `일반` (normal) or `고정` (fixed).
    #[serde(default)]
    pub account_type: Option<String>,
    /// The account number to deposit to.
    #[serde(default)]
    pub account_number: Option<String>,
    /// The bank's code.
    #[serde(default)]
    pub bank_code: Option<String>,
    /// The depositor's name as registered.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The deposit deadline (ISO 8601 with offset).
    #[serde(default)]
    pub due_date: Option<String>,
    /// Where a refund stands.
    #[serde(default)]
    pub refund_status: Option<RefundStatus>,
    /// Whether the account expired.
    #[serde(default)]
    pub expired: Option<bool>,
    /// Settlement status.
    #[serde(default)]
    pub settlement_status: Option<String>,
    /// The account refunds go to, as sent.
    #[serde(default)]
    pub refund_receive_account: Option<Value>,
    /// Who deposited.
    #[serde(default)]
    pub depositor_name: Option<String>,
}

/// Easy-pay details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EasyPay {
    /// The provider, e.g. `토스페이`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The amount paid through the provider.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// The provider's discount.
    #[serde(default)]
    pub discount_amount: Option<Amount>,
}

/// Bank-transfer details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The bank's code.
    #[serde(default)]
    pub bank_code: Option<String>,
    /// Settlement status.
    #[serde(default)]
    pub settlement_status: Option<String>,
}

/// Mobile-phone details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MobilePhone {
    /// The (masked) phone number.
    #[serde(default)]
    pub customer_mobile_phone: Option<String>,
    /// Settlement status.
    #[serde(default)]
    pub settlement_status: Option<String>,
    /// The receipt page.
    #[serde(default)]
    pub receipt_url: Option<String>,
}

/// Gift-certificate details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GiftCertificate {
    /// The approval number.
    #[serde(default)]
    pub approve_no: Option<String>,
    /// Settlement status.
    #[serde(default)]
    pub settlement_status: Option<String>,
}
