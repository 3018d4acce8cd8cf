//! The live seat-map stream (`GET /v1/performances/{id}/seats/stream`) fanned out to many
//! subscribers over loopback, next to a hand-written axum SSE endpoint fed by a tokio
//! broadcast channel, in the same run:
//!
//! - 1,000 subscribers; one seat change every 10 ms for 10 s (1,000 changes). The server's
//!   changes are real: a hold of one seat through the booking service, then its cancellation,
//!   alternately, each followed by the nudge the HTTP layer gives the outbox relay after a
//!   write — so each goes service → store (SQLite, the server's default) → outbox → relay →
//!   hub → every stream. The baseline sends an event of the same type and size on its
//!   channel at the same pace.
//! - latency p50/p99 from commit (the service call returned; for the baseline: just before
//!   `send`) to delivery at each subscriber (the chunk holding the event was read), over all
//!   subscribers × changes;
//! - heap per subscriber: live bytes allocated by the server's process (a counting global
//!   allocator) after the streams opened and settled minus before, with no events flowing,
//!   divided by the subscribers; process RSS the same way (`VmRSS`, coarser: the allocator
//!   reuses memory freed by an earlier round, so later rounds show less);
//! - delivered/expected: every subscriber must get every change; a loss is printed as such.
//!
//! The subscribers run in a child process (this binary again, see `subscribers.rs`) so the
//! server's memory is the server's alone; both processes share this machine's cores. Each of
//! the 3 rounds runs the server then the baseline, with a fresh set of subscribers; figures
//! are medians over rounds, counts are sums.
//!
//! Needs about `subscribers + 256` open files per process (checked; raise with `ulimit -n`).
//! `BOOKING_BENCH_QUICK=1` runs one short round of 100 subscribers (a smoke run).
//! Run: `cargo bench -p booking-benches --bench sse_fanout`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

#[path = "sse_fanout/raw.rs"]
mod raw;
#[path = "sse_fanout/subscribers.rs"]
mod subscribers;

use std::alloc::System;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use booking_benches::{Summary, format_ns, median, time_ratio};
use booking_core::clock::{Clock, SystemClock};
use booking_core::ids::{EventId, TicketId, UserId};
use booking_core::service::{HoldRequest, ItemRef};
use cap::Cap;
use example_server::live::events::{SeatChange, What};
use example_server::live::{Change, Signal};
use example_server::{AppState, Config};
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

/// Counts the process's live heap bytes (the server's side of every stream).
#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// How big and how long.
struct Plan {
    rounds: usize,
    subscribers: usize,
    changes: usize,
    every: Duration,
}

impl Plan {
    fn new() -> Self {
        let quick = std::env::var_os("BOOKING_BENCH_QUICK").is_some();
        Plan {
            rounds: if quick { 1 } else { 3 },
            subscribers: if quick { 100 } else { 1_000 },
            changes: if quick { 100 } else { 1_000 },
            every: Duration::from_millis(10),
        }
    }
}

/// Now, as wall-clock nanoseconds (the clock both processes share).
fn wall_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The process's resident set, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The soft limit of open files, if it can be read.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What one side measured in one round.
struct Measured {
    heap_per_subscriber: f64,
    rss_per_subscriber: f64,
    p50_ns: f64,
    p99_ns: f64,
    delivered: u64,
    expected: u64,
    lagged: u64,
    /// Changes per second actually committed (or sent).
    pace: f64,
}

/// The subscribers' process.
struct Fleet {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Fleet {
    /// Starts `count` subscribers of `url` and waits until every stream is open (and has its
    /// first event, when `first_event`).
    async fn open(url: String, count: usize, first_event: bool) -> Fleet {
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .env(subscribers::URL_ENV, url)
                .env(subscribers::COUNT_ENV, count.to_string())
                .env(
                    subscribers::FIRST_EVENT_ENV,
                    if first_event { "1" } else { "0" },
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "ready", "the subscribers' process failed");
            Fleet {
                child,
                stdin,
                stdout,
            }
        })
        .await
        .unwrap()
    }

    /// Tells the subscribers when each id was committed and reads what they got:
    /// `(delivered, expected, lagged, p50 ns, p99 ns)`.
    async fn finish(self, commits: Vec<(u64, u64)>) -> (u64, u64, u64, f64, f64) {
        tokio::task::spawn_blocking(move || {
            let Fleet {
                mut child,
                mut stdin,
                mut stdout,
            } = self;
            let mut text = String::new();
            for (id, at) in commits {
                text.push_str(&format!("{id} {at}\n"));
            }
            text.push_str("end\n");
            stdin.write_all(text.as_bytes()).unwrap();
            stdin.flush().unwrap();
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            child.wait().unwrap();
            let fields: Vec<u64> = line
                .strip_prefix("result ")
                .expect("the subscribers' result")
                .split_whitespace()
                .map(|f| f.parse().unwrap())
                .collect();
            (
                fields[0],
                fields[1],
                fields[2],
                fields[3] as f64,
                fields[4] as f64,
            )
        })
        .await
        .unwrap()
    }
}

/// Opens the subscribers of `url`, measures what they cost the server, runs `drive` (which
/// returns `(id, committed at)` per change and the pace), and collects the deliveries.
async fn round<F, Fut>(plan: &Plan, url: String, first_event: bool, drive: F) -> Measured
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (Vec<(u64, u64)>, f64)>,
{
    let (heap_before, rss_before) = (HEAP.allocated(), rss_bytes());
    let fleet = Fleet::open(url, plan.subscribers, first_event).await;
    // Let the last responses flush and the connections settle before reading memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (heap_after, rss_after) = (HEAP.allocated(), rss_bytes());
    let (commits, pace) = drive().await;
    let (delivered, expected, lagged, p50_ns, p99_ns) = fleet.finish(commits).await;
    let n = plan.subscribers as f64;
    Measured {
        heap_per_subscriber: heap_after.saturating_sub(heap_before) as f64 / n,
        rss_per_subscriber: rss_after.saturating_sub(rss_before) as f64 / n,
        p50_ns,
        p99_ns,
        delivered,
        expected,
        lagged,
        pace,
    }
}

/// Waits until the streams of the last round are gone (their memory freed), so the next
/// round's "before" reading is not lowered by it.
async fn settle(state: &AppState, sender: &broadcast::Sender<Arc<Change>>) {
    while state.live.streams() > 0 || sender.receiver_count() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The server under test.
struct Server {
    state: AppState,
    base: String,
    sale: EventId,
    seats: Vec<(TicketId, String)>,
}

/// Holds and cancels seats of the server's sale, one change every `plan.every`; returns each
/// change's outbox position (its SSE id) with the time its commit returned, and the pace.
async fn drive_server(plan: &Plan, server: &Server) -> (Vec<(u64, u64)>, f64) {
    let (state, sale) = (&server.state, server.sale);
    // The hub's own view of the changes, read as they come (a receiver that waited until the
    // end would lag), tells each change's position.
    let mut hub = state.live.subscribe(sale, None).unwrap().receiver;
    let changes = plan.changes;
    let positions = tokio::spawn(async move {
        let mut positions = Vec::with_capacity(changes);
        while positions.len() < changes {
            match hub.recv().await {
                Ok(Signal::Change(c)) if c.sale == sale => {
                    let held = matches!(
                        c.what,
                        What::Seat {
                            change: SeatChange::Held,
                            ..
                        }
                    );
                    assert_eq!(held, positions.len() % 2 == 0, "changes in commit order");
                    positions.push(c.position);
                }
                Ok(_) => {}
                Err(e) => panic!("the bench's receiver of the hub: {e}"),
            }
        }
        positions
    });
    let user = UserId::new();
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut committed = Vec::with_capacity(changes);
    let mut order = None;
    let started = Instant::now();
    for k in 0..changes {
        tick.tick().await;
        match order.take() {
            None => {
                let (seat, _) = server.seats[(k / 2) % server.seats.len()];
                let request = HoldRequest::new(user, sale, vec![ItemRef::Ticket { ticket: seat }]);
                let record = state.service_for(sale).hold(&request).await.unwrap();
                order = Some(record.order.id());
            }
            Some(id) => {
                state.service.cancel_order(id, "bench").await.unwrap();
            }
        }
        committed.push(wall_ns());
        // What the HTTP layer does after every write.
        state.live.nudge();
    }
    let pace = changes as f64 / started.elapsed().as_secs_f64();
    let positions = tokio::time::timeout(Duration::from_secs(30), positions)
        .await
        .expect("the hub published every change")
        .unwrap();
    (positions.into_iter().zip(committed).collect(), pace)
}

/// Sends the same kind of change on the baseline's channel at the same pace.
async fn drive_raw(
    plan: &Plan,
    server: &Server,
    sender: &broadcast::Sender<Arc<Change>>,
) -> (Vec<(u64, u64)>, f64) {
    let held_until = (SystemClock.now() + Duration::from_secs(600)).to_string();
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = Vec::with_capacity(plan.changes);
    let started = Instant::now();
    for k in 0..plan.changes {
        tick.tick().await;
        let (ticket, label) = &server.seats[(k / 2) % server.seats.len()];
        let held = k % 2 == 0;
        let position = k as u64 + 1;
        let change = Change {
            position,
            sale: server.sale,
            what: What::Seat {
                ticket: ticket.to_string(),
                label: label.clone(),
                change: if held {
                    SeatChange::Held
                } else {
                    SeatChange::Released
                },
                available: !held,
                held_until: held.then(|| held_until.clone()),
            },
        };
        let at = wall_ns();
        // No subscriber is no error here: the count shows what arrived.
        let _ = sender.send(Arc::new(change));
        sent.push((position, at));
    }
    (sent, plan.changes as f64 / started.elapsed().as_secs_f64())
}

fn main() {
    if let Ok(url) = std::env::var(subscribers::URL_ENV) {
        subscribers::run(&url);
        return;
    }
    let plan = Plan::new();
    let needed = plan.subscribers + 256;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        println!("skipped: {limit} open files allowed, {needed} needed (raise with `ulimit -n`)");
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let data_dir = std::env::temp_dir().join(format!(
        "booking_bench_sse_{}",
        uuid::Uuid::now_v7().simple()
    ));
    let rt = Runtime::new().unwrap();
    let (ours, raw) = rt.block_on(async {
        let mut config = Config::with_data_dir(&data_dir);
        // Only the relay should run: the other background work would compete with it.
        config.upkeep_every = Duration::from_secs(3_600);
        config.admit_every = Duration::from_secs(3_600);
        let state = AppState::build(config).await.unwrap();
        // The demo flight: its seats are on sale without a waiting room (the stream serves
        // flights and performances alike).
        let flight = state.catalog.flights.first().expect("the demo flight");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            base: format!("http://{}", listener.local_addr().unwrap()),
            sale: flight.id,
            seats: flight
                .seats
                .iter()
                .map(|s| (s.ticket, s.label.clone()))
                .collect(),
            state: state.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(example_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let (raw_url, sender) = raw::serve().await;
        let stream_url = format!(
            "{}/v1/performances/{}/seats/stream",
            server.base, server.sale
        );
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..plan.rounds {
            settle(&server.state, &sender).await;
            ours.push(
                round(&plan, stream_url.clone(), true, || {
                    drive_server(&plan, &server)
                })
                .await,
            );
            settle(&server.state, &sender).await;
            raw.push(
                round(&plan, raw_url.clone(), false, || {
                    drive_raw(&plan, &server, &sender)
                })
                .await,
            );
        }
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
        (ours, raw)
    });
    let _ = std::fs::remove_dir_all(&data_dir);
    print(&plan, &load, &ours, &raw);
}

fn print(plan: &Plan, load: &[&str], ours: &[Measured], raw: &[Measured]) {
    let med = |xs: &[Measured], f: fn(&Measured) -> f64| median(xs.iter().map(f).collect());
    let kib = |bytes: f64| format!("{:.1} KiB", bytes / 1024.0);
    let n = plan.subscribers;
    let mut s = Summary::new(format!(
        "sse_fanout: the live seat-map stream vs a hand-written broadcast→SSE endpoint, {n} \
         subscribers, one change per {} ms × {}, same run (load average {}){}",
        plan.every.as_millis(),
        plan.changes,
        load.join(" "),
        if plan.rounds < 2 {
            "; quick: smoke figures"
        } else {
            ""
        }
    ));
    for (what, f) in [
        ("p50", (|m: &Measured| m.p50_ns) as fn(&Measured) -> f64),
        ("p99", |m: &Measured| m.p99_ns),
    ] {
        let (a, b) = (med(ours, f), med(raw, f));
        s.row(
            &format!("commit → delivery {what}, {n} subscribers"),
            format_ns(a),
            format_ns(b),
            time_ratio(a, b),
            "ours: hold or cancel through the service, SQLite outbox, relay, hub, stream; raw: \
             broadcast send → stream",
        );
    }
    let (a, b) = (
        med(ours, |m| m.heap_per_subscriber),
        med(raw, |m| m.heap_per_subscriber),
    );
    s.row(
        "server heap per subscriber, idle",
        kib(a),
        kib(b),
        time_ratio(a, b),
        "live heap bytes (counting allocator) after opening the streams minus before, ÷ subscribers",
    );
    let (a, b) = (
        med(ours, |m| m.rss_per_subscriber),
        med(raw, |m| m.rss_per_subscriber),
    );
    s.row(
        "server RSS per subscriber, idle",
        kib(a),
        kib(b),
        time_ratio(a, b),
        "VmRSS after minus before, ÷ subscribers (coarse: memory freed by an earlier round is reused)",
    );
    let sum = |xs: &[Measured], f: fn(&Measured) -> u64| xs.iter().map(f).sum::<u64>();
    let counts = |xs: &[Measured]| {
        format!(
            "{}/{}{}",
            sum(xs, |m| m.delivered),
            sum(xs, |m| m.expected),
            match sum(xs, |m| m.lagged) {
                0 => String::new(),
                l => format!(", {l} lagged"),
            }
        )
    };
    let complete = |xs: &[Measured]| xs.iter().all(|m| m.delivered == m.expected);
    s.row(
        "events delivered / expected",
        counts(ours),
        counts(raw),
        "-".to_owned(),
        &format!(
            "summed over {} rounds: {}; pace {:.0}/s ours, {:.0}/s raw",
            plan.rounds,
            if complete(ours) && complete(raw) {
                "every subscriber got every change".to_owned()
            } else {
                "EVENTS LOST".to_owned()
            },
            med(ours, |m| m.pace),
            med(raw, |m| m.pace)
        ),
    );
    s.print();
}
