//! The server's configuration: command-line flags, each with an environment variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// How the server runs. Every flag has an environment variable; unset, the server runs on the
/// embedded default (a SQLite file and an in-process fake Toss under `--data-dir`).
#[derive(Clone, Parser)]
#[command(
    name = "booking-server",
    version,
    about = "An axum booking server on booking-core"
)]
pub struct Config {
    /// Where to listen.
    #[arg(long = "bind", env = "BIND_ADDR", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// The URL browsers reach this server at (success and fail URLs, the fake Toss widget);
    /// defaults to `http://{bind}`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Directory of the server's own files: the SQLite database, the catalog, the generated
    /// signing key and admin token.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The database: `sqlite://…`, `postgres://…` or `mysql://…`; defaults to
    /// `sqlite://{data_dir}/booking.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Redis for locks, the waiting room, idempotency keys, coupons and the hot-stock gate
    /// (`redis://host:port`; several URLs separated by commas: a Redis Cluster's nodes).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// The prefix of every Redis key this server writes: servers sharing a sale share it.
    #[arg(long, env = "REDIS_NAMESPACE", default_value = "booking-server")]
    pub redis_namespace: String,

    /// A real Toss secret key; unset, the fake Toss server is mounted at `/fake-toss`.
    #[arg(long, env = "TOSS_SECRET_KEY", requires = "toss_base_url")]
    pub toss_secret_key: Option<String>,

    /// The Toss API base URL to use with `TOSS_SECRET_KEY` (`https://api.tosspayments.com`).
    #[arg(long, env = "TOSS_BASE_URL")]
    pub toss_base_url: Option<String>,

    /// The token `/v1/admin/*` requires; unset, one is generated into `{data_dir}/admin-token`.
    #[arg(long, env = "ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// The key signing bearer tokens; unset, one is generated into `{data_dir}/signing-key`.
    #[arg(long, env = "SIGNING_KEY")]
    pub signing_key: Option<String>,

    /// Buyers the waiting room admits per cycle.
    #[arg(long, env = "ADMIT_PER_CYCLE", default_value_t = 50)]
    pub admit_per_cycle: u32,

    /// How often the waiting room admits (e.g. `1s`, `500ms`).
    #[arg(long, env = "ADMIT_EVERY", default_value = "1s", value_parser = parse_duration)]
    pub admit_every: Duration,

    /// How long an admission stays valid.
    #[arg(long, env = "ADMISSION_TTL", default_value = "10m", value_parser = parse_duration)]
    pub admission_ttl: Duration,

    /// How long a hold lasts before it can be extended.
    #[arg(long, env = "HOLD_TTL", default_value = "10m", value_parser = parse_duration)]
    pub hold_ttl: Duration,

    /// How long past a hold's deadline the sweeper waits before freeing what it held: a margin
    /// for processes whose clocks differ a little. A lapsed hold is free to hold again at once
    /// either way; the grace only delays the `expired` change on live seat maps.
    #[arg(long, env = "HOLD_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub hold_grace: Duration,

    /// How often the outbox relay runs (it also runs at once after a write on this process):
    /// the most a live seat map lags behind a write on another process.
    #[arg(long, env = "RELAY_EVERY", default_value = "250ms", value_parser = parse_duration)]
    pub relay_every: Duration,

    /// Whether the outbox relay also runs right after each write on this process, so live
    /// seat maps show it at once (`false`: every `RELAY_EVERY` only).
    #[arg(long, env = "RELAY_ON_WRITE", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_on_write: bool,

    /// Per-request timeout.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// The largest request body accepted, in bytes.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: usize,

    /// How often the sweeper, reconciler and outbox relay run.
    #[arg(long, env = "UPKEEP_EVERY", default_value = "5s", value_parser = parse_duration)]
    pub upkeep_every: Duration,

    /// How long a flight search answer is reused.
    #[arg(long, env = "SEARCH_CACHE_TTL", default_value = "1s", value_parser = parse_duration)]
    pub search_cache_ttl: Duration,
}

impl Config {
    /// The configuration with every default, data under `data_dir`: what tests start from.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Config::parse_from(["booking-server"]);
        config.data_dir = data_dir.into();
        config
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("booking.db").display()
            )
        })
    }

    /// The public URL in effect, without a trailing slash.
    pub fn public_url(&self) -> String {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind));
        url.trim_end_matches('/').to_owned()
    }
}

// Secrets are never printed: only whether they are set.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url())
            .field("data_dir", &self.data_dir)
            .field("database", &database_kind(&self.database_url()))
            .field("redis_url", &set(&self.redis_url))
            .field("toss_secret_key", &set(&self.toss_secret_key))
            .field("toss_base_url", &self.toss_base_url)
            .field("admin_token", &set(&self.admin_token))
            .field("signing_key", &set(&self.signing_key))
            .field("admit_per_cycle", &self.admit_per_cycle)
            .field("admit_every", &self.admit_every)
            .field("hold_ttl", &self.hold_ttl)
            .field("hold_grace", &self.hold_grace)
            .finish_non_exhaustive()
    }
}

/// The scheme of a database URL, never its credentials.
pub fn database_kind(url: &str) -> &str {
    url.split_once(':').map_or("unknown", |(scheme, _)| scheme)
}

/// Parses `500ms`, `2s`, `10m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s, m or h"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let secs = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        _ => Err(format!("{text:?}: the unit is ms, s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::policy::expiry::ExpiryPolicyConfig;

    #[test]
    fn the_hold_grace_defaults_to_the_policys() {
        let config = Config::with_data_dir("/tmp/x");
        assert_eq!(
            config.hold_grace,
            ExpiryPolicyConfig::default().grace_period
        );
        let config = Config::parse_from(["booking-server", "--hold-grace", "0s"]);
        assert_eq!(config.hold_grace, Duration::ZERO);
    }

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10d").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut config = Config::with_data_dir("/tmp/x");
        config.signing_key = Some("very-secret-signing".into());
        config.database_url = Some("postgres://app:hunter2@db/booking".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-signing"));
        assert!(!shown.contains("hunter2"));
    }
}
