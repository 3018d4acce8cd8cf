//! Fencing across a Redis restarted without its data (`SHUTDOWN NOSAVE`, started again on the
//! same port): holder A takes a lock and writes to PostgreSQL through the fencing check; Redis
//! forgets everything; holder B takes the same lock, with a larger token, and writes; A's
//! late write is refused; B keeps writing (no livelock). Three restarts in a row.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::SystemClock;
use booking_core::policy::TokioSleeper;
use booking_core::ports::lock::{FencingToken, LockError, LockManager, LockOptions};
use booking_redis::{RedisConnection, RedisLockManager};
use sqlx::PgPool;

use crate::support::{OwnRedis, PgSchema, fresh_namespace, until_ok};

/// The fenced write: accepted unless the seat has seen a larger token.
async fn write(pool: &PgPool, holder: &str, token: FencingToken) -> bool {
    let token = i64::try_from(token.get()).expect("tokens fit a bigint");
    sqlx::query(
        "UPDATE fenced_seats SET holder = $1, fence_token = $2 WHERE id = 1 AND fence_token <= $2",
    )
    .bind(holder)
    .bind(token)
    .execute(pool)
    .await
    .unwrap()
    .rows_affected()
        == 1
}

async fn holder(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT holder FROM fenced_seats WHERE id = 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(no_redis_server, no_postgres_url),
    ignore = "needs redis-server and BOOKING_TEST_POSTGRES_URL"
)]
async fn a_restarted_redis_never_hands_out_a_smaller_token() {
    let mut redis = OwnRedis::start().await;
    let schema = PgSchema::fresh().await;
    let pool = &schema.pool;
    sqlx::query(
        "CREATE TABLE fenced_seats (id int PRIMARY KEY, holder text NOT NULL,
                                    fence_token bigint NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO fenced_seats VALUES (1, 'nobody', 0)")
        .execute(pool)
        .await
        .unwrap();
    let conn = RedisConnection::connect(&redis.url()).await.unwrap();
    let locks = RedisLockManager::new(
        conn,
        fresh_namespace(),
        Arc::new(SystemClock),
        Arc::new(TokioSleeper),
    );
    let opts = LockOptions::new(Duration::from_secs(30));

    let mut last = FencingToken::new(0);
    for round in 0..3 {
        let a = locks.acquire(&["seat:1"], &opts).await.unwrap();
        assert!(a.token() > last);
        assert!(write(pool, &format!("A{round}"), a.token()).await);

        redis.shutdown_nosave().await;
        redis.restart().await;
        // The connection comes back by itself; a probe on another key waits for it.
        let probe = format!("probe:{round}");
        let probe = [probe.as_str()];
        until_ok(|| locks.acquire(&probe, &opts)).await;

        // Redis forgot A's lease: B takes the lock while A still believes it holds it.
        let b = locks.acquire(&["seat:1"], &opts).await.unwrap();
        assert!(
            b.token() > a.token(),
            "round {round}: B's token {} must exceed A's {}",
            b.token(),
            a.token()
        );
        assert!(write(pool, &format!("B{round}"), b.token()).await);
        assert!(
            !write(pool, &format!("A{round} (late)"), a.token()).await,
            "A's late write is refused"
        );
        for i in 0..20 {
            assert!(write(pool, &format!("B{round}.{i}"), b.token()).await);
        }
        assert_eq!(holder(pool).await, format!("B{round}.19"));
        assert!(matches!(a.release().await, Err(LockError::Lost { .. })));
        last = b.token();
        b.release().await.unwrap();
    }
    schema.drop().await;
}
