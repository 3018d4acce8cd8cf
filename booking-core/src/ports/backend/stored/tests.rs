#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::clock::Timestamp;
use crate::discount::{Cart, CartLine, Customer, LineId, QuotePolicy, RuleSet, quote};
use crate::ids::{CouponId, EventId, HoldId, OrderId, PaymentId, StockId, TicketId, UserId};
use crate::machine::{Order, Payment};
use crate::money::{Currency, Money};
use crate::ports::gateway::{GatewayOrderId, PaymentKey};
use crate::ports::store::{
    FailureCause, ItemRef, OrderLine, PaymentFailure, PendingRefund, RefundAnswer, RefundOutcome,
};

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn at() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

/// An order with every field of the record set: a seat and two units of stock, a coupon, a
/// payment, a refund in flight and one ended refund.
fn order() -> OrderRecord {
    let seat = LineId::new("seat");
    let ga = LineId::new("ga");
    let lines = vec![
        OrderLine::new(
            seat.clone(),
            ItemRef::Ticket {
                ticket: TicketId::from_uuid(uuid(1)),
            },
        ),
        OrderLine::new(
            ga.clone(),
            ItemRef::Stock {
                stock: StockId::from_uuid(uuid(2)),
                quantity: 2,
            },
        ),
    ];
    let cart = Cart::new(
        Currency::KRW,
        vec![
            CartLine::new(seat.clone(), "R", krw(1000), 1),
            CartLine::new(ga.clone(), "GA", krw(500), 2),
        ],
    )
    .unwrap();
    let rules = RuleSet::new(Vec::new(), QuotePolicy::default()).unwrap();
    let quoted = quote(&cart, &Customer::guest(), at(), &[], &rules).unwrap();
    let machine = Order::new(OrderId::from_uuid(uuid(3)), quoted.total(), at());
    let mut record = OrderRecord::new(
        machine,
        UserId::from_uuid(uuid(4)),
        EventId::from_uuid(uuid(5)),
        HoldId::from_uuid(uuid(6)),
        lines,
        quoted,
        at(),
    );
    record.coupons = vec![CouponId::from_uuid(uuid(7))];
    record.payment = Some(PaymentId::from_uuid(uuid(8)));
    record.refunds_started = 2;
    record.pending_refund = Some(PendingRefund {
        seq: 2,
        lines: vec![(ga.clone(), 1)],
        amount: krw(500),
        reason: "changed plans".to_owned(),
        request_id: Some("r-2".to_owned()),
        requested: vec![(ga, Some(1))],
        sending_until: Some(at()),
    });
    record.remember_refund(RefundAnswer {
        seq: 1,
        request_id: Some("r-1".to_owned()),
        requested: vec![(seat, None)],
        outcome: RefundOutcome::Rejected {
            code: "NOT_CANCELABLE".to_owned(),
            message: "settled".to_owned(),
        },
    });
    record
}

/// A payment with every field of the record set.
fn payment() -> PaymentRecord {
    let machine = Payment::new(
        PaymentId::from_uuid(uuid(8)),
        OrderId::from_uuid(uuid(3)),
        krw(2000),
        at(),
    );
    let order_ref = GatewayOrderId::for_payment(PaymentId::from_uuid(uuid(8)));
    let mut record =
        PaymentRecord::new(machine, "fake", order_ref, UserId::from_uuid(uuid(4)), at());
    record.payment_key = Some(PaymentKey::new("key-1").unwrap());
    record.failure = Some(PaymentFailure::new(
        FailureCause::Rejected,
        "REJECT_CARD_PAYMENT",
        "declined",
    ));
    record
}

fn money(n: i64) -> serde_json::Value {
    json!({"amount": n, "currency": "KRW"})
}

/// The quote of [`order`] as it is stored.
fn stored_quote() -> serde_json::Value {
    let line = |id: &str, unit: i64, quantity: u32| {
        json!({
            "line": id, "unit_price": money(unit), "quantity": quantity,
            "gross": money(1000), "discount": money(0), "net": money(1000),
        })
    };
    json!({
        "currency": "KRW", "subtotal": money(2000), "discount": money(0), "total": money(2000),
        "lines": [line("seat", 1000, 1), line("ga", 500, 2)],
        "applied": [], "not_applied": [], "unknown_coupons": [],
        "selection": {"method": "no_conflict"},
    })
}

/// The fields [`order`] is stored with in every version.
fn stored_order_fields() -> serde_json::Value {
    json!({
        "order": {
            "id": "00000000-0000-0000-0000-000000000003", "state": {"state": "Pending"},
            "total": money(2000), "refunded": money(0),
            "expires_at": "2027-01-15T08:00:00Z", "version": 0,
        },
        "user": "00000000-0000-0000-0000-000000000004",
        "event": "00000000-0000-0000-0000-000000000005",
        "hold": "00000000-0000-0000-0000-000000000006",
        "lines": [
            {"line": "seat", "refunded_units": 0,
             "item": {"kind": "ticket", "ticket": "00000000-0000-0000-0000-000000000001"}},
            {"line": "ga", "refunded_units": 0,
             "item": {"kind": "stock", "stock": "00000000-0000-0000-0000-000000000002",
                      "quantity": 2}},
        ],
        "quote": stored_quote(),
        "coupons": ["00000000-0000-0000-0000-000000000007"],
        "payment": "00000000-0000-0000-0000-000000000008",
        "refunds_started": 2,
        "created_at": "2027-01-15T08:00:00Z",
    })
}

/// `base` with the fields of `extra` added.
fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(base), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Version 2 is pinned: the JSON an order and a payment are stored as, field by field. A
/// change here is a change of the stored form, and needs a new version.
#[test]
fn version_two_is_written_as_pinned() {
    let expected = with(
        stored_order_fields(),
        json!({
            "v": 2,
            "pending_refund": {
                "seq": 2, "lines": [["ga", 1]], "amount": money(500), "reason": "changed plans",
                "request_id": "r-2", "requested": [["ga", 1]],
                "sending_until": "2027-01-15T08:00:00Z",
            },
            "refund_answers": [{
                "seq": 1, "request_id": "r-1", "requested": [["seat", null]],
                "outcome": {"outcome": "rejected", "code": "NOT_CANCELABLE", "message": "settled"},
            }],
        }),
    );
    let written: serde_json::Value =
        serde_json::from_str(&encode_order(&order()).unwrap()).unwrap();
    assert_eq!(written, expected);

    let expected = json!({
        "v": 2,
        "payment": {
            "id": "00000000-0000-0000-0000-000000000008",
            "order": "00000000-0000-0000-0000-000000000003", "state": "Ready",
            "amount": money(2000), "canceled": money(0),
            "expires_at": "2027-01-15T08:00:00Z", "version": 0,
        },
        "gateway": "fake", "order_ref": "00000000000000000000000000000008",
        "payment_key": "key-1", "customer": "00000000-0000-0000-0000-000000000004",
        "updated_at": "2027-01-15T08:00:00Z",
        "failure": {"cause": "Rejected", "code": "REJECT_CARD_PAYMENT", "message": "declined"},
    });
    let written: serde_json::Value =
        serde_json::from_str(&encode_payment(&payment()).unwrap()).unwrap();
    assert_eq!(written, expected);
}

#[test]
fn records_read_back_as_written_from_text_bytes_and_values() {
    let (order, payment) = (order(), payment());
    let text = encode_order(&order).unwrap();
    assert_eq!(decode_order(text.as_str()).unwrap(), order);
    assert_eq!(decode_order(&text).unwrap(), order);
    assert_eq!(decode_order(text.as_bytes()).unwrap(), order);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(decode_order(value).unwrap(), order);
    let text = encode_payment(&payment).unwrap();
    assert_eq!(decode_payment(&text).unwrap(), payment);
    assert_eq!(decode_payment(&text.into_bytes()).unwrap(), payment);
}

/// A row written before refunds kept their answers: the settled refund becomes a refunded
/// answer whose requested lines are unknown (empty), and the refund in flight reads as sent
/// by nobody.
#[test]
fn an_order_written_before_refund_answers_still_reads() {
    let stored = with(
        stored_order_fields(),
        json!({
            "pending_refund": {
                "seq": 2, "lines": [["ga", 1]], "amount": money(500), "reason": "changed plans",
                "request_id": "r-2",
            },
            "settled_refunds": [{"request_id": "r-1", "seq": 1, "amount": money(1000)}],
        }),
    );
    let read = decode_order(stored.to_string().as_str()).unwrap();
    let expected = order();
    assert_eq!(read.order, expected.order);
    assert_eq!(read.lines, expected.lines);
    assert_eq!(read.quote, expected.quote);
    assert_eq!(
        (read.user, read.event, read.hold, read.payment),
        (
            expected.user,
            expected.event,
            expected.hold,
            expected.payment
        )
    );
    assert_eq!(read.coupons, expected.coupons);
    assert_eq!(read.refunds_started, 2);
    let pending = read.pending_refund.unwrap();
    assert_eq!(pending.request_id.as_deref(), Some("r-2"));
    assert!(
        pending.requested.is_empty(),
        "the lines asked for are unknown"
    );
    assert_eq!(pending.sending_until, None, "nobody is sending it");
    assert_eq!(
        read.refund_answers,
        vec![RefundAnswer {
            seq: 1,
            request_id: Some("r-1".to_owned()),
            requested: Vec::new(),
            outcome: RefundOutcome::Refunded { amount: krw(1000) },
        }]
    );
}

/// A row written after refunds kept their answers and before the form was versioned reads
/// as the record it was.
#[test]
fn an_unversioned_order_with_refund_answers_reads_as_it_was() {
    let mut stored: serde_json::Value =
        serde_json::from_str(&encode_order(&order()).unwrap()).unwrap();
    stored.as_object_mut().unwrap().remove("v");
    assert_eq!(decode_order(stored).unwrap(), order());
}

#[test]
fn a_payment_written_before_failures_were_kept_still_reads() {
    let mut stored: serde_json::Value =
        serde_json::from_str(&encode_payment(&payment()).unwrap()).unwrap();
    let fields = stored.as_object_mut().unwrap();
    fields.remove("v");
    fields.remove("failure");
    let read = decode_payment(stored).unwrap();
    let mut expected = payment();
    expected.failure = None;
    assert_eq!(read, expected);
}

#[test]
fn unknown_versions_and_broken_rows_are_refused() {
    let mut newer: serde_json::Value =
        serde_json::from_str(&encode_order(&order()).unwrap()).unwrap();
    newer["v"] = json!(3);
    assert!(matches!(
        decode_order(newer.clone()),
        Err(StoredFormatError::UnknownVersion { what: "order", version }) if version == "3"
    ));
    newer["v"] = json!("2");
    assert!(matches!(
        decode_order(newer),
        Err(StoredFormatError::UnknownVersion { .. })
    ));
    assert!(matches!(
        decode_payment("{not json"),
        Err(StoredFormatError::NotJson {
            what: "payment",
            ..
        })
    ));
    // Version 2 holds exactly its fields: an extra one means a newer writer forgot to bump
    // the version, and is refused rather than dropped.
    let mut extra: serde_json::Value =
        serde_json::from_str(&encode_order(&order()).unwrap()).unwrap();
    extra["surprise"] = json!(1);
    assert!(matches!(
        decode_order(extra),
        Err(StoredFormatError::Malformed {
            what: "order",
            version: 2,
            ..
        })
    ));
}
