//! [`AppState`]: everything a handler reaches, built once from the [`Config`].

use std::path::Path;
use std::sync::Arc;

use booking_core::clock::{Clock, SystemClock};
use booking_core::gateways::PointsGateway;
use booking_core::ids::EventId;
use booking_core::money::Currency;
use booking_core::policy::TokioSleeper;
use booking_core::policy::expiry::{ExpiryPolicy, ExpiryPolicyConfig};
use booking_core::service::{BookingService, Policies, Ports};
use booking_toss::fake::{FakeToss, FakeTossConfig};
use booking_toss::{SecretKey, TossClient, TossGateway, WebhookHandler};
use metrics_exporter_prometheus::PrometheusHandle;
use rand::Rng;

use crate::auth::Signer;
use crate::backend::{self, Backend, BoxError};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::live::Live;
use crate::read_cache::ReadCache;

/// The secret key the embedded fake Toss accepts (a test key: it moves no money).
const FAKE_TOSS_KEY: &str = "test_sk_booking_server_fake";

/// The shared state of every handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The booking service for sales without a waiting room.
    pub service: BookingService,
    /// The same service with the waiting room's gate in front of `hold`.
    pub gated: BookingService,
    /// The ports.
    pub backend: Backend,
    /// What is on sale.
    pub catalog: Arc<Catalog>,
    /// Bearer tokens.
    pub signer: Signer,
    /// The token `/v1/admin/*` requires.
    pub admin_token: Arc<str>,
    /// Seat maps and flight searches, kept briefly.
    pub reads: ReadCache,
    /// The live seat maps' hub.
    pub live: Live,
    /// The Redis channel of the live changes (`{namespace}:live`).
    pub live_channel: Arc<str>,
    /// Where browsers reach the server, without a trailing slash.
    pub public_url: Arc<str>,
    /// The embedded fake Toss, when no real key is configured.
    pub fake_toss: Option<FakeToss>,
    /// Toss webhooks.
    pub webhooks: WebhookHandler,
    /// The Prometheus render of `/metrics`.
    pub metrics: PrometheusHandle,
    /// The configuration.
    pub config: Arc<Config>,
}

impl AppState {
    /// Connects to the backend, seeds the demo data on first start and builds the services.
    pub async fn build(config: Config) -> Result<AppState, BoxError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let backend = backend::build(&config, clock.clone()).await?;
        let catalog = load_or_seed(&config, &backend, clock.now()).await?;
        let public_url: Arc<str> = config.public_url().into();
        let live = Live::new(&catalog);

        let (client, fake_toss) = toss(&config, &public_url)?;
        let toss = TossGateway::new(client.clone()).with_clock(clock.clone());
        let mut policies = Policies::new(Currency::KRW, catalog.rules()?);
        policies.expiry = ExpiryPolicy::new(ExpiryPolicyConfig {
            hold_ttl: config.hold_ttl,
            grace_period: config.hold_grace,
            sweep_interval: config.upkeep_every,
            ..ExpiryPolicyConfig::default()
        })?;
        toss.check_retry_policy(&policies.retry)?;
        let ports = Ports::new(
            backend.store.clone(),
            backend.coupons.clone(),
            clock.clone(),
            Arc::new(TokioSleeper),
        )
        .gateway(Arc::new(toss))
        .gateway(Arc::new(PointsGateway::new(
            backend.wallet.clone(),
            clock.clone(),
        )));
        let service = BookingService::new(ports.clone(), policies.clone());
        let gated = BookingService::new(ports.waiting_room(backend.queue.clone()), policies);
        let webhooks = WebhookHandler::new(client, service.clone(), backend.idempotency.clone());

        Ok(AppState {
            service,
            gated,
            catalog: Arc::new(catalog),
            signer: Signer::new(&secret(
                &config,
                config.signing_key.as_deref(),
                "signing-key",
            )?),
            admin_token: String::from_utf8(secret(
                &config,
                config.admin_token.as_deref(),
                "admin-token",
            )?)?
            .into(),
            reads: ReadCache::new(config.search_cache_ttl),
            live,
            live_channel: crate::live::redis::channel(&config.redis_namespace).into(),
            public_url,
            fake_toss,
            webhooks,
            metrics: crate::metrics::handle(),
            backend,
            config: Arc::new(config),
        })
    }

    /// The service for `sale`: gated when its event has a waiting room.
    pub fn service_for(&self, sale: EventId) -> &BookingService {
        if self.catalog.waiting_room_of(sale).is_some() {
            &self.gated
        } else {
            &self.service
        }
    }
}

/// The catalog in the data directory (the demo catalog, saved there on first start), with its
/// inventory listed in the stores: a fresh database gets the catalog's items on start.
async fn load_or_seed(
    config: &Config,
    backend: &Backend,
    now: jiff::Timestamp,
) -> Result<Catalog, BoxError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("catalog.json");
    let catalog = match Catalog::load(&path)? {
        Some(catalog) => catalog,
        None => {
            let catalog = crate::seed::demo_catalog(now)?;
            catalog.save(&path)?;
            tracing::info!(path = %path.display(), "wrote the demo catalog");
            catalog
        }
    };
    let listed = crate::seed::list(&catalog, &backend.store, &backend.coupons).await?;
    if listed > 0 {
        tracing::info!(
            listed,
            "listed the catalog's sales and coupons in the database"
        );
    }
    Ok(catalog)
}

/// The Toss client, and the fake it talks to when no real key is configured.
fn toss(config: &Config, public_url: &str) -> Result<(TossClient, Option<FakeToss>), BoxError> {
    if let (Some(key), Some(base)) = (&config.toss_secret_key, &config.toss_base_url) {
        let client = TossClient::builder(SecretKey::new(key.as_str())?)
            .base_url(base.as_str())
            .build()?;
        return Ok((client, None));
    }
    let key = SecretKey::new(FAKE_TOSS_KEY)?;
    let fake = FakeToss::new(FakeTossConfig::new(key.clone()));
    let client = TossClient::builder(key)
        .base_url(format!("{public_url}/fake-toss"))
        .build()?;
    Ok((client, Some(fake)))
}

/// `configured`, or the secret kept in `{data_dir}/{file}`, generated on first use.
fn secret(config: &Config, configured: Option<&str>, file: &str) -> Result<Vec<u8>, BoxError> {
    if let Some(value) = configured {
        return Ok(value.as_bytes().to_vec());
    }
    let path = config.data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let text = hex::encode(bytes);
            write_private(&path, &text)?;
            tracing::info!(path = %path.display(), "generated {file}");
            Ok(text.into_bytes())
        }
        Err(e) => Err(format!("reading {}: {e}", path.display()).into()),
    }
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), BoxError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())?;
    Ok(())
}
