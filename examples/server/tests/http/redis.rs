//! The server with `REDIS_URL`: the waiting room, idempotency keys, coupons, job locks and the
//! hot-stock gate on Redis (`BOOKING_TEST_REDIS_URL`), each test under a key namespace of its
//! own. The flows are the embedded default's, run again on this backend.

use crate::support::Server;

/// A server on Redis, keys under a fresh namespace.
async fn on_redis() -> Server {
    let url = std::env::var("BOOKING_TEST_REDIS_URL")
        .expect("BOOKING_TEST_REDIS_URL must be set to run this test");
    let namespace = format!("booking-server-test:{}", uuid::Uuid::now_v7().simple());
    Server::start_with(|config| {
        config.redis_url = Some(url);
        config.redis_namespace = namespace;
    })
    .await
}

#[tokio::test]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn readyz_reports_redis_answering() {
    let server = on_redis().await;
    let ready = server
        .call(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(ready.status, 200, "{:#}", ready.body);
    assert_eq!(ready.body["redis"], "ok");
}

#[tokio::test]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn concert_flow_on_redis() {
    crate::concert::concert_flow(&on_redis().await).await;
}

#[tokio::test]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn flash_sale_flow_on_redis() {
    crate::flash_sale::flash_sale_flow(on_redis().await).await;
}

#[tokio::test]
#[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
async fn retried_post_on_redis() {
    crate::orders::retried_post_flow(on_redis().await).await;
}
