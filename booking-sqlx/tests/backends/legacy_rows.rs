//! Rows written before the stored form was versioned still read, on every SQL backend: an
//! order as it was stored before refunds kept their answers (`settled_refunds`, a pending
//! refund without `requested` and `sending_until`) and a payment without `failure`, inserted
//! as raw JSON by each backend's test, read back through the store, then rewritten in the
//! current form by the next write.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use booking_core::clock::Timestamp;
use booking_core::ids::{EventId, PaymentId, TicketId, UserId};
use booking_core::machine::Payment;
use booking_core::ports::backend::stored::{encode_order, encode_payment};
use booking_core::ports::gateway::GatewayOrderId;
use booking_core::ports::store::{
    BookingStore, Cas, ItemRef, OrderPage, OrderRecord, PaymentRecord, PendingRefund, RefundAnswer,
};
use booking_core::testkit::fixtures::{krw, pending_order};
use booking_core::testkit::start_time;
use serde_json::{Value, json};

/// An order and its payment as rows of the previous stored form, and the records they read as.
#[derive(Debug)]
pub(crate) struct LegacyRows {
    /// The order the row reads as.
    pub(crate) order: OrderRecord,
    /// The order's `record` column as the previous form wrote it.
    pub(crate) order_json: String,
    /// The payment the row reads as.
    pub(crate) payment: PaymentRecord,
    /// The payment's `record` column as the previous form wrote it.
    pub(crate) payment_json: String,
}

/// A JSON object's fields.
fn fields(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    value.as_object_mut().unwrap()
}

impl LegacyRows {
    /// A pending order of one seat with a payment, one settled refund (request `r-1`) and one
    /// in flight (request `r-2`).
    pub(crate) fn new() -> Self {
        let now = start_time();
        let expires = now.checked_add(Duration::from_secs(600)).unwrap();
        let seat = ItemRef::Ticket {
            ticket: TicketId::new(),
        };
        let mut order = pending_order(EventId::new(), UserId::new(), &[seat], 10_000, now, expires);
        let payment_id = PaymentId::new();
        let machine = Payment::new(payment_id, order.order.id(), krw(10_000), expires);
        let order_ref = GatewayOrderId::for_payment(payment_id);
        let payment = PaymentRecord::new(machine, "fake", order_ref, order.user, now);
        order.payment = Some(payment_id);
        order.refunds_started = 2;
        let line = order.lines[0].line.clone();
        let amount = |n: i64| json!({"amount": n, "currency": "KRW"});
        // The records are built from their own serde form: what a caller outside booking-core
        // can build them from.
        let pending: PendingRefund = serde_json::from_value(json!({
            "seq": 2, "lines": [[line, 1]], "amount": amount(10_000), "reason": "changed plans",
            "request_id": "r-2", "requested": [], "sending_until": null,
        }))
        .unwrap();
        order.pending_refund = Some(pending);
        let answer: RefundAnswer = serde_json::from_value(json!({
            "seq": 1, "request_id": "r-1", "requested": [],
            "outcome": {"outcome": "refunded", "amount": amount(3_000)},
        }))
        .unwrap();
        order.refund_answers = vec![answer];

        // The previous form: no version, settled refunds by request id instead of answers, a
        // pending refund without the lines asked for or its sender's lease.
        let mut stored: Value = serde_json::from_str(&encode_order(&order).unwrap()).unwrap();
        let object = fields(&mut stored);
        object.remove("v");
        object.remove("refund_answers");
        object.insert(
            "settled_refunds".to_owned(),
            json!([{"request_id": "r-1", "seq": 1, "amount": amount(3_000)}]),
        );
        let in_flight = fields(object.get_mut("pending_refund").unwrap());
        in_flight.remove("requested");
        in_flight.remove("sending_until");

        let mut stored_payment: Value =
            serde_json::from_str(&encode_payment(&payment).unwrap()).unwrap();
        let object = fields(&mut stored_payment);
        object.remove("v");
        object.remove("failure");
        LegacyRows {
            order,
            order_json: stored.to_string(),
            payment,
            payment_json: stored_payment.to_string(),
        }
    }

    /// The order's deadline as its `expires_ns` column stores it.
    pub(crate) fn expires_ns(&self) -> i64 {
        nanos(self.order.order.expires_at())
    }

    /// Checks that `store`, holding the rows, reads them as the records they stand for, and
    /// that a write of the order keeps it so.
    pub(crate) async fn check(&self, store: &dyn BookingStore) {
        let id = self.order.order.id();
        assert_eq!(store.order(id).await.unwrap(), self.order);
        let page = store
            .orders_of_user(self.order.user, &OrderPage::first(10))
            .await
            .unwrap();
        assert_eq!(page, vec![self.order.clone()]);
        let payment_id = self.payment.payment.id();
        assert_eq!(store.payment(payment_id).await.unwrap(), self.payment);
        assert_eq!(
            store
                .payment_by_order_ref(&self.payment.order_ref)
                .await
                .unwrap(),
            self.payment
        );
        // A write stores the record in the current form; it reads back unchanged.
        let change = Cas::new(self.order.version(), self.order.clone());
        store
            .update_order(&change, &[], start_time())
            .await
            .unwrap();
        assert_eq!(store.order(id).await.unwrap(), self.order);
    }
}

/// The stored version of a `record` column: `v`, or 1 without it.
pub(crate) fn stored_version(record: &str) -> u64 {
    let value: Value = serde_json::from_str(record).unwrap();
    value.get("v").map_or(1, |v| v.as_u64().unwrap())
}

/// `at` in nanoseconds since the Unix epoch, as the stores' `*_ns` columns keep it.
fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap()
}

/// Inserts the rows of a [`LegacyRows`] on `$pool` with the database's statements, reads them
/// through `$store`, and checks that the next write stored the current form: `$orders` inserts
/// (id, event, user, hold, state, deadline in ns, payment id, record) with version 0,
/// `$payments` (id, order id, order ref, state, record) with version 0, and `$record` reads an
/// order's `record` as text by id. A macro, because the binds are the same on every database
/// and sqlx's are typed per database.
macro_rules! check_legacy_rows {
    ($pool:expr, $store:expr, $orders:expr, $payments:expr, $record:expr $(,)?) => {{
        use booking_core::machine::Kind;

        let legacy = $crate::legacy_rows::LegacyRows::new();
        let (order, payment) = (&legacy.order, &legacy.payment);
        sqlx::query($orders)
            .bind(order.order.id().as_uuid())
            .bind(order.event.as_uuid())
            .bind(order.user.as_uuid())
            .bind(order.hold.as_uuid())
            .bind(order.order.state().kind().name())
            .bind(legacy.expires_ns())
            .bind(payment.payment.id().as_uuid())
            .bind(&legacy.order_json)
            .execute($pool)
            .await
            .expect("insert the order row");
        sqlx::query($payments)
            .bind(payment.payment.id().as_uuid())
            .bind(order.order.id().as_uuid())
            .bind(payment.order_ref.as_str())
            .bind(payment.payment.state().name())
            .bind(&legacy.payment_json)
            .execute($pool)
            .await
            .expect("insert the payment row");
        legacy.check($store).await;
        let rewritten: String = sqlx::query_scalar($record)
            .bind(order.order.id().as_uuid())
            .fetch_one($pool)
            .await
            .expect("read the order row");
        assert_eq!($crate::legacy_rows::stored_version(&rewritten), 2);
    }};
}
pub(crate) use check_legacy_rows;
