//! What a caller sees when Redis misbehaves: a connection dropped while a script runs (before
//! the request reached Redis, or after the script ran and before its answer came back) is a
//! typed error, and the script's change is all there or not at all; Redis down in front of
//! PostgreSQL fails holds at once with "coordination unavailable", changing no row.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use booking_core::clock::{Clock, ManualClock};
use booking_core::ids::{EventId, UserId};
use booking_core::policy::ManualSleeper;
use booking_core::ports::lock::{LockError, LockManager, LockOptions};
use booking_core::ports::queue::{AdmissionQueue, QueueError};
use booking_core::ports::store::{BookingStore, ItemRef, StoreError};
use booking_core::testkit::fixtures::{pending_order, stock};
use booking_core::testkit::start_time;
use booking_redis::{
    RedisAdmissionQueue, RedisConnection, RedisFailure, RedisLockManager, RedisStockGate,
};
use booking_sqlx::PostgresStore;
use redis::AsyncCommands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{HANG, OwnRedis, PgSchema, fresh_namespace, until_ok};

/// Where the proxy cuts the next script call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Drop the connection instead of passing the request on.
    BeforeRedis,
    /// Pass the request on, wait for Redis's answer, and drop the connection instead of
    /// passing the answer back.
    AfterRedis,
}

/// A TCP proxy in front of Redis that cuts one script call when told to.
struct Proxy {
    port: u16,
    cut: Arc<Mutex<Option<Cut>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&cut);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
                tokio::spawn(relay(client, upstream, Arc::clone(&shared)));
            }
        });
        Proxy { port, cut }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Cuts the next script call as `cut` says.
    fn arm(&self, cut: Cut) {
        *self.cut.lock().unwrap() = Some(cut);
    }
}

/// Passes bytes both ways until a side closes or an armed cut fires on a script call.
async fn relay(mut client: TcpStream, mut upstream: TcpStream, cut: Arc<Mutex<Option<Cut>>>) {
    let (mut from_client, mut from_upstream) = (vec![0_u8; 64 * 1024], vec![0_u8; 64 * 1024]);
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let Ok(n) = read else { return };
                if n == 0 {
                    return;
                }
                let chunk = &from_client[..n];
                let is_script = chunk.windows(7).any(|w| w.eq_ignore_ascii_case(b"EVALSHA"));
                let armed = if is_script { cut.lock().unwrap().take() } else { None };
                match armed {
                    Some(Cut::BeforeRedis) => return,
                    Some(Cut::AfterRedis) => {
                        upstream.write_all(chunk).await.unwrap();
                        // The answer means the script ran; it never reaches the client.
                        let _ = upstream.read(&mut from_upstream).await;
                        return;
                    }
                    None => {
                        if upstream.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                }
            }
            read = upstream.read(&mut from_upstream) => {
                let Ok(n) = read else { return };
                if n == 0 || client.write_all(&from_upstream[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The Redis failure behind a port's `Backend` error.
fn failure<'a>(source: &'a (dyn std::error::Error + Send + Sync + 'static)) -> &'a RedisFailure {
    source
        .downcast_ref::<RedisFailure>()
        .expect("a Redis failure as the source")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_server, ignore = "redis-server is not installed")]
async fn a_connection_dropped_mid_script_is_typed_and_changes_all_or_nothing() {
    let redis = OwnRedis::start().await;
    let proxy = Proxy::start(redis.port()).await;
    let conn = RedisConnection::connect(&proxy.url()).await.unwrap();
    let ns = fresh_namespace();
    let clock = ManualClock::new(start_time());
    let locks = RedisLockManager::new(
        conn.clone(),
        ns.clone(),
        Arc::new(clock.clone()),
        Arc::new(ManualSleeper::new(clock.clone())),
    );
    let opts = LockOptions::new(Duration::from_secs(60));
    // Loads the script, so that the cut call runs it rather than asking for it. The lease is
    // kept to the end: dropped here, its release (a script call of its own, sent in the
    // background) could reach the proxy after `arm` and be the call that is cut.
    let _warm = locks.acquire(&["warm"], &opts).await.unwrap();
    let direct = redis::Client::open(redis.url()).unwrap();
    let direct = direct.get_multiplexed_async_connection().await.unwrap();
    let held = |keys: [&'static str; 3]| {
        let mut direct = direct.clone();
        let ns = ns.clone();
        async move {
            let mut held = Vec::new();
            for key in keys {
                let value: Option<String> =
                    direct.get(format!("{{{ns}}}:lock:{key}")).await.unwrap();
                held.push(value);
            }
            held
        }
    };

    // Cut after Redis ran the script: the caller cannot know, the lock is taken whole.
    proxy.arm(Cut::AfterRedis);
    let err = locks.acquire(&["a", "b", "c"], &opts).await.unwrap_err();
    let LockError::Backend { backend, source } = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    assert_eq!(*backend, "redis");
    assert!(
        matches!(failure(&**source), RedisFailure::NoAnswer(_)),
        "{err:?}"
    );
    let values = held(["a", "b", "c"]).await;
    assert!(
        values.iter().all(Option::is_some),
        "all three keys: {values:?}"
    );
    assert!(
        values.windows(2).all(|w| w[0] == w[1]),
        "under one token: {values:?}"
    );
    let busy = until_ok(|| async {
        match locks.acquire(&["b"], &opts).await {
            Err(LockError::Busy { key }) => Ok(key),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(busy, "b");

    // Cut before Redis saw it: nothing was taken.
    proxy.arm(Cut::BeforeRedis);
    let err = locks.acquire(&["d", "e", "f"], &opts).await.unwrap_err();
    assert!(matches!(err, LockError::Backend { .. }), "{err:?}");
    assert_eq!(held(["d", "e", "f"]).await, [None, None, None]);
    until_ok(|| locks.acquire(&["d", "e", "f"], &opts)).await;

    // An admission of 50 out of 200 is whole too: 50 admitted or none.
    let queue = RedisAdmissionQueue::new(conn, ns);
    let event = EventId::new();
    for _ in 0..200 {
        queue.join(event, UserId::new(), clock.now()).await.unwrap();
    }
    let ttl = Duration::from_secs(60);
    queue.admit_next(event, 1, ttl, clock.now()).await.unwrap();
    for (cut, waiting) in [(Cut::AfterRedis, 149), (Cut::BeforeRedis, 149)] {
        proxy.arm(cut);
        let err = queue
            .admit_next(event, 50, ttl, clock.now())
            .await
            .unwrap_err();
        assert!(matches!(err, QueueError::Backend { .. }), "{err:?}");
        let left = until_ok(|| queue.waiting_len(event)).await;
        assert_eq!(left, waiting, "{cut:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(no_redis_server, no_postgres_url),
    ignore = "needs redis-server and BOOKING_TEST_POSTGRES_URL"
)]
async fn redis_down_fails_holds_at_once_and_changes_no_row() {
    let mut redis = OwnRedis::start().await;
    let schema = PgSchema::fresh().await;
    let conn = RedisConnection::connect(&redis.url()).await.unwrap();
    let ns = fresh_namespace();
    let clock = ManualClock::new(start_time());
    let gate = Arc::new(RedisStockGate::new(
        PostgresStore::new(schema.pool.clone()),
        conn.clone(),
        ns.clone(),
    ));
    let store: Arc<dyn BookingStore> = gate.clone();
    let backend = crate::sections::backend_with(&conn, &ns, clock.clone(), Arc::clone(&store));
    let event = EventId::new();
    let stock = stock(&backend, event, 10, 10_000).await;
    let now = clock.now();
    let until = now.checked_add(Duration::from_secs(600)).unwrap();
    let order = |units| {
        let items = [ItemRef::Stock {
            stock,
            quantity: units,
        }];
        pending_order(event, UserId::new(), &items, 10_000, now, until)
    };
    store.place_order(&order(1), now).await.unwrap();
    let before = (
        store.stock(stock).await.unwrap(),
        store.outbox(0, 10_000).await.unwrap().len(),
    );

    redis.shutdown_nosave().await;
    let holds: Vec<_> = (0..8)
        .map(|_| {
            let (store, record) = (Arc::clone(&store), order(1));
            tokio::spawn(async move {
                let answer = store.place_order(&record, now).await;
                (record.order.id(), answer)
            })
        })
        .collect();
    for hold in holds {
        let (id, answer) = tokio::time::timeout(HANG, hold)
            .await
            .expect("a hold does not hang while Redis is down")
            .unwrap();
        match answer {
            Err(StoreError::Busy(why)) => {
                assert!(why.starts_with("coordination unavailable"), "{why}");
            }
            other => panic!("expected coordination unavailable, got {other:?}"),
        }
        assert!(matches!(
            store.order(id).await,
            Err(StoreError::NotFound { .. })
        ));
    }
    let after = (
        store.stock(stock).await.unwrap(),
        store.outbox(0, 10_000).await.unwrap().len(),
    );
    assert_eq!(after, before, "no row changed");

    // Redis comes back empty: the counter is rebuilt from the store, and the rest sells.
    redis.restart().await;
    until_ok(|| gate.stock_left(stock)).await;
    let sold = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let buyers: Vec<_> = (0..20)
        .map(|_| {
            let (store, record, sold) = (Arc::clone(&store), order(1), Arc::clone(&sold));
            tokio::spawn(async move {
                if store.place_order(&record, now).await.is_ok() {
                    sold.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    for buyer in buyers {
        buyer.await.unwrap();
    }
    assert_eq!(sold.load(std::sync::atomic::Ordering::SeqCst), 9);
    assert_eq!(store.stock(stock).await.unwrap().stock.held(), 10);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_redis_server, ignore = "redis-server is not installed")]
async fn ping_says_whether_redis_answers() {
    let mut redis = OwnRedis::start().await;
    let conn = RedisConnection::connect(&redis.url()).await.unwrap();
    conn.ping().await.unwrap();
    redis.shutdown_nosave().await;
    let down = tokio::time::timeout(HANG, conn.ping()).await.unwrap();
    assert!(down.is_err(), "a stopped Redis does not answer PING");
    redis.restart().await;
    until_ok(|| conn.ping()).await;
}
