//! `POST /v1/auth/demo`: a signed bearer token for a new demo user.

use axum::Json;
use axum::extract::State;
use booking_core::ids::UserId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Claims;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// How long a demo token is valid.
const TOKEN_TTL_SECS: i64 = 24 * 3600;

/// Who to sign in as.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoLogin {
    /// A member grade for discount rules (`GOLD` gets the member discount); 1–32 of
    /// `A-Z0-9_-`. Omitted: a guest.
    #[serde(default)]
    pub grade: Option<String>,
}

/// A bearer token for the new user.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoToken {
    /// `Authorization: Bearer <token>` on every other `/v1` call.
    pub token: String,
    /// The new user's id.
    pub user_id: String,
    /// The member grade, if any.
    pub grade: Option<String>,
    /// When the token expires (unix seconds).
    pub expires_at: i64,
}

/// Signs in as a new demo user.
#[utoipa::path(post, path = "/v1/auth/demo", tag = "auth", security(()),
    request_body = DemoLogin,
    responses((status = 200, body = DemoToken), (status = 422, body = Problem)))]
pub async fn demo(
    State(state): State<AppState>,
    JsonBody(login): JsonBody<DemoLogin>,
) -> ApiResult<Json<DemoToken>> {
    if let Some(grade) = &login.grade {
        let valid = (1..=32).contains(&grade.len())
            && grade
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(Problem::invalid_field(
                "grade",
                "1 to 32 of A-Z, 0-9, _ and -",
            ));
        }
    }
    let claims = Claims {
        sub: UserId::new(),
        grade: login.grade,
        exp: Timestamp::now().as_second().saturating_add(TOKEN_TTL_SECS),
    };
    Ok(Json(DemoToken {
        token: state.signer.sign(&claims),
        user_id: claims.sub.to_string(),
        grade: claims.grade,
        expires_at: claims.exp,
    }))
}
