//! A server on an ephemeral port with a fresh data directory, and a small client for it.

#![allow(dead_code)]

use std::time::Duration;

use example_server::{AppState, Config};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping it stops it and removes its data.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) http: Client,
    /// The embedded fake Toss, to read what it sent.
    pub(crate) fake: Option<booking_toss::fake::FakeToss>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// The data directory (catalog, secrets, SQLite file).
    pub(crate) data_dir: std::path::PathBuf,
    _data: Option<TempDir>,
}

/// An answer: status, headers and the JSON body (`Null` if none).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// The problem `type` of an error answer.
    pub(crate) fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    /// Asserts a problem+json answer with `status` and `/problems/{slug}`.
    pub(crate) fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(
            self.problem_type(),
            format!("/problems/{slug}"),
            "{:#}",
            self.body
        );
    }
}

/// A signed-in demo user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) token: String,
    pub(crate) id: String,
}

impl Server {
    /// A server with fast waiting-room admissions.
    pub(crate) async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// A server with `configure` applied to the test configuration.
    pub(crate) async fn start_with(configure: impl FnOnce(&mut Config)) -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let mut server = Server::start_in(data.path().to_path_buf(), configure).await;
        server._data = Some(data);
        server
    }

    /// A server on the data directory `data_dir` (another server's: the same catalog and
    /// signing key), which it leaves in place.
    pub(crate) async fn start_in(
        data_dir: std::path::PathBuf,
        configure: impl FnOnce(&mut Config),
    ) -> Server {
        booking_toss::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config::with_data_dir(&data_dir);
        config.bind = addr;
        config.admit_every = Duration::from_millis(100);
        config.upkeep_every = Duration::from_millis(500);
        configure(&mut config);
        let state = AppState::build(config).await.expect("state");
        let fake = state.fake_toss.clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(example_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Server {
            base: format!("http://{addr}"),
            http: Client::new(),
            fake,
            shutdown: Some(tx),
            task: Some(task),
            data_dir,
            _data: None,
        }
    }

    /// Sends the shutdown signal and waits for the server to drain and stop.
    pub(crate) async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// Signs in a new user, with a member grade or as a guest.
    pub(crate) async fn login(&self, grade: Option<&str>) -> User {
        let body = match grade {
            Some(g) => serde_json::json!({ "grade": g }),
            None => serde_json::json!({}),
        };
        let reply = self
            .call(Method::POST, "/v1/auth/demo", None, Some(&body), &[])
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        User {
            token: reply.body["token"].as_str().expect("token").to_owned(),
            id: reply.body["user_id"].as_str().expect("user id").to_owned(),
        }
    }

    /// A request with an optional user, JSON body and extra headers.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method, url);
        if let Some(user) = user {
            request = request.bearer_auth(&user.token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        reply(response).await
    }

    /// `GET path` as `user`.
    pub(crate) async fn get(&self, user: &User, path: &str) -> Reply {
        self.call(Method::GET, path, Some(user), None, &[]).await
    }

    /// `POST path` with `body` as `user`.
    pub(crate) async fn post(&self, user: &User, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(user), Some(body), &[])
            .await
    }

    /// The first event of `kind`.
    pub(crate) async fn event(&self, user: &User, kind: &str) -> Value {
        let events = self.get(user, "/v1/events").await;
        events
            .body
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["kind"] == kind)
            .cloned()
            .expect("event of kind")
    }

    /// The performances of `event`.
    pub(crate) async fn performances(&self, user: &User, event: &str) -> Vec<Value> {
        let reply = self
            .get(user, &format!("/v1/events/{event}/performances"))
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body.as_array().expect("performances").clone()
    }

    /// The seats of a performance or flight.
    pub(crate) async fn seats(&self, user: &User, sale: &str) -> Vec<Value> {
        let reply = self
            .get(user, &format!("/v1/performances/{sale}/seats"))
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body.as_array().expect("seats").clone()
    }

    /// The only flight, from the search.
    pub(crate) async fn flight(&self, user: &User) -> Value {
        let reply = self.get(user, "/v1/flights?from=ICN&to=CJU").await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body[0].clone()
    }

    /// The flight's id and its first seat (the flight has no waiting room).
    pub(crate) async fn flight_seat(&self, user: &User) -> (String, Value) {
        let flight = self.flight(user).await;
        let id = flight["id"].as_str().expect("id").to_owned();
        let seats = self.seats(user, &id).await;
        (id, seats[0]["ticket"].clone())
    }

    /// Holds the flight's first seat for `user`: the order.
    pub(crate) async fn hold_flight_seat(&self, user: &User) -> Value {
        let (sale, seat) = self.flight_seat(user).await;
        let placed = self
            .post(
                user,
                "/v1/orders",
                &serde_json::json!({ "sale": sale, "seats": [seat] }),
            )
            .await;
        assert_eq!(placed.status, 201, "{:#}", placed.body);
        placed.body
    }

    /// The user's wallet balance.
    pub(crate) async fn balance(&self, user: &User) -> i64 {
        let reply = self.get(user, "/v1/wallet").await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body["balance"].as_i64().expect("balance")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Reads a response into a [`Reply`].
pub(crate) async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}
