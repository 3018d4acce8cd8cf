//! The user's point wallet: `GET /v1/wallet`, `POST /v1/wallet/charge`.

use axum::Json;
use axum::extract::State;
use booking_core::money::{Currency, Money};
use booking_core::ports::wallet::{LedgerRef, WalletError};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem, internal};
use crate::state::AppState;

/// The largest single charge, in KRW.
pub const MAX_CHARGE: i64 = 10_000_000;

/// A balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletView {
    /// Points, in the currency's minor unit (KRW: won).
    pub balance: i64,
    /// The currency.
    pub currency: String,
}

/// A top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// Points to add, 1 to 10,000,000 (KRW).
    pub amount: i64,
}

/// The user's balance.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallet",
    responses((status = 200, body = WalletView)))]
pub async fn balance(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<WalletView>> {
    view(&state, &user).await.map(Json)
}

/// Adds points to the user's wallet. Send an `Idempotency-Key`: a retry is then applied once.
#[utoipa::path(post, path = "/v1/wallet/charge", tag = "wallet",
    request_body = Charge,
    responses((status = 200, body = WalletView), (status = 422, body = Problem)))]
pub async fn charge(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(charge): JsonBody<Charge>,
) -> ApiResult<Json<WalletView>> {
    if !(1..=MAX_CHARGE).contains(&charge.amount) {
        return Err(Problem::invalid_field(
            "amount",
            format!("1 to {MAX_CHARGE}"),
        ));
    }
    let amount = Money::new(charge.amount, Currency::KRW)
        .map_err(|e| Problem::invalid_field("amount", e.to_string()))?;
    let reference =
        LedgerRef::new(format!("charge:{}", uuid::Uuid::now_v7())).map_err(|e| internal(&e))?;
    state
        .backend
        .wallet
        .credit(user.id, amount, &reference, Timestamp::now())
        .await
        .map_err(|e| wallet_problem(&e))?;
    view(&state, &user).await.map(Json)
}

async fn view(state: &AppState, user: &CurrentUser) -> Result<WalletView, Problem> {
    let balance = state
        .backend
        .wallet
        .balance(user.id, Currency::KRW)
        .await
        .map_err(|e| wallet_problem(&e))?;
    Ok(WalletView {
        balance: balance.minor(),
        currency: Currency::KRW.code().to_owned(),
    })
}

fn wallet_problem(error: &WalletError) -> Problem {
    match error {
        // The balance would overflow, or nothing to add: the amount is the caller's.
        WalletError::Money(_) | WalletError::ZeroAmount => {
            Problem::invalid_field("amount", error.to_string())
        }
        other => internal(other),
    }
}
