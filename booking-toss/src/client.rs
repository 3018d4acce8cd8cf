//! [`TossClient`]: the four Toss calls a booking needs — confirm, cancel, and look-up by
//! payment key or by order id — with Basic auth, idempotency keys on every POST, timeouts, and
//! answers read leniently into [`Payment`].

use std::fmt;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{RequestBuilder, Url};
use serde::Deserialize;

use crate::TossError;
use crate::codes::Endpoint;
use crate::idempotency::IdempotencyKey;
use crate::params::{CancelParams, ConfirmParams, validate_order_id, validate_payment_key};
use crate::payment::Payment;
use crate::secret::SecretKey;
use crate::timeouts::Timeouts;

/// Toss's API host; test and live keys both use it (the key picks the environment).
pub const DEFAULT_BASE_URL: &str = "https://api.tosspayments.com";

/// The header that makes a POST idempotent at Toss.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A Toss Payments API client. Cheap to clone (clones share the connection pool).
///
/// Every call is one HTTP request; retries are the caller's, by the error's
/// [`class`](TossError::class) (the [`TossGateway`](crate::TossGateway) leaves them to
/// booking-core's retry policy). The secret key is sent only in the `Authorization` header,
/// marked sensitive, and `Debug` shows no more of it than its `test_sk_` / `live_sk_` prefix.
#[derive(Clone)]
pub struct TossClient {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    key: SecretKey,
    timeouts: Timeouts,
}

impl fmt::Debug for TossClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossClient")
            .field("base_url", &self.base.as_str())
            .field("key", &self.key)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TossClient`]: [`TossClient::builder`].
#[derive(Debug)]
pub struct TossClientBuilder {
    key: SecretKey,
    base_url: String,
    timeouts: Timeouts,
    http: Option<reqwest::Client>,
}

impl TossClientBuilder {
    /// Sends requests to `url` instead of [`DEFAULT_BASE_URL`]: the fake Toss server in
    /// tests, a proxy in production. Paths are appended to it (`{url}/v1/payments/…`).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Uses `timeouts` instead of [`Timeouts::default`].
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sends through `client` (its TLS, proxy and pool settings; its own connect timeout)
    /// instead of one this builder makes.
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`TossError::Config`] for a base URL that is not `http(s)://…`, or if the HTTP client
    /// cannot be built.
    pub fn build(self) -> Result<TossClient, TossError> {
        let base = Url::parse(&self.base_url)
            .map_err(|e| TossError::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(TossError::Config(format!(
                "base URL {:?} is not an http(s) URL",
                self.base_url
            )));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                install_crypto_provider();
                reqwest::Client::builder()
                    .connect_timeout(self.timeouts.connect)
                    .user_agent(concat!("booking-toss/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| TossError::Config(format!("HTTP client: {e}")))?
            }
        };
        Ok(TossClient {
            http,
            base,
            auth: self.key.basic_auth()?,
            key: self.key,
            timeouts: self.timeouts,
        })
    }
}

/// Makes ring rustls's process-wide crypto provider unless one is installed already (by the
/// application, or an earlier client). reqwest is built without a provider of its own: see
/// `docs/adr/0006-toss-client.md`.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl TossClient {
    /// A builder for a client authenticating with `key`, sending to [`DEFAULT_BASE_URL`]
    /// with [`Timeouts::default`].
    pub fn builder(key: SecretKey) -> TossClientBuilder {
        TossClientBuilder {
            key,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeouts: Timeouts::default(),
            http: None,
        }
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/payments/confirm`: approves the buyer's authenticated payment for exactly
    /// `params.amount`. Resending with the same `key` replays the first answer instead of
    /// approving again.
    ///
    /// # Errors
    /// [`TossError`]; see [`TossError::class`] for what to do about each.
    pub async fn confirm(
        &self,
        params: &ConfirmParams,
        key: &IdempotencyKey,
    ) -> Result<Payment, TossError> {
        params.validate()?;
        let url = self.url(&["v1", "payments", "confirm"])?;
        self.post(Endpoint::Confirm, url, params, key).await
    }

    /// `POST /v1/payments/{payment_key}/cancel`: cancels the whole balance, or
    /// `params.cancel_amount` of it. A new `key` per distinct cancel; the same key on every
    /// resend of one.
    ///
    /// # Errors
    /// [`TossError`]; see [`TossError::class`].
    pub async fn cancel(
        &self,
        payment_key: &str,
        params: &CancelParams,
        key: &IdempotencyKey,
    ) -> Result<Payment, TossError> {
        validate_payment_key(payment_key)?;
        params.validate()?;
        let url = self.url(&["v1", "payments", payment_key, "cancel"])?;
        self.post(Endpoint::Cancel, url, params, key).await
    }

    /// `GET /v1/payments/{payment_key}`.
    ///
    /// # Errors
    /// [`TossError`]; `NOT_FOUND_PAYMENT` (404) if Toss has no such payment.
    pub async fn payment(&self, payment_key: &str) -> Result<Payment, TossError> {
        validate_payment_key(payment_key)?;
        let url = self.url(&["v1", "payments", payment_key])?;
        self.get(url).await
    }

    /// `GET /v1/payments/orders/{order_id}`.
    ///
    /// # Errors
    /// [`TossError`]; `NOT_FOUND_PAYMENT` (404) if Toss has no payment for the order.
    pub async fn payment_by_order(&self, order_id: &str) -> Result<Payment, TossError> {
        validate_order_id(order_id)?;
        let url = self.url(&["v1", "payments", "orders", order_id])?;
        self.get(url).await
    }

    /// The base URL with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, TossError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| TossError::Config("the base URL cannot take a path".to_owned()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn post<B: serde::Serialize>(
        &self,
        endpoint: Endpoint,
        url: Url,
        body: &B,
        key: &IdempotencyKey,
    ) -> Result<Payment, TossError> {
        let body =
            serde_json::to_vec(body).map_err(|e| TossError::InvalidRequest(e.to_string()))?;
        let request = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY_HEADER, key.as_str())
            .timeout(self.timeouts.post)
            .body(body);
        self.send(endpoint, request).await
    }

    async fn get(&self, url: Url) -> Result<Payment, TossError> {
        let request = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.auth.clone())
            .timeout(self.timeouts.get);
        self.send(Endpoint::Lookup, request).await
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        request: RequestBuilder,
    ) -> Result<Payment, TossError> {
        let response = request.send().await.map_err(sending_failed)?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|source| TossError::NoAnswer {
                timed_out: source.is_timeout(),
                source,
            })?;
        let answer = read_payment(status, &body);
        if let Err(error) = &answer {
            tracing::debug!(
                ?endpoint,
                status,
                code = error.code(),
                "Toss refused the call"
            );
        }
        answer
    }
}

/// What a failed `send` means: not sent (connect), refused locally (builder), or sent
/// without a complete answer.
fn sending_failed(source: reqwest::Error) -> TossError {
    if source.is_connect() {
        TossError::Connect { source }
    } else if source.is_builder() {
        TossError::InvalidRequest(source.to_string())
    } else {
        TossError::NoAnswer {
            timed_out: source.is_timeout(),
            source,
        }
    }
}

/// The error body Toss sends with a non-2xx status.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

/// Reads an answer: a [`Payment`] for 2xx, the error body otherwise. Never panics, whatever
/// the bytes.
pub(crate) fn read_payment(status: u16, body: &[u8]) -> Result<Payment, TossError> {
    // serde would also read a struct from a JSON array of its fields; Toss answers objects.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(TossError::Decode {
            status,
            reason: "the answer is not a JSON object".to_owned(),
        });
    }
    if (200..=299).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| TossError::Decode {
            status,
            reason: format!("not a payment: {e}"),
        });
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => Ok(error),
        Err(e) => Err(TossError::Decode {
            status,
            reason: format!("not an error body: {e}"),
        }),
    }
    .and_then(|error| {
        Err(TossError::Api {
            status,
            code: error.code,
            message: error.message.unwrap_or_default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn answers_are_payments_or_typed_errors() {
        let payment = read_payment(200, br#"{"paymentKey":"k","orderId":"o","status":"DONE"}"#);
        assert_eq!(payment.unwrap().payment_key, "k");
        let refused = read_payment(
            403,
            r#"{"code":"REJECT_CARD_PAYMENT","message":"한도초과"}"#.as_bytes(),
        );
        assert!(matches!(
            refused,
            Err(TossError::Api { status: 403, ref code, .. }) if code == "REJECT_CARD_PAYMENT"
        ));
        assert!(matches!(
            read_payment(502, b"<html>bad gateway</html>"),
            Err(TossError::Decode { status: 502, .. })
        ));
        assert!(matches!(
            read_payment(200, b"{}"),
            Err(TossError::Decode { status: 200, .. })
        ));
        for array in [&br#"["k","o","DONE"]"#[..], br#" ["REJECT_CARD_PAYMENT"]"#] {
            assert!(matches!(
                read_payment(400, array),
                Err(TossError::Decode { .. })
            ));
            assert!(read_payment(200, array).is_err());
        }
    }

    #[test]
    fn paths_are_encoded_and_debug_hides_the_key() {
        let key = SecretKey::new("test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R").unwrap();
        let client = TossClient::builder(key)
            .base_url("http://127.0.0.1:9/prefix/")
            .build()
            .unwrap();
        let url = client.url(&["v1", "payments", "a/b?c"]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/prefix/v1/payments/a%2Fb%3Fc"
        );
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("zXLk") && !shown.contains("dGVzdF9z"),
            "{shown}"
        );
        let key = SecretKey::new("test_sk_x").unwrap();
        assert!(
            TossClient::builder(key)
                .base_url("ftp://x")
                .build()
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn no_bytes_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..256), status in 100_u16..600) {
            let _ = read_payment(status, &bytes);
        }
    }
}
