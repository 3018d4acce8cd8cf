//! The waiting room: `POST /v1/queue/tokens` joins, `GET /v1/queue/tokens/{token}` polls.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use booking_core::ids::{AdmissionToken, EventId};
use booking_core::ports::queue::{QueueError, QueueStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem, internal};
use crate::routes::path_id;
use crate::state::AppState;

/// The event whose waiting room to join.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinQueue {
    /// An event with `waiting_room: true`.
    #[schema(value_type = String)]
    pub event: EventId,
}

/// A place in a waiting room.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueTicket {
    /// Send as the `Queue-Token` header once admitted.
    pub token: String,
    /// `waiting`, `admitted` or `expired`.
    pub status: String,
    /// 1-based place in line while waiting.
    pub position: Option<u64>,
    /// When the admission lapses (admitted) or lapsed (expired).
    pub expires_at: Option<String>,
}

impl QueueTicket {
    fn new(token: AdmissionToken, status: QueueStatus) -> Self {
        let (name, position, expires_at) = match status {
            QueueStatus::Waiting { position } => ("waiting", Some(position), None),
            QueueStatus::Admitted { expires_at } => ("admitted", None, Some(expires_at)),
            QueueStatus::Expired { expired_at } => ("expired", None, Some(expired_at)),
        };
        QueueTicket {
            token: token.to_string(),
            status: name.to_owned(),
            position,
            expires_at: expires_at.map(|t| t.to_string()),
        }
    }
}

/// Joins the waiting room of an event (or returns the place the user already has).
#[utoipa::path(post, path = "/v1/queue/tokens", tag = "queue",
    request_body = JoinQueue,
    responses((status = 201, body = QueueTicket), (status = 422, body = Problem)))]
pub async fn join(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<JoinQueue>,
) -> ApiResult<(StatusCode, Json<QueueTicket>)> {
    if !state
        .catalog
        .event(body.event)
        .is_some_and(|e| e.waiting_room)
    {
        return Err(Problem::invalid_field(
            "event",
            "no event with a waiting room has this id",
        ));
    }
    let entry = state
        .backend
        .queue
        .join(body.event, user.id, Timestamp::now())
        .await
        .map_err(|e| internal(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(QueueTicket::new(entry.token, entry.status)),
    ))
}

/// Where a waiting-room token stands.
#[utoipa::path(get, path = "/v1/queue/tokens/{token}", tag = "queue",
    params(("token" = String, Path, description = "the token from POST /v1/queue/tokens")),
    responses((status = 200, body = QueueTicket), (status = 404, body = Problem)))]
pub async fn status(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(token): Path<String>,
) -> ApiResult<Json<QueueTicket>> {
    let token: AdmissionToken = path_id(&token, "queue token")?;
    match state.backend.queue.status(token, Timestamp::now()).await {
        Ok(status) => Ok(Json(QueueTicket::new(token, status))),
        Err(QueueError::UnknownToken) => Err(Problem::not_found("queue token")),
        Err(e) => Err(internal(&e)),
    }
}
