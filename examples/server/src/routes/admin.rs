//! Operator calls under `/v1/admin`, behind the admin token.

use axum::Json;
use axum::extract::{Path, State};
use booking_core::ids::EventId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem, internal};
use crate::routes::path_id;
use crate::state::AppState;
use crate::upkeep::RelayError;

/// What an upkeep run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpkeepReport {
    /// Orders the sweep expired.
    pub orders_expired: u32,
    /// Payments whose outcome reconciliation checked.
    pub payments_checked: u32,
    /// Outbox entries relayed.
    pub outbox_relayed: u64,
}

/// Runs the sweeper, the reconciler and the outbox relay once, now.
#[utoipa::path(post, path = "/v1/admin/upkeep", tag = "admin",
    responses((status = 200, body = UpkeepReport), (status = 403, body = Problem)))]
pub async fn upkeep(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<UpkeepReport>> {
    let swept = state.service.sweep().await?;
    let reconciled = state.service.reconcile(100).await?;
    let relayed = match crate::upkeep::relay_outbox(&state).await {
        Ok(relayed) => relayed,
        Err(RelayError::Store(e)) => return Err(e.into()),
        Err(e @ RelayError::Publish(_)) => return Err(internal(&e)),
    };
    Ok(Json(UpkeepReport {
        orders_expired: swept.orders_expired,
        payments_checked: reconciled.checked,
        outbox_relayed: relayed,
    }))
}

/// How many to admit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Admit {
    /// 1 to 10,000.
    pub count: u32,
}

/// Who was admitted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Admitted {
    /// How many tokens were admitted.
    pub admitted: usize,
}

/// Admits the next buyers of an event's waiting room now, beside the timed admissions.
#[utoipa::path(post, path = "/v1/admin/queue/{event}/admit", tag = "admin",
    request_body = Admit,
    params(("event" = String, Path, description = "an event with a waiting room")),
    responses((status = 200, body = Admitted), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn admit(
    State(state): State<AppState>,
    _admin: Admin,
    Path(event): Path<String>,
    JsonBody(body): JsonBody<Admit>,
) -> ApiResult<Json<Admitted>> {
    let event: EventId = path_id(&event, "event")?;
    if !state.catalog.event(event).is_some_and(|e| e.waiting_room) {
        return Err(Problem::not_found("event"));
    }
    if !(1..=10_000).contains(&body.count) {
        return Err(Problem::invalid_field("count", "1 to 10000"));
    }
    let admitted = state
        .backend
        .queue
        .admit_next(
            event,
            body.count,
            state.config.admission_ttl,
            Timestamp::now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(Admitted {
        admitted: admitted.len(),
    }))
}
