//! A fake Toss server on a manual clock, with a client and a gateway pointed at it.

use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::ManualClock;
use booking_core::policy::Sleeper;
use booking_core::testkit::start_time;
use booking_toss::fake::{FakeToss, FakeTossConfig, FakeTossServer, SessionSpec};
use booking_toss::{Amount, Payment, SecretKey, Timeouts, TossClient, TossGateway};

/// The secret key of the docs' examples.
pub(crate) const SECRET: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";

pub(crate) fn key() -> SecretKey {
    SecretKey::new(SECRET).unwrap()
}

pub(crate) fn won(n: i64) -> Amount {
    Amount::new(n).unwrap()
}

/// Timeouts short enough for tests of timeouts to run quickly.
pub(crate) fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        post: Duration::from_millis(400),
        get: Duration::from_millis(400),
    }
}

/// Waits real time (at most 20 ms) and leaves the manual clock alone: the gateway's pauses
/// before resending a request Toss reports in flight, kept short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShortPause;

#[async_trait::async_trait]
impl Sleeper for ShortPause {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration.min(Duration::from_millis(20))).await;
    }
}

/// A fake Toss server on `clock`, a client and a gateway for it.
pub(crate) struct Toss {
    pub(crate) server: FakeTossServer,
    pub(crate) client: TossClient,
    pub(crate) gateway: TossGateway,
    pub(crate) clock: ManualClock,
}

impl Toss {
    pub(crate) async fn start() -> Toss {
        Toss::on(
            ManualClock::new(start_time()),
            |config| config,
            Timeouts::default(),
        )
        .await
    }

    /// A fake configured by `tune`, on `clock`, and a client with `timeouts`.
    pub(crate) async fn on(
        clock: ManualClock,
        tune: impl FnOnce(FakeTossConfig) -> FakeTossConfig,
        timeouts: Timeouts,
    ) -> Toss {
        let config = tune(FakeTossConfig::new(key()).clock(Arc::new(clock.clone())));
        let server = FakeTossServer::start(FakeToss::new(config)).await.unwrap();
        let client = TossClient::builder(key())
            .base_url(server.url())
            .timeouts(timeouts)
            .build()
            .unwrap();
        let gateway = TossGateway::new(client.clone())
            .with_clock(Arc::new(clock.clone()))
            .with_sleeper(Arc::new(ShortPause));
        Toss {
            server,
            client,
            gateway,
            clock,
        }
    }

    pub(crate) fn fake(&self) -> &FakeToss {
        self.server.fake()
    }

    /// The buyer authenticates a card payment of `amount` won for `order_id`.
    pub(crate) fn authenticate(&self, order_id: &str, amount: i64) -> Payment {
        self.fake()
            .authenticate(&SessionSpec::card(order_id, won(amount)))
    }
}
