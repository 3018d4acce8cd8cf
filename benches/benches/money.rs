//! Money arithmetic and exact allocation against the hand-written integer code they replace.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_wrap
)]

use std::hint::black_box;

use booking_benches::{Summary, criterion};
use booking_core::money::{BasisPoints, Currency, Money, Rounding, allocate};

fn main() {
    let mut c = criterion();
    let price = Money::new(120_000, Currency::KRW).unwrap();
    let ten = BasisPoints::new(1_000).unwrap();
    let mut g = c.benchmark_group("money");
    g.bench_function("percent", |b| {
        b.iter(|| black_box(price).percent(black_box(ten), Rounding::Floor))
    });
    g.bench_function("percent_raw", |b| {
        b.iter(|| black_box(120_000_i64) * i64::from(black_box(1_000_u32)) / 10_000)
    });
    let weights: Vec<u64> = (1..=10).map(|i| i * 7_919).collect();
    let total = Money::new(15_000, Currency::KRW).unwrap();
    g.bench_function("allocate_10", |b| {
        b.iter(|| allocate(black_box(total), black_box(&weights)))
    });
    g.bench_function("allocate_10_raw", |b| {
        // What a hand-written split usually is: floor shares, remainder to the last line.
        b.iter(|| {
            let w = black_box(&weights);
            let sum: u64 = w.iter().sum();
            let mut parts: Vec<i64> = w.iter().map(|&x| (15_000 * x / sum) as i64).collect();
            let rest = 15_000 - parts.iter().sum::<i64>();
            if let Some(last) = parts.last_mut() {
                *last += rest;
            }
            parts
        })
    });
    g.finish();
    let mut s = Summary::new("money");
    s.criterion_row(
        "percent (10 % of ₩120,000, floor)",
        "money",
        "percent",
        "percent_raw",
        "raw: unchecked i64 expression",
    );
    s.criterion_row(
        "allocate over 10 lines",
        "money",
        "allocate_10",
        "allocate_10_raw",
        "raw: floor + remainder to last line",
    );
    s.print();
}
