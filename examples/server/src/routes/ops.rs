//! Operations: liveness, readiness, metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The database in use, for `/readyz`.
    pub database: Option<&'static str>,
    /// `not configured`, or that Redis is configured but this build keeps its ports in memory.
    pub redis: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        redis: None,
    })
}

/// The server can serve: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses((status = 200, body = Health), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let database = &state.backend.database;
    database.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "The server is not ready",
            format!("the {} database does not answer", database.name()),
        )
    })?;
    let redis = if state.config.redis_url.is_some() {
        "configured; this build keeps the waiting room and idempotency keys in memory"
    } else {
        "not configured"
    };
    Ok(Json(Health {
        status: "ok",
        database: Some(database.name()),
        redis: Some(redis),
    }))
}

/// Prometheus metrics, in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
