//! `GET /v1/performances/{id}/seats/stream`: the live seat map as server-sent events.
//!
//! A stream starts with a `snapshot` (the seat map and stock levels, with the outbox position
//! they are consistent with), then sends a `seat` or `stock` event per change, each with the
//! change's outbox position as its SSE `id`. A client reconnecting with `Last-Event-ID` gets
//! the changes after it from the hub's ring, or a fresh snapshot when the ring no longer
//! reaches back that far. A client too slow to keep up is sent `lagged` and closed; a server
//! shutting down sends `goodbye`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use booking_core::ids::EventId;
use booking_core::service::BookingError;
use futures_util::Stream;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

use crate::live::events::{Goodbye, Snapshot};
use crate::live::{Change, Signal};
use crate::problem::{ApiResult, Problem};
use crate::routes::catalog::{StockView, load_seats, stock_views};
use crate::routes::path_id;
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The events of the stream (SSE `event` name: `data` as JSON).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum StreamEvent {
    /// First, and again whenever the server cannot vouch for continuity: the whole map.
    Snapshot(Snapshot),
    /// A seat changed; SSE `id` = `position`.
    Seat(Change),
    /// A counted stock changed; SSE `id` = `position`.
    Stock(Change),
    /// The client fell behind and the stream ends: reconnect (with `Last-Event-ID`).
    Lagged(Goodbye),
    /// The server is shutting down and the stream ends: reconnect elsewhere.
    Goodbye(Goodbye),
}

/// Streams the seats of a performance or flight as they change (server-sent events; no token
/// needed, as `EventSource` cannot send one).
#[utoipa::path(get, path = "/v1/performances/{id}/seats/stream", tag = "catalog",
    params(
        ("id" = String, Path, description = "a performance or flight id"),
        ("Last-Event-ID" = Option<u64>, Header,
            description = "resume after this position (EventSource sends it on reconnect)"),
    ),
    security(()),
    responses(
        (status = 200, content_type = "text/event-stream", body = StreamEvent,
            description = "`snapshot`, then `seat` and `stock` events; `lagged` or `goodbye` before the server closes it"),
        (status = 404, body = Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let sale: EventId = path_id(&id, "performance")?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let start = state
        .live
        .subscribe(sale, resume)
        .ok_or_else(|| Problem::not_found("performance"))?;
    let mut pending = VecDeque::new();
    let position = match start.replay {
        Some(changes) => {
            pending.extend(changes.iter().map(change_event));
            changes.last().map(|c| c.position).max(resume)
        }
        None => {
            pending.push_back(snapshot(&state, sale, start.position).await?);
            start.position
        }
    };
    let cursor = Cursor {
        closing: state.live.closing(),
        state,
        sale,
        receiver: start.receiver,
        pending,
        position,
        done: false,
    };
    let events = futures_util::stream::unfold(cursor, |mut c| async move {
        let event = c.next().await?;
        Some((Ok(event), c))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One stream's place.
struct Cursor {
    state: AppState,
    sale: EventId,
    receiver: broadcast::Receiver<Signal>,
    closing: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    /// The last position sent: changes at or before it are skipped.
    position: Option<u64>,
    done: bool,
}

impl Cursor {
    /// The next event to send, `None` once the stream is over.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            let signal = tokio::select! {
                signal = self.receiver.recv() => signal,
                _ = self.closing.wait_for(|closing| *closing) => {
                    self.done = true;
                    return Some(goodbye("goodbye", self.position));
                }
            };
            match signal {
                Ok(Signal::Change(change)) => {
                    if self.position.is_some_and(|p| change.position <= p) {
                        continue;
                    }
                    self.position = Some(change.position);
                    return Some(change_event(&change));
                }
                Ok(Signal::Reset) => {
                    let position = self.state.live.position();
                    match snapshot(&self.state, self.sale, position).await {
                        Ok(event) => {
                            self.position = position;
                            return Some(event);
                        }
                        Err(_) => {
                            // The client reconnects and gets a snapshot then.
                            self.done = true;
                            return Some(goodbye("goodbye", self.position));
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(sale = %self.sale, missed, "a slow live stream was dropped");
                    self.done = true;
                    return Some(goodbye("lagged", self.position));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The `seat` or `stock` event of `change`.
fn change_event(change: &Arc<Change>) -> Event {
    json_event(change.event_name(), change.as_ref()).id(change.position.to_string())
}

/// A `lagged` or `goodbye` event.
fn goodbye(name: &str, position: Option<u64>) -> Event {
    json_event(
        name,
        &Goodbye {
            reason: name.to_owned(),
            position,
        },
    )
}

/// An event named `name` with `data` as JSON.
fn json_event(name: &str, data: &impl Serialize) -> Event {
    let text = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(name).data(text)
}

/// The `snapshot` event of `sale`, read from the store now (after `position` was published).
async fn snapshot(
    state: &AppState,
    sale: EventId,
    position: Option<u64>,
) -> Result<Event, Problem> {
    let seats = load_seats(state, sale).await?;
    let stock: Vec<StockView> = if state.catalog.stock_of(sale).is_empty() {
        Vec::new()
    } else {
        let availability = state
            .backend
            .store
            .availability(sale, Timestamp::now())
            .await
            .map_err(BookingError::from)?;
        stock_views(state.catalog.stock_of(sale), &availability)
    };
    let body = Snapshot {
        sale: sale.to_string(),
        position,
        seats,
        stock,
    };
    let event = json_event("snapshot", &body);
    Ok(match position {
        Some(p) => event.id(p.to_string()),
        None => event,
    })
}
