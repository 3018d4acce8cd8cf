//! First-come coupons: `GET /v1/coupons` lists campaigns, `POST /v1/coupons/{id}/claim` takes
//! one (at most one per user; exactly `budget` are ever issued).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use booking_core::ids::CouponId;
use booking_core::service::BookingError;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::problem::{ApiResult, Problem};
use crate::routes::path_id;
use crate::state::AppState;

/// A campaign and what is left of its budget.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    /// Claim at `/v1/coupons/{id}/claim`.
    pub id: String,
    /// The code orders present as `coupon`.
    pub code: String,
    /// KRW off an order.
    pub amount_off: i64,
    /// Coupons issued in all.
    pub budget: u32,
    /// Coupons left to claim.
    pub remaining: u32,
}

/// A coupon issued to the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedCoupon {
    /// The campaign.
    pub id: String,
    /// The code to present as an order's `coupon`.
    pub code: String,
    /// `issued`, `reserved` or `used`.
    pub state: String,
}

/// Lists coupon campaigns.
#[utoipa::path(get, path = "/v1/coupons", tag = "coupons",
    responses((status = 200, body = Vec<CampaignView>)))]
pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> ApiResult<Json<Vec<CampaignView>>> {
    let mut views = Vec::new();
    for offer in &state.catalog.coupons {
        let remaining = state
            .backend
            .coupons
            .remaining(offer.id)
            .await
            .map_err(BookingError::from)?;
        views.push(CampaignView {
            id: offer.id.to_string(),
            code: offer.code.clone(),
            amount_off: offer.amount_off,
            budget: offer.budget,
            remaining,
        });
    }
    Ok(Json(views))
}

/// Claims a coupon of a campaign, first come first served; a second claim returns the coupon
/// already issued.
#[utoipa::path(post, path = "/v1/coupons/{id}/claim", tag = "coupons",
    params(("id" = String, Path, description = "a campaign id")),
    responses((status = 201, body = ClaimedCoupon), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the budget is used up")))]
pub async fn claim(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ClaimedCoupon>)> {
    let id: CouponId = path_id(&id, "coupon")?;
    state
        .catalog
        .coupon(id)
        .ok_or_else(|| Problem::not_found("coupon"))?;
    let issued = state
        .backend
        .coupons
        .issue(id, user.id, Timestamp::now())
        .await
        .map_err(BookingError::from)?;
    let coupon = issued.coupon();
    Ok((
        StatusCode::CREATED,
        Json(ClaimedCoupon {
            id: id.to_string(),
            code: coupon.code.clone(),
            state: coupon.state.name().to_owned(),
        }),
    ))
}
