//! The booking server binary: reads the configuration, builds the state, binds and serves
//! until SIGTERM or Ctrl-C, then drains in-flight requests and stops the background tasks.
//!
//! Run with: `cargo run -p example-server` (`--help` lists every flag and variable).

use std::process::ExitCode;

use clap::Parser;
use example_server::{AppState, Config, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(Config::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "booking-server stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("binding {}: {e}", config.bind))?;
    let addr = listener.local_addr()?;
    // With port 0 the real port is known only now.
    config.bind = addr;
    tracing::info!(?config, "starting");
    let state = AppState::build(config).await?;
    tracing::info!(
        "listening on http://{addr}; API docs at {}/docs",
        state.public_url
    );
    serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
}
