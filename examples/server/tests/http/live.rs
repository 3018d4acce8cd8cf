//! The live seat map over real HTTP: `GET /v1/performances/{id}/seats/stream` starts with a
//! snapshot, then sends each committed change with its outbox position as SSE id; a client
//! resuming with `Last-Event-ID` gets exactly what it missed; across two server processes
//! sharing PostgreSQL and Redis, a stream on one sees a hold made through the other.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, User};

/// How long a change may take to reach a stream in these tests (a generous bound: the relay
/// runs at once after a write; the speed is measured by the `sse_fanout` bench).
const DELIVERY: Duration = Duration::from_secs(5);

/// One server-sent event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) event: String,
    pub(crate) id: Option<String>,
    pub(crate) data: Value,
}

/// A client of an SSE stream reading events as they come.
pub(crate) struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    /// Opens the stream of `sale` on `server`, resuming after `last_event_id` if given.
    pub(crate) async fn open(server: &Server, sale: &str, last_event_id: Option<&str>) -> Self {
        let mut request = server.http.get(format!(
            "{}/v1/performances/{sale}/seats/stream",
            server.base
        ));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or a panic after `DELIVERY`.
    pub(crate) async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(DELIVERY, self.read())
            .await
            .expect("an event within the delivery bound")
    }

    async fn read(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).expect("JSON data");
                return SseEvent { event, id, data };
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("stream chunk")
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `seat` event whose seat is `label`, skipping others.
    pub(crate) async fn seat(&mut self, label: &str) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event == "seat" && event.data["what"]["label"] == label {
                return event;
            }
        }
    }
}

/// Holds `seats` (as the seat map lists them) of `sale` for `user`, with a queue token if given: the order.
pub(crate) async fn hold(
    server: &Server,
    user: &User,
    sale: &str,
    seats: &[&Value],
    queue_token: Option<&str>,
) -> Value {
    let tickets: Vec<&Value> = seats.iter().map(|s| &s["ticket"]).collect();
    let body = json!({ "sale": sale, "seats": tickets });
    let headers: Vec<(&str, &str)> = queue_token
        .map(|t| ("queue-token", t))
        .into_iter()
        .collect();
    let placed = server
        .call(
            reqwest::Method::POST,
            "/v1/orders",
            Some(user),
            Some(&body),
            &headers,
        )
        .await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    placed.body
}

/// The flight's id and its seats.
async fn flight(server: &Server, user: &User) -> (String, Vec<Value>) {
    let flight = server.flight(user).await;
    let id = flight["id"].as_str().expect("id").to_owned();
    let seats = server.seats(user, &id).await;
    (id, seats)
}

fn position(event: &SseEvent) -> u64 {
    let id: u64 = event
        .id
        .as_deref()
        .expect("an id")
        .parse()
        .expect("numeric id");
    assert_eq!(event.data["position"], id, "the id is the position");
    id
}

#[tokio::test]
async fn live_stream_sends_a_snapshot_then_each_committed_change() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let (sale, seats) = flight(&server, &user).await;
    let mut stream = SseClient::open(&server, &sale, None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["sale"], sale.as_str());
    let listed = snapshot.data["seats"].as_array().expect("seats");
    assert_eq!(listed, &seats, "the snapshot is the seat map");

    let (first, second) = (&seats[0], &seats[1]);
    let order = hold(&server, &user, &sale, &[first], None).await;
    let label = first["label"].as_str().expect("label");
    let held = stream.seat(label).await;
    assert_eq!(held.data["what"]["kind"], "seat");
    assert_eq!(held.data["what"]["change"], "held");
    assert_eq!(held.data["what"]["available"], false);
    assert_eq!(held.data["what"]["ticket"], first["ticket"]);
    assert_eq!(held.data["what"]["held_until"], order["expires_at"]);
    let held_at = position(&held);
    hold(&server, &user, &sale, &[second], None).await;
    let also = stream.seat(second["label"].as_str().expect("label")).await;
    assert!(position(&also) > held_at, "positions increase");

    let id = order["id"].as_str().expect("order id");
    let cancelled = server
        .post(
            &user,
            &format!("/v1/orders/{id}/cancel"),
            &json!({ "reason": "test" }),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:#}", cancelled.body);
    let released = stream.seat(label).await;
    assert_eq!(released.data["what"]["change"], "released");
    assert_eq!(released.data["what"]["available"], true);
    assert!(position(&released) > held_at);
}

#[tokio::test]
async fn live_stream_resumes_after_last_event_id_without_a_gap() {
    let server = Server::start().await;
    let user = server.login(None).await;
    let (sale, seats) = flight(&server, &user).await;
    let mut stream = SseClient::open(&server, &sale, None).await;
    assert_eq!(stream.next().await.event, "snapshot");
    // A second stream stays connected throughout, to tell when the relay has published.
    let mut watcher = SseClient::open(&server, &sale, None).await;
    assert_eq!(watcher.next().await.event, "snapshot");
    hold(&server, &user, &sale, &[&seats[0]], None).await;
    let label = |i: usize| seats[i]["label"].as_str().expect("label").to_owned();
    let seen = stream.seat(&label(0)).await;
    let last = seen.id.clone().expect("id");
    drop(stream);

    // Missed while disconnected: two holds.
    hold(&server, &user, &sale, &[&seats[1]], None).await;
    hold(&server, &user, &sale, &[&seats[2]], None).await;
    watcher.seat(&label(2)).await;

    let mut resumed = SseClient::open(&server, &sale, Some(&last)).await;
    let first = resumed.next().await;
    assert_eq!(
        first.event, "seat",
        "a resumed stream replays, no snapshot: {first:?}"
    );
    assert_eq!(first.data["what"]["label"], label(1).as_str());
    let second = resumed.next().await;
    assert_eq!(second.data["what"]["label"], label(2).as_str());
    assert!(position(&first) > last.parse::<u64>().expect("id"));
    assert!(position(&second) > position(&first));

    // An id the server cannot resume from gets a fresh snapshot.
    let mut fresh = SseClient::open(&server, &sale, Some("not-a-position")).await;
    let snapshot = fresh.next().await;
    assert_eq!(snapshot.event, "snapshot");
    let free: Vec<bool> = snapshot.data["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .take(3)
        .map(|s| s["available"].as_bool().expect("available"))
        .collect();
    assert_eq!(free, [false, false, false]);
}

#[tokio::test]
async fn live_stream_of_an_unknown_sale_is_a_404_problem() {
    let server = Server::start().await;
    let reply = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/performances/{}/seats/stream", uuid::Uuid::now_v7()),
            None,
            None,
            &[],
        )
        .await;
    reply.assert_problem(404, "not-found");
    let reply = server
        .call(
            reqwest::Method::GET,
            "/v1/performances/nope/seats/stream",
            None,
            None,
            &[],
        )
        .await;
    reply.assert_problem(404, "not-found");
}

#[tokio::test]
#[cfg_attr(
    any(no_postgres_url, no_redis_url),
    ignore = "BOOKING_TEST_POSTGRES_URL or BOOKING_TEST_REDIS_URL is unset"
)]
async fn a_stream_on_one_server_sees_a_hold_made_through_another() {
    use sqlx::{AssertSqlSafe, Connection};
    let pg = std::env::var("BOOKING_TEST_POSTGRES_URL").expect("BOOKING_TEST_POSTGRES_URL");
    let redis = std::env::var("BOOKING_TEST_REDIS_URL").expect("BOOKING_TEST_REDIS_URL");
    let schema = crate::databases::fresh_name();
    let mut admin = sqlx::PgConnection::connect(&pg).await.expect("PostgreSQL");
    // The name is digits and a fixed prefix, never input.
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let mut database_url = reqwest::Url::parse(&pg).expect("URL");
    database_url
        .query_pairs_mut()
        .append_pair("options[search_path]", &schema);
    let namespace = format!("booking-server-test:{}", uuid::Uuid::now_v7().simple());
    let shared = |c: &mut example_server::Config| {
        c.database_url = Some(database_url.to_string());
        c.redis_url = Some(redis.clone());
        c.redis_namespace = namespace.clone();
    };
    let a = Server::start_with(shared).await;
    // The same catalog and signing key: B loads what A wrote.
    let b = Server::start_in(a.data_dir.clone(), shared).await;

    let user = a.login(None).await;
    let event = a.event(&user, "concert").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let performance = a.performances(&user, &event).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let seats = a.seats(&user, &performance).await;
    let mut stream = SseClient::open(&a, &performance, None).await;
    assert_eq!(stream.next().await.event, "snapshot");

    // The queue token joined through A is honoured by B: the room is read from Redis.
    let token = crate::concert::admitted_token(&a, &user, &event).await;
    hold(&b, &user, &performance, &[&seats[0]], Some(&token)).await;
    let label = seats[0]["label"].as_str().expect("label");
    let held = stream.seat(label).await;
    assert_eq!(held.data["what"]["change"], "held");
    assert_eq!(held.data["what"]["available"], false);

    b.stop().await.expect("B stopped");
    a.stop().await.expect("A stopped");
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
}
