//! The seat-map page at `/`: HTML, CSS and vanilla JavaScript embedded in the binary (no CDN,
//! no build step). It signs in as a demo user, joins the waiting room when needed, shows the
//! seats live from the stream, holds, quotes and pays.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The page.
const INDEX: &str = include_str!("page/index.html");
/// Its style sheet.
const CSS: &str = include_str!("page/seat-map.css");
/// Its script.
const JS: &str = include_str!("page/seat-map.js");

/// `GET /`, `/assets/seat-map.css`, `/assets/seat-map.js`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/seat-map.css", get(css))
        .route("/assets/seat-map.js", get(js))
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS)
}

/// `body` as `content_type`, revalidated on each load (the binary may have changed).
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
