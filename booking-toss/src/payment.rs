//! The Payment object Toss returns from confirm, cancel and look-up, read leniently.
//!
//! Unknown fields are ignored and unknown enum values kept ([`Status::Other`] and the like):
//! Toss adds both without a new API version. Amounts are whole numbers ([`Amount`]); times are
//! kept as Toss writes them (ISO 8601 with an offset) and parsed on request.

use booking_core::clock::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::amount::Amount;
use crate::methods::{Card, EasyPay, GiftCertificate, MobilePhone, Transfer, VirtualAccount};
use crate::open_enum::open_enum;
use crate::secret::DepositSecret;

open_enum!(
    /// Where a payment stands at Toss.
    Status {
        /// Created; the buyer has not authenticated yet.
        Ready => "READY",
        /// The buyer authenticated; a confirm completes the payment (within 10 minutes).
        InProgress => "IN_PROGRESS",
        /// Virtual account issued; the buyer has not deposited yet.
        WaitingForDeposit => "WAITING_FOR_DEPOSIT",
        /// Approved.
        Done => "DONE",
        /// Approved, then cancelled in full.
        Canceled => "CANCELED",
        /// Approved, then cancelled in part.
        PartialCanceled => "PARTIAL_CANCELED",
        /// Approval failed.
        Aborted => "ABORTED",
        /// Not confirmed in time; voided.
        Expired => "EXPIRED",
    }
);

open_enum!(
    /// The kind of payment.
    PaymentType {
        /// A one-off payment.
        Normal => "NORMAL",
        /// A payment on a stored billing key.
        Billing => "BILLING",
        /// A BrandPay payment.
        Brandpay => "BRANDPAY",
    }
);

open_enum!(
    /// The payment method, as Toss labels it (in Korean).
    Method {
        /// Card (`카드`).
        Card => "카드",
        /// Virtual account (`가상계좌`).
        VirtualAccount => "가상계좌",
        /// Easy pay (`간편결제`).
        EasyPay => "간편결제",
        /// Mobile phone (`휴대폰`).
        MobilePhone => "휴대폰",
        /// Bank transfer (`계좌이체`).
        Transfer => "계좌이체",
        /// Culture gift certificate (`문화상품권`).
        CultureGiftCertificate => "문화상품권",
        /// Book gift certificate (`도서문화상품권`).
        BookGiftCertificate => "도서문화상품권",
        /// Game gift certificate (`게임문화상품권`).
        GameGiftCertificate => "게임문화상품권",
        /// Foreign easy pay (`해외간편결제`, older responses).
        ForeignEasyPay => "해외간편결제",
    }
);

open_enum!(
    /// Where one cancellation stands (asynchronous only for foreign easy-pay cancels).
    CancelStatus {
        /// Applied.
        Done => "DONE",
        /// Requested, not applied yet.
        InProgress => "IN_PROGRESS",
        /// Failed.
        Aborted => "ABORTED",
    }
);

/// A payment as Toss reports it.
///
/// Only the fields every sample carries are required (`paymentKey`, `orderId`, `status`); the
/// rest are optional because partial payloads exist (webhook examples, the cancel guide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Toss's key for the payment; it stays the same through every status change.
    pub payment_key: String,
    /// The merchant's order id (6 to 64 of `[A-Za-z0-9_-]`).
    pub order_id: String,
    /// Where the payment stands.
    pub status: Status,
    /// The merchant id.
    #[serde(default)]
    pub m_id: Option<String>,
    /// The API version the response follows, e.g. `2022-11-16`.
    #[serde(default)]
    pub version: Option<String>,
    /// The kind of payment.
    #[serde(default, rename = "type")]
    pub payment_type: Option<PaymentType>,
    /// The order's name as shown to the buyer.
    #[serde(default)]
    pub order_name: Option<String>,
    /// ISO 4217 currency, `KRW` for domestic payments.
    #[serde(default)]
    pub currency: Option<String>,
    /// The method used; absent on payments that expired before one was chosen.
    #[serde(default)]
    pub method: Option<Method>,
    /// When the payment was created, e.g. `2021-01-01T10:01:30+09:00`.
    #[serde(default)]
    pub requested_at: Option<String>,
    /// When it was approved.
    #[serde(default)]
    pub approved_at: Option<String>,
    /// Whether escrow is used.
    #[serde(default)]
    pub use_escrow: Option<bool>,
    /// The key of the last approve or cancel transaction.
    #[serde(default)]
    pub last_transaction_key: Option<String>,
    /// The amount approved; it never changes.
    #[serde(default)]
    pub total_amount: Option<Amount>,
    /// What can still be cancelled.
    #[serde(default)]
    pub balance_amount: Option<Amount>,
    /// Supply value (without VAT).
    #[serde(default)]
    pub supplied_amount: Option<Amount>,
    /// VAT.
    #[serde(default)]
    pub vat: Option<Amount>,
    /// Tax-free part.
    #[serde(default)]
    pub tax_free_amount: Option<Amount>,
    /// Tax-exempt part.
    #[serde(default)]
    pub tax_exemption_amount: Option<Amount>,
    /// Whether it counts as a culture expense.
    #[serde(default)]
    pub culture_expense: Option<bool>,
    /// Whether a partial cancel is allowed (if `false`, only a full cancel).
    #[serde(default)]
    pub is_partial_cancelable: Option<bool>,
    /// Cancellations, oldest first.
    #[serde(default)]
    pub cancels: Option<Vec<Cancel>>,
    /// Card details, for card payments.
    #[serde(default)]
    pub card: Option<Card>,
    /// Virtual-account details.
    #[serde(default)]
    pub virtual_account: Option<VirtualAccount>,
    /// Bank-transfer details.
    #[serde(default)]
    pub transfer: Option<Transfer>,
    /// Mobile-phone details.
    #[serde(default)]
    pub mobile_phone: Option<MobilePhone>,
    /// Gift-certificate details.
    #[serde(default)]
    pub gift_certificate: Option<GiftCertificate>,
    /// Easy-pay details.
    #[serde(default)]
    pub easy_pay: Option<EasyPay>,
    /// Foreign easy-pay details, as sent.
    #[serde(default)]
    pub foreign_easy_pay: Option<Value>,
    /// The value a virtual account's deposit webhook must carry (redacted in `Debug`).
    #[serde(default)]
    pub secret: Option<DepositSecret>,
    /// The receipt page.
    #[serde(default)]
    pub receipt: Option<Link>,
    /// The checkout page.
    #[serde(default)]
    pub checkout: Option<Link>,
    /// Cash receipt, as sent.
    #[serde(default)]
    pub cash_receipt: Option<Value>,
    /// Cash receipts, as sent.
    #[serde(default)]
    pub cash_receipts: Option<Value>,
    /// Card-company instant discount, as sent.
    #[serde(default)]
    pub discount: Option<Value>,
    /// ISO 3166 alpha-2 country of the payment.
    #[serde(default)]
    pub country: Option<String>,
    /// Why the payment failed, for `ABORTED` and `EXPIRED` payments.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The merchant's metadata, as sent.
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl Payment {
    /// `approvedAt` as an instant, if present and well formed.
    pub fn approved_at_time(&self) -> Option<Timestamp> {
        parse_time(self.approved_at.as_deref())
    }

    /// `requestedAt` as an instant, if present and well formed.
    pub fn requested_at_time(&self) -> Option<Timestamp> {
        parse_time(self.requested_at.as_deref())
    }

    /// The cancellations (none for `null` or a missing field).
    pub fn cancel_list(&self) -> &[Cancel] {
        self.cancels.as_deref().unwrap_or_default()
    }

    /// Whether money was collected: `DONE`, `PARTIAL_CANCELED` or `CANCELED`.
    pub fn was_approved(&self) -> bool {
        matches!(
            self.status,
            Status::Done | Status::PartialCanceled | Status::Canceled
        )
    }
}

/// An ISO 8601 time with an offset (`2021-01-01T10:05:40+09:00`), if `text` is one.
pub(crate) fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    text?.parse().ok()
}

/// One cancellation of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    /// The amount returned.
    pub cancel_amount: Amount,
    /// Why.
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// Tax-free part of the cancel.
    #[serde(default)]
    pub tax_free_amount: Option<Amount>,
    /// Tax-exempt part of the cancel.
    #[serde(default)]
    pub tax_exemption_amount: Option<Amount>,
    /// The balance left after this cancel.
    #[serde(default)]
    pub refundable_amount: Option<Amount>,
    /// Bank-transfer instant discount cancelled.
    #[serde(default)]
    pub transfer_discount_amount: Option<Amount>,
    /// Easy-pay discount cancelled.
    #[serde(default)]
    pub easy_pay_discount_amount: Option<Amount>,
    /// When it was applied.
    #[serde(default)]
    pub canceled_at: Option<String>,
    /// The cancel transaction's key.
    #[serde(default)]
    pub transaction_key: Option<String>,
    /// The cancel receipt's key.
    #[serde(default)]
    pub receipt_key: Option<String>,
    /// Where the cancel stands (`DONE` for domestic payments).
    #[serde(default)]
    pub cancel_status: Option<CancelStatus>,
    /// The id of an asynchronous cancel request.
    #[serde(default)]
    pub cancel_request_id: Option<String>,
}

impl Cancel {
    /// `canceledAt` as an instant, if present and well formed.
    pub fn canceled_at_time(&self) -> Option<Timestamp> {
        parse_time(self.canceled_at.as_deref())
    }
}

/// Toss's error object: in an error response's body and in `Payment.failure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The machine-readable code, e.g. `REJECT_CARD_PAYMENT`; match on this, never on the
    /// message.
    pub code: String,
    /// Text for people (Korean by default); Toss changes it without notice.
    #[serde(default)]
    pub message: String,
}

/// A link object (`{"url": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The address.
    #[serde(default)]
    pub url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_kept_and_unknown_fields_ignored() {
        let json = r#"{"paymentKey":"k","orderId":"order-1","status":"ON_HOLD","method":"포인트",
            "type":"NORMAL","brandNewField":{"x":1},"totalAmount":1000}"#;
        let payment: Payment = serde_json::from_str(json).unwrap();
        assert_eq!(payment.status, Status::Other("ON_HOLD".to_owned()));
        assert_eq!(payment.method, Some(Method::Other("포인트".to_owned())));
        assert_eq!(payment.payment_type, Some(PaymentType::Normal));
        assert_eq!(payment.total_amount, Some(Amount::new(1000).unwrap()));
        let back = serde_json::to_value(&payment).unwrap();
        assert_eq!(back["status"], "ON_HOLD");
        assert_eq!(back["method"], "포인트");
    }

    #[test]
    fn times_parse_with_their_offset() {
        let t = parse_time(Some("2021-01-01T10:05:40+09:00")).unwrap();
        assert_eq!(t.to_string(), "2021-01-01T01:05:40Z");
        assert_eq!(parse_time(Some("2022-01-01T00:00:00.000000")), None);
        assert_eq!(parse_time(None), None);
    }
}
