//! Event sequences on the ticket, order and payment machines: no panic, and after every step
//! the table, version and money invariants hold and the aggregate survives a JSON round trip.
#![no_main]

use booking_core::ids::{HoldId, OrderId, PaymentId, TicketId};
use booking_core::machine::{
    Order, OrderCommand, OrderState, Payment, PaymentCommand, PaymentState, Ticket, TicketCommand,
    TicketState,
};
use booking_core::money::{Currency, Money};
use booking_fuzz::{at, pick, small, step};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

/// Amounts the commands use: the total, parts of it, more than it, zero.
fn amount(u: &mut Unstructured<'_>, total: i64) -> Money {
    let minor = match pick(u, 5) {
        0 => total,
        1 => 0,
        2 => total.saturating_add(1),
        3 => i64::from(small(u, 1_000)),
        _ => total / 2,
    };
    Money::new(minor, Currency::KRW).unwrap_or(Money::zero(Currency::KRW))
}

fn check_order(order: &Order) {
    let (total, refunded) = (order.total().minor(), order.refunded().minor());
    assert!(
        (0..=total).contains(&refunded),
        "refunded {refunded} of {total}"
    );
    assert_eq!(order.remaining().minor(), total - refunded);
    match order.state() {
        OrderState::Refunded { .. } => assert_eq!(refunded, total),
        OrderState::PartiallyRefunded { .. } => assert!(refunded > 0 && refunded < total),
        OrderState::Cancelling { refund, .. } => {
            assert!(
                refund.minor() <= total - refunded,
                "refund in flight exceeds what is left"
            );
        }
        OrderState::Pending
        | OrderState::AwaitingPayment { .. }
        | OrderState::Paid { .. }
        | OrderState::Confirmed { .. }
        | OrderState::Cancelled
        | OrderState::Expired => {}
    }
    let json = serde_json::to_string(order).unwrap_or_default();
    let back: Order = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, order);
}

fn check_payment(payment: &Payment) {
    let (amount, canceled) = (payment.amount().minor(), payment.canceled().minor());
    assert!(
        (0..=amount).contains(&canceled),
        "canceled {canceled} of {amount}"
    );
    assert_eq!(payment.balance().minor(), amount - canceled);
    match payment.state() {
        PaymentState::Canceled => assert_eq!(canceled, amount),
        PaymentState::PartiallyCanceled => assert!(canceled > 0 && canceled < amount),
        _ => assert_eq!(canceled, 0, "canceled before approval"),
    }
    let json = serde_json::to_string(payment).unwrap_or_default();
    let back: Payment = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, payment);
}

fn check_ticket(before: &Ticket, after: &Ticket, command: TicketCommand) {
    // Only the holding order buys the ticket.
    if let (TicketState::Held { order, .. }, TicketState::Sold { order: buyer }) =
        (before.state(), after.state())
    {
        assert_eq!(order, buyer, "sold to an order that did not hold it");
        assert_eq!(command, TicketCommand::Sell { order });
    }
    let json = serde_json::to_string(after).unwrap_or_default();
    let back: Ticket = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, after);
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let orders = [OrderId::new(), OrderId::new()];
    let holds = [HoldId::new(), HoldId::new(), HoldId::new()];
    let payments = [PaymentId::new(), PaymentId::new()];
    let total_minor = i64::from(small(&mut u, 500_000));
    let Ok(total) = Money::new(total_minor, Currency::KRW) else {
        return;
    };
    let deadline = at(i64::from(small(&mut u, 1_200)));
    let mut order = Order::new(orders[0], total, deadline);
    let mut payment = Payment::new(payments[0], orders[0], total, deadline);
    let mut tickets = [Ticket::new(TicketId::new()), Ticket::new(TicketId::new())];
    let mut clock: i64 = 0;

    while !u.is_empty() {
        // Time mostly moves forward; a small step back models a skewed clock.
        clock = clock.saturating_add(i64::from(small(&mut u, 400))) - 20;
        let now = at(clock);
        let later = at(clock.saturating_add(i64::from(small(&mut u, 900))) - 60);
        match pick(&mut u, 3) {
            0 => {
                let command = match pick(&mut u, 10) {
                    0 => OrderCommand::StartPayment {
                        payment: payments[pick(&mut u, 2)],
                    },
                    1 => OrderCommand::Extend { expires_at: later },
                    2 => OrderCommand::MarkPaid {
                        payment: payments[pick(&mut u, 2)],
                        amount: amount(&mut u, total_minor),
                    },
                    3 => OrderCommand::Confirm,
                    4 => OrderCommand::Cancel,
                    5 => OrderCommand::Refund {
                        amount: amount(&mut u, total_minor),
                    },
                    6 => OrderCommand::SettleCancel,
                    7 => OrderCommand::AbandonRefund,
                    8 => OrderCommand::HandOverRefund,
                    _ => OrderCommand::Expire,
                };
                order = step(&order, command, now);
                check_order(&order);
            }
            1 => {
                let command = match pick(&mut u, 8) {
                    0 => PaymentCommand::Start,
                    1 => PaymentCommand::BeginConfirm {
                        amount: amount(&mut u, total_minor),
                    },
                    2 => PaymentCommand::Approve,
                    3 => PaymentCommand::Fail,
                    4 => PaymentCommand::MarkUnknown,
                    5 => PaymentCommand::Cancel {
                        amount: amount(&mut u, total_minor),
                    },
                    6 => PaymentCommand::Expire,
                    _ => PaymentCommand::Abort,
                };
                payment = step(&payment, command, now);
                check_payment(&payment);
            }
            _ => {
                let i = pick(&mut u, 2);
                let command = match pick(&mut u, 9) {
                    0 => TicketCommand::Hold {
                        order: orders[pick(&mut u, 2)],
                        hold: holds[pick(&mut u, 3)],
                        expires_at: later,
                    },
                    1 => TicketCommand::Extend {
                        hold: holds[pick(&mut u, 3)],
                        expires_at: later,
                    },
                    2 => TicketCommand::Release {
                        hold: holds[pick(&mut u, 3)],
                    },
                    3 => TicketCommand::Expire,
                    4 => TicketCommand::Sell {
                        order: orders[pick(&mut u, 2)],
                    },
                    5 => TicketCommand::Refund {
                        order: orders[pick(&mut u, 2)],
                    },
                    6 => TicketCommand::Relist,
                    7 => TicketCommand::Block,
                    _ => TicketCommand::Unblock,
                };
                let next = step(&tickets[i], command, now);
                check_ticket(&tickets[i], &next, command);
                tickets[i] = next;
            }
        }
    }
});
