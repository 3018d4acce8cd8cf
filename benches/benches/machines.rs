//! One transition of each state machine against the hand-written code it replaces: a struct
//! with a state enum field, mutated by a `match` with no events and no version.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;

use booking_benches::{Summary, criterion};
use booking_core::clock::Timestamp;
use booking_core::ids::{HoldId, OrderId, PaymentId, StockId, TicketId};
use booking_core::machine::{
    Order, OrderCommand, Payment, PaymentCommand, PaymentState, Stock, StockCommand, Ticket,
    TicketCommand,
};
use booking_core::money::{Currency, Money};

/// What a hand-written version usually looks like: the state, a few fields, no history.
// The bench writes these fields as real code would, but nothing reads them back.
#[allow(dead_code)]
#[derive(Clone, Copy)]
enum RawState {
    Available,
    Held { order: OrderId, until: Timestamp },
    AwaitingPayment { payment: PaymentId },
    Paid,
    InProgress,
    Confirming,
    Done,
    PartiallyCanceled,
    Canceled,
}

#[derive(Clone, Copy)]
struct Raw {
    state: RawState,
    amount: i64,
    canceled: i64,
    held: u32,
    sold: u32,
    capacity: u32,
}

const RAW: Raw = Raw {
    state: RawState::Available,
    amount: 240_000,
    canceled: 0,
    held: 10,
    sold: 20,
    capacity: 100,
};

fn main() {
    let mut c = criterion();
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let until = Timestamp::from_second(1_800_000_600).unwrap();
    let (order_id, hold_id, payment_id) = (OrderId::new(), HoldId::new(), PaymentId::new());
    let total = Money::new(240_000, Currency::KRW).unwrap();
    let part = Money::new(120_000, Currency::KRW).unwrap();

    let mut g = c.benchmark_group("machines");

    let ticket = Ticket::new(TicketId::new());
    let hold = TicketCommand::Hold {
        order: order_id,
        hold: hold_id,
        expires_at: until,
    };
    g.bench_function("ticket_hold", |b| {
        b.iter(|| black_box(&ticket).apply(black_box(hold), black_box(now)))
    });
    g.bench_function("ticket_hold_raw", |b| {
        b.iter(|| {
            let mut t = black_box(RAW);
            match t.state {
                RawState::Available => {
                    t.state = RawState::Held {
                        order: black_box(order_id),
                        until,
                    };
                    Ok(t)
                }
                RawState::Held { until: lapses, .. } if lapses <= black_box(now) => {
                    t.state = RawState::Held {
                        order: black_box(order_id),
                        until,
                    };
                    Ok(t)
                }
                _ => Err(()),
            }
        })
    });

    let stock = Stock::from_parts(
        StockId::new(),
        booking_core::machine::StockState::Open,
        100,
        10,
        20,
        7,
    )
    .unwrap();
    let take = StockCommand::Hold {
        order: order_id,
        hold: hold_id,
        quantity: 2,
    };
    g.bench_function("stock_hold", |b| {
        b.iter(|| black_box(&stock).apply(black_box(take), black_box(now)))
    });
    g.bench_function("stock_hold_raw", |b| {
        b.iter(|| {
            let mut s = black_box(RAW);
            let n = black_box(2_u32);
            if s.held + s.sold + n <= s.capacity {
                s.held += n;
                Ok(s)
            } else {
                Err(s.capacity - s.held - s.sold)
            }
        })
    });

    let order = Order::new(order_id, total, until)
        .apply(
            OrderCommand::StartPayment {
                payment: payment_id,
            },
            now,
        )
        .unwrap()
        .next;
    let paid = OrderCommand::MarkPaid {
        payment: payment_id,
        amount: total,
    };
    g.bench_function("order_pay", |b| {
        b.iter(|| black_box(&order).apply(black_box(paid), black_box(now)))
    });
    g.bench_function("order_pay_raw", |b| {
        b.iter(|| {
            let mut o = black_box(Raw {
                state: RawState::AwaitingPayment {
                    payment: payment_id,
                },
                ..RAW
            });
            let (given, amount) = black_box((payment_id, 240_000_i64));
            match o.state {
                RawState::AwaitingPayment { payment } if payment == given && amount == o.amount => {
                    o.state = RawState::Paid;
                    Ok(o)
                }
                _ => Err(()),
            }
        })
    });

    let payment = Payment::new(payment_id, order_id, total, until)
        .apply(PaymentCommand::Start, now)
        .unwrap()
        .next;
    let confirm = PaymentCommand::BeginConfirm { amount: total };
    g.bench_function("payment_confirm", |b| {
        b.iter(|| black_box(&payment).apply(black_box(confirm), black_box(now)))
    });
    g.bench_function("payment_confirm_raw", |b| {
        b.iter(|| {
            let mut p = black_box(Raw {
                state: RawState::InProgress,
                ..RAW
            });
            let amount = black_box(240_000_i64);
            match p.state {
                RawState::InProgress if amount == p.amount => {
                    p.state = RawState::Confirming;
                    Ok(p)
                }
                _ => Err(()),
            }
        })
    });

    let done = Payment::from_parts(
        payment_id,
        order_id,
        PaymentState::Done,
        total,
        Money::zero(Currency::KRW),
        until,
        3,
    )
    .unwrap();
    let cancel = PaymentCommand::Cancel { amount: part };
    g.bench_function("payment_partial_cancel", |b| {
        b.iter(|| black_box(&done).apply(black_box(cancel), black_box(now)))
    });
    g.bench_function("payment_partial_cancel_raw", |b| {
        b.iter(|| {
            let mut p = black_box(Raw {
                state: RawState::Done,
                ..RAW
            });
            let amount = black_box(120_000_i64);
            match p.state {
                RawState::Done | RawState::PartiallyCanceled
                    if amount > 0 && p.canceled + amount <= p.amount =>
                {
                    p.canceled += amount;
                    p.state = if p.canceled == p.amount {
                        RawState::Canceled
                    } else {
                        RawState::PartiallyCanceled
                    };
                    Ok(p)
                }
                _ => Err(()),
            }
        })
    });
    g.finish();

    let mut s = Summary::new("machines: one transition");
    let raw = "raw: state enum + match, no event, no version";
    for (label, name) in [
        ("ticket: Available --Hold--> Held", "ticket_hold"),
        ("stock: Hold 2 of 100", "stock_hold"),
        ("order: AwaitingPayment --MarkPaid--> Paid", "order_pay"),
        (
            "payment: InProgress --BeginConfirm--> Confirming",
            "payment_confirm",
        ),
        (
            "payment: Done --Cancel half--> PartiallyCanceled",
            "payment_partial_cancel",
        ),
    ] {
        s.criterion_row(label, "machines", name, &format!("{name}_raw"), raw);
    }
    s.print();
}
