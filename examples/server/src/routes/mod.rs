//! The HTTP routes, one module per resource, and the OpenAPI document they generate.

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod coupons;
pub mod ops;
pub mod orders;
pub mod payments;
pub mod queue;
pub mod stream;
pub mod views;
pub mod wallet;

use std::str::FromStr;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::Problem;
use crate::state::AppState;

/// The OpenAPI document's frame; the paths come from the handlers' annotations.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "booking-server",
        description = "Concert, flight and flash-sale booking on booking-core. Errors are RFC 9457 problem+json; every POST takes an Idempotency-Key."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme (`POST /v1/auth/demo` issues tokens).
#[derive(Debug)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::demo))
        .routes(routes!(queue::join))
        .routes(routes!(queue::status))
        .routes(routes!(catalog::events))
        .routes(routes!(catalog::performances))
        .routes(routes!(catalog::seats))
        .routes(routes!(stream::stream))
        .routes(routes!(catalog::flights))
        .routes(routes!(coupons::list))
        .routes(routes!(coupons::claim))
        .routes(routes!(orders::place))
        .routes(routes!(orders::get))
        .routes(routes!(orders::extend))
        .routes(routes!(orders::cancel))
        .routes(routes!(orders::refund))
        .routes(routes!(payments::start))
        .routes(routes!(payments::success))
        .routes(routes!(payments::fail))
        .routes(routes!(payments::webhook))
        .routes(routes!(wallet::balance))
        .routes(routes!(wallet::charge))
        .routes(routes!(admin::upkeep))
        .routes(routes!(admin::admit))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

/// A path id: one that does not parse names nothing, so it is a 404 like an unknown one.
pub fn path_id<T: FromStr>(text: &str, what: &str) -> Result<T, Problem> {
    text.parse().map_err(|_| Problem::not_found(what))
}
