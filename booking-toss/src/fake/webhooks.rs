//! Posting the fake's webhooks to the configured URL, with Toss's headers.

use std::time::Duration;

use reqwest::Url;

use super::SentWebhook;

/// Posts webhooks to one URL (or nowhere).
#[derive(Debug, Clone)]
pub(super) struct Sender {
    target: Option<(Url, reqwest::Client)>,
}

impl Sender {
    pub(super) fn new(url: Option<Url>) -> Self {
        let target = url.and_then(|url| {
            crate::client::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok()
                .map(|http| (url, http))
        });
        Sender { target }
    }

    pub(super) fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Posts `webhook` as delivery number `retried` (0 for the first); the answer's status,
    /// or `None` if there was none.
    pub(super) async fn deliver(&self, webhook: &SentWebhook, retried: usize) -> Option<u16> {
        let (url, http) = self.target.as_ref()?;
        let response = http
            .post(url.clone())
            .header("content-type", "application/json")
            .header(
                "tosspayments-webhook-transmission-id",
                &webhook.transmission_id,
            )
            .header(
                "tosspayments-webhook-transmission-time",
                &webhook.transmission_time,
            )
            .header(
                "tosspayments-webhook-transmission-retried-count",
                retried.to_string(),
            )
            .body(webhook.body.clone())
            .send()
            .await
            .ok()?;
        Some(response.status().as_u16())
    }
}
