//! The fake Toss Payments server as a program, for running an example shop with no network.
//!
//! Run with: `cargo run -p booking-toss --features fake --bin fake-toss`
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FAKE_TOSS_ADDR` | `127.0.0.1:4010` | where to listen |
//! | `FAKE_TOSS_SECRET_KEY` | `test_sk_fake_toss_local` | the only secret key accepted |
//! | `FAKE_TOSS_WEBHOOK_URL` | unset | where to post webhooks |
//!
//! The buyer's trip through the payment window is `GET /__fake/widget?orderId=…&amount=…&
//! successUrl=…`; see `booking_toss::fake` for the other controls.

use std::process::ExitCode;

use booking_toss::SecretKey;
use booking_toss::fake::{FakeToss, FakeTossConfig, serve};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-toss: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let addr = std::env::var("FAKE_TOSS_ADDR").unwrap_or_else(|_| "127.0.0.1:4010".to_owned());
    let key = std::env::var("FAKE_TOSS_SECRET_KEY")
        .unwrap_or_else(|_| "test_sk_fake_toss_local".to_owned());
    let key = SecretKey::new(key).map_err(|e| e.to_string())?;
    let mut config = FakeTossConfig::new(key);
    if let Ok(url) = std::env::var("FAKE_TOSS_WEBHOOK_URL") {
        let url = url
            .parse()
            .map_err(|e| format!("FAKE_TOSS_WEBHOOK_URL {url:?}: {e}"))?;
        config = config.webhook_url(url);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("bind {addr}: {e}"))?;
        eprintln!("fake-toss: listening on http://{addr}");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, FakeToss::new(config), shutdown)
            .await
            .map_err(|e| e.to_string())
    })
}
