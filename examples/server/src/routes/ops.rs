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
    /// For `/readyz`: `ok` when Redis answers, `not configured` without `REDIS_URL`.
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

/// The server can serve: the database answers, and Redis when it is configured.
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
    let redis = match &state.backend.redis {
        Some(redis) => {
            redis.ping().await.map_err(|e| {
                tracing::warn!(error = %e, "readiness: Redis does not answer");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not-ready",
                    "The server is not ready",
                    "Redis does not answer",
                )
            })?;
            "ok"
        }
        None => "not configured",
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
