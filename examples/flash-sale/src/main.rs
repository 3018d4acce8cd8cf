//! A flash sale on booking-core, with every invariant checked at the end.
//!
//! Run with:
//!
//! ```sh
//! cargo run --release -p example-flash-sale -- --buyers 1000 --seats 100
//! cargo run -p example-flash-sale -- --buyers 5000 --seats 300 --seed 7
//! cargo run -p example-flash-sale -- --database postgres://postgres@127.0.0.1:5432/test
//! cargo run -p example-flash-sale -- --database mysql://root@127.0.0.1:3306/test
//! cargo run -p example-flash-sale -- --database sqlite://sale.db
//! cargo run -p example-flash-sale -- --redis redis://127.0.0.1:6379
//! cargo run -p example-flash-sale -- --database postgres://… --redis redis://127.0.0.1:7101,redis://127.0.0.1:7102
//! ```
//!
//! The records live in a new SQLite file unless `--database` names another home (see
//! `database.rs`): a PostgreSQL or MySQL server, or booking-core's in-memory ports. With
//! `--redis` (see `coordination.rs`) the locks, the waiting room and the coupons live on Redis
//! (a standalone server, or a cluster given by its nodes) and a hot-stock gate stands in front
//! of the store; without it they live in the database too.
//!
//! Every buyer is a task on a multi-thread tokio runtime. When the sale opens they top up
//! points, race for a first-come coupon (a fifth as many as there are seats) and join the
//! waiting room; the driver admits 50 per 30-second cycle of sale time (a `ManualClock` it
//! moves forward). Admitted buyers pick free seats and hold them, or hold standing places (a
//! counted stock: the hot stock the gate guards), gold and silver members getting a discount
//! and coupon holders 10,000 won more off; they pay by card through the fake gateway or from
//! their points — or walk away and leave their hold to lapse. The card gateway plays
//! scripted faults: transient errors (retried), rejections (the order is cancelled), and a
//! timeout after charging (the payment is unknown until `reconcile` looks it up). A few
//! buyers double-click "pay". After the sale some orders are refunded, one of them through a
//! lost gateway answer, and a final sweep expires what is left. The upkeep (reconcile, sweep)
//! and each refund run under a lock, as they would with several nodes.
//!
//! The summary is checked against the store, its event log, the gateways' own records and the
//! coupon store; the process exits with status 1 if any invariant breaks. `--seed` fixes
//! every buyer's plan; the interleaving of the tasks is real, so figures vary a little from
//! run to run while the invariants must always hold.
#![allow(clippy::print_stdout)] // a command-line report

mod args;
mod buyer;
mod coordination;
mod counting;
mod database;
mod invariants;
mod ledgers;
mod plan;
mod report;
mod sale;
mod standing;
mod world;

use std::process::ExitCode;
use std::time::Instant;

use args::{Args, ArgsError, USAGE};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Invalid(why)) => {
            eprintln!("error: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let outcome = match sale::run(&args).await {
        Ok(sale) => invariants::verify(&sale).await.map(|(f, c)| (sale, f, c)),
        Err(e) => Err(e),
    };
    let (sale, figures, checks) = match outcome {
        Ok(done) => done,
        Err(e) => {
            eprintln!("error: the sale could not run: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{}",
        report::render(&args, &sale, &figures, &checks, started.elapsed())
    );
    if let Err(e) = sale.world.teardown.run().await {
        eprintln!("warning: could not remove the sale's records: {e}");
    }
    if checks.iter().all(|c| c.held) {
        println!("all invariants held");
        ExitCode::SUCCESS
    } else {
        println!("an invariant broke");
        ExitCode::FAILURE
    }
}
