//! What the fake Toss server knows, and the rules it applies: sessions, the confirm window,
//! approvals, cancels with balances, look-ups. Pure over a `now`; the routes lock it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::body::Bytes;
use booking_core::clock::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde_json::json;

use super::{FakeFault, FakeMethod, FakeOp, FakeTossStats, SentWebhook, SessionSpec};
use crate::amount::Amount;
use crate::methods::{AcquireStatus, Card, VirtualAccount};
use crate::params::{CancelParams, ConfirmParams};
use crate::payment::{Cancel, CancelStatus, Failure, Link, Method, Payment, PaymentType, Status};
use crate::secret::DepositSecret;

/// An answer, stored for idempotent replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Bytes,
}

impl Reply {
    pub(super) fn json(status: u16, value: &impl serde::Serialize) -> Reply {
        // Serializing the fake's own types cannot fail; an empty body would show if it did.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Reply {
            status,
            body: Bytes::from(body),
        }
    }

    /// Toss's error body for `code`, with its documented status and message.
    pub(super) fn error(code: &str) -> Reply {
        let status = crate::codes::documented(code).map_or(400, |d| d.status);
        Reply::error_with(status, code)
    }

    pub(super) fn error_with(status: u16, code: &str) -> Reply {
        Reply::json(status, &json!({ "code": code, "message": message(code) }))
    }

    pub(super) fn is_success(&self) -> bool {
        (200..=299).contains(&self.status)
    }
}

/// The messages of the samples Toss documents; a generic one for the rest.
fn message(code: &str) -> &'static str {
    match code {
        "ALREADY_PROCESSED_PAYMENT" => "이미 처리된 결제 입니다.",
        "PROVIDER_ERROR" => "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.",
        "REJECT_CARD_PAYMENT" => "한도초과 혹은 잔액부족으로 결제에 실패했습니다.",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING" => {
            "결제가 완료되지 않았어요. 다시 시도해주세요."
        }
        "NOT_FOUND_PAYMENT_SESSION" => "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
        "NOT_FOUND_PAYMENT" => "존재하지 않는 결제 입니다.",
        "INVALID_IDEMPOTENCY_KEY" => "멱등키는 300자 이하여야 합니다.",
        "IDEMPOTENT_REQUEST_PROCESSING" => "이전 멱등 요청이 처리중입니다.",
        "EXPIRED_PAYMENT" => "결제가 만료되었습니다. 다시 시도해주세요.",
        _ => "요청을 처리할 수 없습니다.",
    }
}

/// Identifies an idempotent request: key, method, path (one API key per fake).
pub(super) type RequestKey = (String, &'static str, String);

/// Where an idempotent request stands.
#[derive(Debug, Clone)]
pub(super) enum Handling {
    InFlight,
    Done(Reply),
}

#[derive(Debug)]
struct Record {
    payment: Payment,
    authenticated_at: Timestamp,
}

/// Everything the fake holds.
#[derive(Debug, Default)]
pub(super) struct State {
    payments: HashMap<String, Record>,
    by_order: HashMap<String, String>,
    pub(super) requests: HashMap<RequestKey, Handling>,
    pub(super) faults: HashMap<FakeOp, VecDeque<FakeFault>>,
    pub(super) stats: FakeTossStats,
    pub(super) webhooks: Vec<SentWebhook>,
    next_id: u64,
}

const KST_HOURS: i8 = 9;

/// A time as Toss writes it: `2021-01-01T10:05:40+09:00`.
pub(super) fn toss_time(at: Timestamp) -> String {
    at.to_zoned_datetime(TimeZone::fixed(Offset::constant(KST_HOURS)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A webhook's `createdAt`: Korean civil time without an offset, to the microsecond.
fn webhook_time(at: Timestamp) -> String {
    at.to_zoned_datetime(TimeZone::fixed(Offset::constant(KST_HOURS)))
        .strftime("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Supply value and VAT of `amount`: VAT is a tenth of the supply value, rounded half up.
fn supply_and_vat(amount: i64) -> (Amount, Amount) {
    let vat = amount.saturating_mul(2).saturating_add(11) / 22;
    let supplied = amount.saturating_sub(vat);
    (
        Amount::new(supplied).unwrap_or_default(),
        Amount::new(vat).unwrap_or_default(),
    )
}

fn value(amount: Option<Amount>) -> i64 {
    amount.map_or(0, Amount::value)
}

impl State {
    fn mint(&mut self, prefix: &str) -> String {
        self.next_id = self.next_id.saturating_add(1);
        format!("{prefix}{:020}", self.next_id)
    }

    /// The buyer authenticates in the payment window: a payment `IN_PROGRESS` for the order.
    /// Authenticating an order again returns the payment it has.
    pub(super) fn authenticate(&mut self, spec: &SessionSpec, now: Timestamp) -> Payment {
        if let Some(existing) = self
            .by_order
            .get(&spec.order_id)
            .and_then(|key| self.payments.get(key))
        {
            return existing.payment.clone();
        }
        let key = self.mint("tfake");
        let amount = spec.amount;
        let (supplied, vat) = supply_and_vat(amount.value());
        let method = match spec.method {
            FakeMethod::Card => Method::Card,
            FakeMethod::VirtualAccount => Method::VirtualAccount,
        };
        let card = (spec.method == FakeMethod::Card).then(|| Card {
            amount: Some(amount),
            issuer_code: Some("61".into()),
            acquirer_code: Some("31".into()),
            number: Some("12341234****123*".into()),
            installment_plan_months: Some(0),
            approve_no: Some("00000000".into()),
            use_card_point: Some(false),
            card_type: Some("신용".into()),
            owner_type: Some("개인".into()),
            acquire_status: Some(AcquireStatus::Ready),
            is_interest_free: Some(false),
            interest_payer: None,
        });
        let payment = Payment {
            payment_key: key.clone(),
            order_id: spec.order_id.clone(),
            status: Status::InProgress,
            m_id: Some("tosspayments".into()),
            version: Some("2022-11-16".into()),
            payment_type: Some(PaymentType::Normal),
            order_name: Some(spec.order_name.clone()),
            currency: Some("KRW".into()),
            method: Some(method),
            requested_at: Some(toss_time(now)),
            approved_at: None,
            use_escrow: Some(false),
            last_transaction_key: None,
            total_amount: Some(amount),
            balance_amount: Some(amount),
            supplied_amount: Some(supplied),
            vat: Some(vat),
            tax_free_amount: Some(Amount::ZERO),
            tax_exemption_amount: Some(Amount::ZERO),
            culture_expense: Some(false),
            is_partial_cancelable: Some(true),
            cancels: None,
            card,
            virtual_account: None,
            transfer: None,
            mobile_phone: None,
            gift_certificate: None,
            easy_pay: None,
            foreign_easy_pay: None,
            secret: None,
            receipt: Some(Link {
                url: Some(format!(
                    "https://dashboard.tosspayments.com/receipt/redirection?transactionId={key}&ref=PX"
                )),
            }),
            checkout: Some(Link {
                url: Some(format!(
                    "https://api.tosspayments.com/v1/payments/{key}/checkout"
                )),
            }),
            cash_receipt: None,
            cash_receipts: None,
            discount: None,
            country: Some("KR".into()),
            failure: None,
            metadata: None,
        };
        self.by_order.insert(spec.order_id.clone(), key.clone());
        self.payments.insert(
            key,
            Record {
                payment: payment.clone(),
                authenticated_at: now,
            },
        );
        payment
    }

    /// Voids an authenticated payment left unconfirmed past the window (lazily, on access).
    fn expire_if_due(&mut self, key: &str, now: Timestamp, window: Duration) {
        let Some(record) = self.payments.get_mut(key) else {
            return;
        };
        let due = record
            .authenticated_at
            .checked_add(window)
            .is_ok_and(|deadline| deadline <= now);
        if record.payment.status == Status::InProgress && due {
            record.payment.status = Status::Expired;
            record.payment.failure = Some(Failure {
                code: "EXPIRED_PAYMENT".into(),
                message: message("EXPIRED_PAYMENT").into(),
            });
            let payment = record.payment.clone();
            self.status_changed(&payment, now);
        }
    }

    /// `POST /v1/payments/confirm`. `decline` plays a card refusal with that code.
    pub(super) fn confirm(
        &mut self,
        body: &[u8],
        now: Timestamp,
        window: Duration,
        decline: Option<&str>,
    ) -> Reply {
        let Ok(params) = serde_json::from_slice::<ConfirmParams>(body) else {
            return Reply::error("INVALID_REQUEST");
        };
        if params.validate().is_err() {
            return Reply::error("INVALID_REQUEST");
        }
        self.expire_if_due(&params.payment_key, now, window);
        let Some(record) = self.payments.get_mut(&params.payment_key) else {
            return Reply::error("NOT_FOUND_PAYMENT_SESSION");
        };
        if record.payment.order_id != params.order_id
            || record.payment.total_amount != Some(params.amount)
        {
            // Toss does not document the code of a mismatched confirm; INVALID_REQUEST is
            // what merchants report.
            return Reply::error("INVALID_REQUEST");
        }
        match record.payment.status {
            Status::InProgress => {}
            Status::Expired => return Reply::error("NOT_FOUND_PAYMENT_SESSION"),
            _ => return Reply::error("ALREADY_PROCESSED_PAYMENT"),
        }
        let transaction = self.mint("txrd_fake");
        let account_number = format!("X{:013}", self.next_id);
        let Some(record) = self.payments.get_mut(&params.payment_key) else {
            return Reply::error("NOT_FOUND_PAYMENT_SESSION");
        };
        let payment = &mut record.payment;
        if let Some(code) = decline {
            payment.status = Status::Aborted;
            payment.failure = Some(Failure {
                code: code.to_owned(),
                message: message(code).to_owned(),
            });
            let payment = payment.clone();
            self.status_changed(&payment, now);
            return Reply::error(code);
        }
        payment.last_transaction_key = Some(transaction);
        if payment.method == Some(Method::VirtualAccount) {
            payment.status = Status::WaitingForDeposit;
            payment.secret = Some(DepositSecret::new(format!("ps_{}", payment.payment_key)));
            payment.virtual_account = Some(VirtualAccount {
                account_type: Some("일반".into()),
                account_number: Some(account_number),
                bank_code: Some("20".into()),
                customer_name: Some("구매자".into()),
                due_date: Some(toss_time(
                    now.checked_add(Duration::from_secs(7 * 24 * 3600))
                        .unwrap_or(now),
                )),
                refund_status: Some(crate::methods::RefundStatus::None),
                expired: Some(false),
                settlement_status: Some("INCOMPLETED".into()),
                refund_receive_account: None,
                depositor_name: None,
            });
            self.stats.accounts_issued = self.stats.accounts_issued.saturating_add(1);
        } else {
            payment.status = Status::Done;
            payment.approved_at = Some(toss_time(now));
            self.stats.charges = self.stats.charges.saturating_add(1);
        }
        let payment = payment.clone();
        self.status_changed(&payment, now);
        Reply::json(200, &payment)
    }

    /// The buyer pays into the virtual account of `order_id`: the payment is approved.
    pub(super) fn deposit(&mut self, order_id: &str, now: Timestamp) -> Reply {
        let Some(key) = self.by_order.get(order_id).cloned() else {
            return Reply::error("NOT_FOUND_PAYMENT");
        };
        let Some(record) = self.payments.get_mut(&key) else {
            return Reply::error("NOT_FOUND_PAYMENT");
        };
        if record.payment.status != Status::WaitingForDeposit {
            return Reply::error("INVALID_REQUEST");
        }
        let payment = &mut record.payment;
        payment.status = Status::Done;
        payment.approved_at = Some(toss_time(now));
        if let Some(account) = payment.virtual_account.as_mut() {
            account.depositor_name = Some("구매자".into());
        }
        let payment = payment.clone();
        self.stats.charges = self.stats.charges.saturating_add(1);
        let secret = payment.secret.as_ref().map(|s| s.expose().to_owned());
        self.status_changed(&payment, now);
        let transaction = self.mint("txdp_fake");
        self.record_webhook(
            "DEPOSIT_CALLBACK",
            json!({
                "createdAt": webhook_time(now),
                "secret": secret,
                "status": "DONE",
                "transactionKey": transaction,
                "orderId": payment.order_id,
            }),
            now,
        );
        Reply::json(200, &payment)
    }

    /// `POST /v1/payments/{paymentKey}/cancel`.
    pub(super) fn cancel(&mut self, key: &str, body: &[u8], now: Timestamp) -> Reply {
        let Ok(params) = serde_json::from_slice::<CancelParams>(body) else {
            return Reply::error("INVALID_REQUEST");
        };
        if params.validate().is_err() {
            return Reply::error("INVALID_REQUEST");
        }
        let transaction = self.mint("txca_fake");
        let Some(record) = self.payments.get_mut(key) else {
            return Reply::error("NOT_FOUND_PAYMENT");
        };
        let payment = &mut record.payment;
        match payment.status {
            Status::Done | Status::PartialCanceled => {}
            Status::Canceled => return Reply::error("ALREADY_CANCELED_PAYMENT"),
            _ => return Reply::error("NOT_CANCELABLE_PAYMENT"),
        }
        let balance = value(payment.balance_amount);
        let amount = params.cancel_amount.map_or(balance, Amount::value);
        if amount > balance {
            return Reply::error("NOT_CANCELABLE_AMOUNT");
        }
        if amount < balance && payment.is_partial_cancelable == Some(false) {
            return Reply::error("NOT_ALLOWED_PARTIAL_REFUND");
        }
        let left = balance.saturating_sub(amount);
        let (supplied, vat) = supply_and_vat(left);
        payment.balance_amount = Some(Amount::new(left).unwrap_or_default());
        payment.supplied_amount = Some(supplied);
        payment.vat = Some(vat);
        payment.status = if left == 0 {
            Status::Canceled
        } else {
            Status::PartialCanceled
        };
        payment.last_transaction_key = Some(transaction.clone());
        payment.cancels.get_or_insert_with(Vec::new).push(Cancel {
            cancel_amount: Amount::new(amount).unwrap_or_default(),
            cancel_reason: Some(params.cancel_reason),
            tax_free_amount: Some(Amount::ZERO),
            tax_exemption_amount: Some(Amount::ZERO),
            refundable_amount: payment.balance_amount,
            transfer_discount_amount: Some(Amount::ZERO),
            easy_pay_discount_amount: Some(Amount::ZERO),
            canceled_at: Some(toss_time(now)),
            transaction_key: Some(transaction),
            receipt_key: None,
            cancel_status: Some(CancelStatus::Done),
            cancel_request_id: None,
        });
        let payment = payment.clone();
        self.stats.refunds = self.stats.refunds.saturating_add(1);
        self.status_changed(&payment, now);
        Reply::json(200, &payment)
    }

    /// `GET /v1/payments/{paymentKey}`.
    pub(super) fn by_key(&mut self, key: &str, now: Timestamp, window: Duration) -> Reply {
        self.expire_if_due(key, now, window);
        match self.payments.get(key) {
            Some(record) => Reply::json(200, &record.payment),
            None => Reply::error("NOT_FOUND_PAYMENT"),
        }
    }

    /// `GET /v1/payments/orders/{orderId}`.
    pub(super) fn by_order(&mut self, order_id: &str, now: Timestamp, window: Duration) -> Reply {
        match self.by_order.get(order_id).cloned() {
            Some(key) => self.by_key(&key, now, window),
            None => Reply::error("NOT_FOUND_PAYMENT"),
        }
    }

    /// The payment `key` as it stands.
    pub(super) fn payment(&self, key: &str) -> Option<Payment> {
        self.payments.get(key).map(|r| r.payment.clone())
    }

    /// The payment of `order_id` as it stands.
    pub(super) fn payment_of_order(&self, order_id: &str) -> Option<Payment> {
        self.by_order
            .get(order_id)
            .and_then(|key| self.payment(key))
    }

    /// Records a `PAYMENT_STATUS_CHANGED` webhook for the statuses Toss sends one for.
    fn status_changed(&mut self, payment: &Payment, now: Timestamp) {
        let sends = matches!(
            payment.status,
            Status::Done
                | Status::Canceled
                | Status::PartialCanceled
                | Status::Aborted
                | Status::Expired
                | Status::WaitingForDeposit
        );
        if sends {
            let body = json!({
                "eventType": "PAYMENT_STATUS_CHANGED",
                "createdAt": webhook_time(now),
                "data": payment,
            });
            self.record_webhook("PAYMENT_STATUS_CHANGED", body, now);
        }
    }

    fn record_webhook(
        &mut self,
        event_type: &'static str,
        body: serde_json::Value,
        now: Timestamp,
    ) {
        let transmission_id = self.mint("whtrans_fake");
        self.webhooks.push(SentWebhook {
            transmission_id,
            event_type,
            transmission_time: toss_time(now),
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            deliveries: Vec::new(),
        });
    }

    /// Pops the next scripted fault for `op`.
    pub(super) fn next_fault(&mut self, op: FakeOp) -> Option<FakeFault> {
        self.faults.get_mut(&op).and_then(VecDeque::pop_front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_tax_look_like_the_samples() {
        let at: Timestamp = "2021-01-01T01:05:40Z".parse().unwrap();
        assert_eq!(toss_time(at), "2021-01-01T10:05:40+09:00");
        assert_eq!(webhook_time(at), "2021-01-01T10:05:40.000000");
        let (supplied, vat) = supply_and_vat(15_000);
        assert_eq!((supplied.value(), vat.value()), (13_636, 1_364));
        let (supplied, vat) = supply_and_vat(0);
        assert_eq!((supplied.value(), vat.value()), (0, 0));
    }
}
