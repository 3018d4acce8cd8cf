//! The subscribers: a child process (this bench binary again) holding every SSE connection,
//! so that the server's process holds only the server's side of them and its memory can be
//! read without the clients'.
//!
//! Talks to the parent over its standard streams: prints `ready` once every stream is open
//! (and, for the server, has its snapshot); then reads `id wall_ns` lines — when the change
//! with SSE id `id` was committed (or sent) — up to `end`, waits until every stream has every
//! change (or nothing more arrived for [`SETTLE`]), and prints
//! `result delivered expected lagged p50_ns p99_ns`.
//!
//! Delivery time is taken when the chunk holding the event was read, as wall-clock
//! nanoseconds: the same clock as the parent's on one machine.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use super::wall_ns;

/// The environment variables the parent starts the child with.
pub(crate) const URL_ENV: &str = "SSE_FANOUT_SUBSCRIBE";
pub(crate) const COUNT_ENV: &str = "SSE_FANOUT_SUBSCRIBERS";
pub(crate) const FIRST_EVENT_ENV: &str = "SSE_FANOUT_FIRST_EVENT";

/// How long after the last delivery the child stops waiting for missing events.
const SETTLE: Duration = Duration::from_secs(5);

/// Streams being opened at once.
const OPENING: usize = 64;

/// What one stream saw: `(id, delivered at)` for every event with an id.
#[derive(Default)]
struct Log {
    events: Vec<(u64, u64)>,
}

/// The child's main: see the module doc.
pub(crate) fn run(url: &str) {
    let count: usize = std::env::var(COUNT_ENV).unwrap().parse().unwrap();
    // The server's stream opens with a snapshot: a stream is ready once it has it.
    let first_event = std::env::var(FIRST_EVENT_ENV).is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // reqwest is built without a TLS provider of its own; plain HTTP needs one installed all
    // the same (an error only says another is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt.block_on(async {
        let client = reqwest::Client::builder().build().unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let lagged = Arc::new(AtomicUsize::new(0));
        let opening = Arc::new(Semaphore::new(OPENING));
        let (ready, mut readied) = mpsc::channel::<()>(count);
        let mut logs = Vec::with_capacity(count);
        for _ in 0..count {
            let log = Arc::new(Mutex::new(Log::default()));
            logs.push(Arc::clone(&log));
            tokio::spawn(subscriber(
                client.clone(),
                url.to_owned(),
                first_event,
                Arc::clone(&opening),
                ready.clone(),
                log,
                Arc::clone(&received),
                Arc::clone(&lagged),
            ));
        }
        for _ in 0..count {
            readied.recv().await.expect("every stream opened");
        }
        say("ready");
        let committed = tokio::task::spawn_blocking(read_commits).await.unwrap();
        let expected = count * committed.len();
        let mut seen = received.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = received.load(Ordering::Relaxed);
            if now >= expected {
                break;
            }
            if now == seen {
                // Nothing new for SETTLE: what is missing is lost.
                tokio::time::sleep(SETTLE).await;
                if received.load(Ordering::Relaxed) == now {
                    break;
                }
            }
            seen = now;
        }
        let mut latencies = Vec::with_capacity(expected);
        for log in &logs {
            let log = log.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, at) in &log.events {
                if let Some(sent) = committed.get(id) {
                    latencies.push(at.saturating_sub(*sent));
                }
            }
        }
        latencies.sort_unstable();
        let at = |p: usize| {
            latencies
                .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        say(&format!(
            "result {} {expected} {} {} {}",
            latencies.len(),
            lagged.load(Ordering::Relaxed),
            at(50),
            at(99)
        ));
    });
    // The open streams end with the process.
    std::process::exit(0);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The parent's `id wall_ns` lines, up to `end`.
fn read_commits() -> HashMap<u64, u64> {
    let mut committed = HashMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        if line == "end" {
            break;
        }
        let (id, at) = line.split_once(' ').unwrap();
        committed.insert(id.parse().unwrap(), at.parse().unwrap());
    }
    committed
}

/// One stream: opens it, reports ready, then logs every event with an id as it arrives.
#[allow(clippy::too_many_arguments)]
async fn subscriber(
    client: reqwest::Client,
    url: String,
    first_event: bool,
    opening: Arc<Semaphore>,
    ready: mpsc::Sender<()>,
    log: Arc<Mutex<Log>>,
    received: Arc<AtomicUsize>,
    lagged: Arc<AtomicUsize>,
) {
    // Held until the stream is ready, so the server builds few snapshots at once.
    let mut permit = Some(opening.acquire_owned().await.unwrap());
    let mut response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let mut buffer = String::new();
    let mut waiting_first = first_event;
    if !waiting_first {
        permit.take();
        ready.send(()).await.unwrap();
    }
    loop {
        let Ok(Some(chunk)) = response.chunk().await else {
            return;
        };
        let at = wall_ns();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut name = "message";
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = if v.trim() == "lagged" {
                        "lagged"
                    } else {
                        "other"
                    };
                }
            }
            if frame.starts_with(':') {
                continue; // a keep-alive comment
            }
            if waiting_first {
                waiting_first = false;
                permit.take();
                ready.send(()).await.unwrap();
                continue;
            }
            if name == "lagged" {
                lagged.fetch_add(1, Ordering::Relaxed);
            } else if let Some(id) = id {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .events
                    .push((id, at));
                received.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
