//! What the crash-and-restart test checks after each crash or restart, read from PostgreSQL
//! and from the fake Toss over HTTP (after the server's sweeper and reconciler ran once):
//!
//! 1. **No seat sold twice.** Every seat that a paid order (paid, confirmed, partly refunded,
//!    or with a refund in flight) has not had refunded is `Sold` to that order, and to no
//!    other; every `Sold` seat belongs to such an order.
//! 2. **Every paid order has its tickets** (the same walk), and its payment kept exactly
//!    `total - refunded`.
//! 3. **No hold stuck.** Every `Held` seat's hold runs past the sweeper's cutoff (now minus the
//!    30 s grace period and a second of slack), or its order is awaiting a payment whose window
//!    is still open; likewise every active stock hold. Unpaid orders whose deadline passed the
//!    cutoff are gone, unless a payment of theirs is confirming.
//! 4. **Wallets equal their ledgers.** Each wallet's balance is its ledger's credits minus its
//!    debits, and its last entry's `balance_after`.
//! 5. **Money taken is money recorded.** Points: a payment recorded as collected has its charge
//!    in the ledger and exactly its cancelled amount credited back; any other points payment
//!    has taken nothing net. Card: the fake Toss lives in the server's process, so a `kill -9`
//!    wipes it; what survives is the payments the store recorded. For every card payment the
//!    running fake still knows, its balance equals the store's (a payment the store does not
//!    count as collected has a balance of 0 there), so the fake's captured total equals the
//!    paid orders' card totals. Card payments of earlier processes are counted, not compared.
//!
//! A refund in flight when a process died (the order `Cancelling`) may have reached the gateway
//! before its answer was recorded: its payment may hold either the recorded balance or that
//! balance less the refund. Such refunds are counted; nothing in the server's upkeep sends them
//! again (the buyer's repeated cancel or refund does), so they may remain at the end.
//!
//! Payments still confirming or unknown when a process died are *in doubt* until the
//! reconciler settles them (it waits until a confirm is two minutes stale): they are counted,
//! and with [`Strictness::Settled`] there must be none.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use booking_core::machine::{OrderState, PaymentState};
use booking_core::ports::store::{ItemRef, OrderRecord, PaymentRecord};
use serde_json::Value;
use sqlx::{PgConnection, Row};

/// The sweeper's grace period (the default policy) and a little slack for the upkeep period.
const CUTOFF_NS: i64 = 31_000_000_000;
/// The fake Toss's secret key, as the server mounts it: `Basic base64("{key}:")`.
const FAKE_TOSS_AUTH: &str = "Basic dGVzdF9za19ib29raW5nX3NlcnZlcl9mYWtlOg==";

/// Whether payments in doubt may remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Right after a crash: the reconciler has not had its chance yet.
    InDoubtAllowed,
    /// At the end: everything settled.
    Settled,
}

/// What a check saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) paid_orders: usize,
    pub(crate) seats_sold: usize,
    pub(crate) in_doubt: usize,
    pub(crate) refunds_in_flight: usize,
    pub(crate) card_compared: usize,
    pub(crate) card_forgotten: usize,
    pub(crate) card_captured: i64,
    pub(crate) points_kept: i64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} paid orders, {} seats sold, {} payments in doubt, {} refunds in flight, {} card payments compared with the fake Toss (₩{} captured), {} from earlier processes, ₩{} kept in points",
            self.paid_orders,
            self.seats_sold,
            self.in_doubt,
            self.refunds_in_flight,
            self.card_compared,
            self.card_captured,
            self.card_forgotten,
            self.points_kept
        )
    }
}

fn now_ns() -> i64 {
    jiff::Timestamp::now()
        .as_nanosecond()
        .try_into()
        .unwrap_or(i64::MAX)
}

async fn records<T: serde::de::DeserializeOwned>(db: &mut PgConnection, table: &str) -> Vec<T> {
    let sql = format!("SELECT record FROM {table}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db)
        .await
        .expect("read records")
        .into_iter()
        .map(|row| {
            let value: Value = row.get("record");
            serde_json::from_value(value).expect("a stored record")
        })
        .collect()
}

/// Runs every check; panics with what broke.
pub(crate) async fn check(db: &mut PgConnection, base: &str, strictness: Strictness) -> Report {
    let mut report = Report::default();
    // One snapshot of every table: orders, payments, seats and ledgers as of one instant.
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *db)
        .await
        .expect("begin");
    let cutoff = now_ns() - CUTOFF_NS;
    let orders: Vec<OrderRecord> = records(db, "orders").await;
    let payments: Vec<PaymentRecord> = records(db, "payments").await;
    let by_id: BTreeMap<_, _> = orders.iter().map(|o| (o.order.id(), o)).collect();
    let tickets: Vec<(uuid::Uuid, String, Option<uuid::Uuid>, Option<i64>)> =
        sqlx::query_as("SELECT id, state, order_id, expires_ns FROM tickets")
            .fetch_all(&mut *db)
            .await
            .expect("tickets");

    // 1 and 2: seats of paid orders.
    let mut owner: BTreeMap<uuid::Uuid, uuid::Uuid> = BTreeMap::new();
    for record in &orders {
        let order = &record.order;
        let holds_seats = match order.state() {
            OrderState::Paid { .. }
            | OrderState::Confirmed { .. }
            | OrderState::PartiallyRefunded { .. } => true,
            OrderState::Cancelling { captured, .. } => captured,
            _ => false,
        };
        if !holds_seats {
            continue;
        }
        report.paid_orders += 1;
        for line in record.lines.iter().filter(|l| l.refunded_units == 0) {
            if let ItemRef::Ticket { ticket } = line.item {
                let seat = *ticket.as_uuid();
                let before = owner.insert(seat, *order.id().as_uuid());
                assert!(
                    before.is_none(),
                    "seat {seat} sold to {before:?} and {}",
                    order.id()
                );
            }
        }
    }
    for (id, state, order, expires) in &tickets {
        match state.as_str() {
            "Sold" => {
                report.seats_sold += 1;
                assert_eq!(
                    owner.get(id),
                    order.as_ref(),
                    "seat {id} is sold outside a paid order"
                );
            }
            "Held" => {
                let expires = expires.unwrap_or(i64::MIN);
                let order =
                    order.and_then(|o| by_id.get(&booking_core::ids::OrderId::from_uuid(o)));
                let paying = order.is_some_and(|o| {
                    matches!(o.order.state(), OrderState::AwaitingPayment { .. })
                        && o.order.expires_at().as_nanosecond() > i128::from(cutoff)
                });
                assert!(
                    expires > cutoff || paying,
                    "seat {id}: a hold stuck past the sweeper ({order:?})"
                );
            }
            _ => {}
        }
        if owner.contains_key(id) {
            assert_eq!(state, "Sold", "seat {id} of a paid order is {state}");
        }
    }
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stock_holds WHERE status = 'active' AND expires_ns <= $1",
    )
    .bind(cutoff)
    .fetch_one(&mut *db)
    .await
    .expect("stock holds");
    assert_eq!(stuck, 0, "stock holds stuck past the sweeper");

    // 2 and 5: what each payment kept.
    let mut in_doubt = BTreeSet::new();
    let payment_of: BTreeMap<_, _> = payments.iter().map(|p| (p.payment.id(), p)).collect();
    for p in &payments {
        if matches!(
            p.payment.state(),
            PaymentState::Confirming | PaymentState::Unknown
        ) {
            in_doubt.insert(p.payment.order());
        }
    }
    for record in &orders {
        let order = &record.order;
        let unpaid = matches!(
            order.state(),
            OrderState::Pending | OrderState::AwaitingPayment { .. }
        );
        if unpaid && order.expires_at().as_nanosecond() <= i128::from(cutoff) {
            assert!(
                in_doubt.contains(&order.id()),
                "order {} stuck unpaid past its deadline",
                order.id()
            );
        }
        if let OrderState::Paid { payment }
        | OrderState::Confirmed { payment }
        | OrderState::PartiallyRefunded { payment }
        | OrderState::Refunded { payment } = order.state()
        {
            let kept = payment_of
                .get(&payment)
                .map(|p| p.payment.balance().minor());
            assert_eq!(
                kept,
                Some(order.total().minor() - order.refunded().minor()),
                "order {}: payment and order disagree",
                order.id()
            );
        }
    }
    report.in_doubt = in_doubt.len();
    if strictness == Strictness::Settled {
        assert_eq!(report.in_doubt, 0, "payments still in doubt at the end");
    }

    // 4: wallets.
    let wallets: Vec<(uuid::Uuid, String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT w.user_id, w.currency, w.balance,
                COALESCE(SUM(CASE l.movement WHEN 'credit' THEN l.amount ELSE -l.amount END), 0)::bigint,
                (SELECT balance_after FROM wallet_ledger x WHERE x.user_id = w.user_id AND x.currency = w.currency ORDER BY seq DESC LIMIT 1)
         FROM wallets w LEFT JOIN wallet_ledger l ON l.user_id = w.user_id AND l.currency = w.currency
         GROUP BY w.user_id, w.currency, w.balance",
    )
    .fetch_all(&mut *db)
    .await
    .expect("wallets");
    for (user, currency, balance, ledger, last) in wallets {
        assert_eq!(
            balance, ledger,
            "wallet {user} {currency}: balance is not its ledger"
        );
        assert_eq!(
            Some(balance),
            last.or(Some(0)),
            "wallet {user}: last entry disagrees"
        );
    }

    // 5: points.
    let ledger: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT reference, movement, amount FROM wallet_ledger WHERE reference LIKE 'points:%'",
    )
    .fetch_all(&mut *db)
    .await
    .expect("ledger");
    sqlx::query("COMMIT")
        .execute(&mut *db)
        .await
        .expect("commit");
    let http = reqwest::Client::new();
    for p in &payments {
        let state = p.payment.state();
        let doubt = matches!(state, PaymentState::Confirming | PaymentState::Unknown);
        let collected = matches!(
            state,
            PaymentState::Done | PaymentState::PartiallyCanceled | PaymentState::Canceled
        );
        let expected = if collected {
            p.payment.balance().minor()
        } else {
            0
        };
        // A refund in flight may have reached the gateway before its answer was recorded.
        let in_flight = match by_id.get(&p.payment.order()).map(|o| o.order.state()) {
            Some(OrderState::Cancelling {
                refund,
                captured: true,
                ..
            }) => {
                report.refunds_in_flight += 1;
                refund.minor()
            }
            _ => 0,
        };
        let agrees = |net: i64| net == expected || (in_flight > 0 && net == expected - in_flight);
        if p.gateway == "points" {
            let net: i64 = ledger
                .iter()
                .filter(|(r, _, _)| r.starts_with(&format!("points:{}:", p.order_ref)))
                .map(|(_, m, a)| if m == "debit" { *a } else { -*a })
                .sum();
            if !doubt {
                assert!(
                    agrees(net),
                    "points payment {} ({state:?}) kept {net}, not {expected}",
                    p.order_ref
                );
            }
            report.points_kept += net;
            continue;
        }
        let answer = http
            .get(format!(
                "{base}/fake-toss/v1/payments/orders/{}",
                p.order_ref
            ))
            .header("authorization", FAKE_TOSS_AUTH)
            .send()
            .await
            .expect("the fake Toss answers");
        if answer.status() == 404 {
            report.card_forgotten += 1;
            continue;
        }
        let bytes = answer.bytes().await.expect("a Toss payment");
        let fake: Value = serde_json::from_slice(&bytes).expect("a Toss payment");
        let captured = match fake["status"].as_str() {
            Some("DONE" | "PARTIAL_CANCELED" | "CANCELED") => {
                fake["balanceAmount"].as_i64().unwrap_or(0)
            }
            _ => 0,
        };
        if !doubt {
            assert!(
                agrees(captured),
                "card payment {} ({state:?}): the fake Toss holds {captured}, not {expected}",
                p.order_ref
            );
        }
        report.card_compared += 1;
        report.card_captured += captured;
    }
    report
}
