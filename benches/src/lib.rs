//! Shared harness for booking-core's benchmarks.
//!
//! Criterion does the measuring. After a bench has run its groups, [`Summary`] reads the median
//! of each measured function from criterion's `estimates.json` and prints one table in which
//! every figure stands next to its hand-written baseline and the ratio between them, so a run
//! can be quoted as it is.
//!
//! Every bench states its ratio the same way: **ours ÷ raw in speed** — our throughput over the
//! baseline's, or equivalently the baseline's time over ours ([`speed_ratio`], [`time_ratio`]).
//! 1.00x is as fast as the hand-written code; higher is better.
//!
//! Set `BOOKING_BENCH_QUICK=1` for short measurements (a smoke run, not figures to quote).
#![allow(clippy::print_stdout, clippy::float_arithmetic)]

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Where this process tells criterion to write its estimates.
fn output_dir() -> PathBuf {
    std::env::temp_dir().join(format!("booking-bench-{}", std::process::id()))
}

/// A criterion configured for this workspace: its own output directory (read back by
/// [`Summary`]) and, under `BOOKING_BENCH_QUICK`, short measurements.
pub fn criterion() -> Criterion {
    let quick = std::env::var_os("BOOKING_BENCH_QUICK").is_some();
    let (warm, measure, samples) = if quick {
        (Duration::from_millis(100), Duration::from_millis(300), 10)
    } else {
        (Duration::from_secs(1), Duration::from_secs(3), 50)
    };
    Criterion::default()
        .output_directory(&output_dir())
        .warm_up_time(warm)
        .measurement_time(measure)
        .sample_size(samples)
        .configure_from_args()
}

/// The median time per iteration, in nanoseconds, of `group/function` measured by
/// [`criterion()`] in this process; `None` if it was not run (filtered out on the command line).
pub fn median_ns(group: &str, function: &str) -> Option<f64> {
    let path = output_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

/// The median of `xs` (the upper one of an even count). Panics on an empty list: a bench
/// that measured nothing has nothing to print.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The `p`th percentile of `sorted` latencies, in nanoseconds (`NaN` if there are none).
#[allow(clippy::cast_precision_loss)] // nanoseconds of a bench round fit an f64's mantissa
pub fn percentile_ns(sorted: &[Duration], p: usize) -> f64 {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(f64::NAN, |d| d.as_nanos() as f64)
}

/// The hand-written PostgreSQL hold every database bench compares against: one autocommitted
/// conditional `UPDATE` of the seat rows of booking-sqlx's `tickets` table, taking seats that
/// are free or whose hold lapsed by `now`. Returns how many rows it took.
///
/// # Panics
/// If the statement fails: a bench has nothing to measure then.
#[allow(clippy::expect_used)]
pub async fn raw_pg_hold(
    pool: &sqlx::PgPool,
    seats: &[booking_core::ids::TicketId],
    now: booking_core::clock::Timestamp,
    until: booking_core::clock::Timestamp,
) -> u64 {
    use booking_core::ids::{HoldId, OrderId};
    let nanos = |t: booking_core::clock::Timestamp| {
        i64::try_from(t.as_nanosecond()).expect("an instant within i64 nanoseconds")
    };
    let ids: Vec<uuid::Uuid> = seats.iter().map(|t| *t.as_uuid()).collect();
    sqlx::query(
        "UPDATE tickets SET state = 'Held', order_id = $2, hold_id = $3, expires_ns = $4,
                            version = version + 1
         WHERE id = ANY($1) AND (state = 'Available' OR (state = 'Held' AND expires_ns <= $5))",
    )
    .bind(ids)
    .bind(OrderId::new().as_uuid())
    .bind(HoldId::new().as_uuid())
    .bind(nanos(until))
    .bind(nanos(now))
    .execute(pool)
    .await
    .expect("the raw hold statement runs")
    .rows_affected()
}

/// Formats nanoseconds with a unit that keeps three significant digits in view.
pub fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

/// The ratio of two speeds (operations per second, or anything where more is faster), ours over
/// the hand-written baseline's, formatted as every bench prints it: `1.00x` is as fast as the
/// baseline, higher is better.
pub fn speed_ratio(ours: f64, raw: f64) -> String {
    format!("{:.2}x", ours / raw)
}

/// The same ratio from two times (or latencies) of the same work: the baseline's time over
/// ours, so that it too reads ours ÷ raw in speed.
pub fn time_ratio(ours: f64, raw: f64) -> String {
    speed_ratio(raw, ours)
}

/// One printed table of figures, each with its baseline and ratio.
#[derive(Debug)]
pub struct Summary {
    title: String,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    label: String,
    figure: String,
    baseline: String,
    ratio: String,
    note: String,
}

impl Summary {
    /// An empty table titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Summary {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row from criterion medians: `group/figure` measured against `group/baseline`.
    /// The ratio is ours ÷ raw in speed: baseline time over figure time ([`time_ratio`]).
    /// Rows whose figure was filtered out of the run are skipped.
    pub fn criterion_row(
        &mut self,
        label: &str,
        group: &str,
        figure: &str,
        baseline: &str,
        note: &str,
    ) {
        let Some(fig) = median_ns(group, figure) else {
            return;
        };
        let base = median_ns(group, baseline);
        self.rows.push(Row {
            label: label.to_owned(),
            figure: format_ns(fig),
            baseline: base.map_or_else(|| "-".to_owned(), format_ns),
            ratio: base.map_or_else(|| "-".to_owned(), |b| time_ratio(fig, b)),
            note: note.to_owned(),
        });
    }

    /// Adds a row of already formatted values (throughputs, percentiles, counts).
    pub fn row(
        &mut self,
        label: &str,
        figure: String,
        baseline: String,
        ratio: String,
        note: &str,
    ) {
        self.rows.push(Row {
            label: label.to_owned(),
            figure,
            baseline,
            ratio,
            note: note.to_owned(),
        });
    }

    /// The table as text (a markdown table, so it can be pasted into notes).
    pub fn render(&self) -> String {
        let mut out = format!(
            "\n## {}\n\n| what | median | baseline (raw) | ratio (ours/raw speed) | note |\n|---|---:|---:|---:|---|\n",
            self.title
        );
        for r in &self.rows {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.label, r.figure, r.baseline, r.ratio, r.note
            );
        }
        out
    }

    /// Prints the table to stdout and removes this run's criterion output directory.
    pub fn print(&self) {
        println!("{}", self.render());
        let _ = std::fs::remove_dir_all(output_dir());
    }
}

/// Runs `iters` calls of `op` split evenly over `tasks` tokio tasks on `rt` and returns the wall
/// time of the whole batch (for criterion's `iter_custom`).
///
/// # Panics
/// If a task panics (a bench reports failure by panicking).
#[allow(clippy::expect_used)]
pub fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, tasks: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let op = Arc::clone(&op);
                tokio::spawn(async move {
                    for _ in 0..iters.div_ceil(tasks) {
                        op().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a bench task panicked");
        }
        start.elapsed()
    })
}
