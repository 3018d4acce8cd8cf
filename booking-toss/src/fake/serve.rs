//! Serving the fake over TCP, one task per connection, so a scripted fault can close the
//! connection a request came on ("charged, but the answer is lost").

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use super::FakeToss;
use super::routes::ConnectionKill;

/// Serves `fake` on `listener` until `shutdown` completes. Connections already open are
/// finished on their own tasks.
///
/// # Errors
/// Never, in practice: accept errors (such as running out of file descriptors) are waited
/// out rather than ending the server.
pub async fn serve(
    listener: TcpListener,
    fake: FakeToss,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let router = fake.router();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "fake Toss: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small request/response exchanges: do not wait to fill packets.
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let router = router.clone();
        let on_request = Arc::clone(&kill);
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectionKill(Arc::clone(&on_request)));
            router.clone().oneshot(request)
        });
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = kill.notified() => {} // dropping the connection closes the socket
            }
        });
    }
}

/// The fake serving on an ephemeral port of 127.0.0.1, in this process, until dropped.
#[derive(Debug)]
pub struct FakeTossServer {
    fake: FakeToss,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeTossServer {
    /// Binds `127.0.0.1:0` and serves `fake` on the current tokio runtime.
    ///
    /// # Errors
    /// If the port cannot be bound.
    pub async fn start(fake: FakeToss) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let serving = fake.clone();
        let task = tokio::spawn(async move {
            let _ = serve(listener, serving, std::future::pending()).await;
        });
        Ok(FakeTossServer { fake, addr, task })
    }

    /// The base URL to give a [`TossClient`](crate::TossClient): `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fake's state and controls.
    pub fn fake(&self) -> &FakeToss {
        &self.fake
    }
}

impl Drop for FakeTossServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
