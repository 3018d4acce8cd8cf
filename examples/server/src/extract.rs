//! Extractors: a JSON body whose every rejection is a [`Problem`] naming the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON request body of type `T`.
///
/// Rejections are problems: a body over the limit is 413, a missing or other content type
/// 415, text that is not JSON 400 (`malformed-json`), and JSON that does not fit `T` — an
/// unknown field (request types deny them), a wrong type, a number out of range, a missing
/// field — 422 `invalid-field` with `field` set to the path of the offending value
/// (`items[2].quantity`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with("field", "content-type"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| Problem::for_status(e.status()))?;
        parse(&bytes).map(JsonBody)
    }
}

/// `bytes` read as `T`, or the problem naming what does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            // A missing field is reported at its parent's path, with the name in the message.
            let field = missing_field(&inner.to_string())
                .map(|name| join_path(&field, &name))
                .unwrap_or(field);
            Problem::invalid_field(&field, inner.to_string())
        } else {
            Problem::bad_request(
                "malformed-json",
                format!("the body is not valid JSON: {inner}"),
            )
            .with("field", "body")
        }
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::bad_request("malformed-json", e.to_string()).with("field", "body"))?;
    Ok(value)
}

/// The name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

fn join_path(parent: &str, name: &str) -> String {
    if parent == "." || parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        quantity: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        lines: Vec<Line>,
    }

    fn field_of(body: &str) -> (u16, serde_json::Value) {
        let problem = parse::<Body>(body.as_bytes()).unwrap_err();
        (problem.status, problem.extra["field"].clone())
    }

    #[test]
    fn each_rejection_names_its_field() {
        assert_eq!(
            field_of("{\"name\": 1, \"lines\": []}"),
            (422, json!("name"))
        );
        assert_eq!(
            field_of("{\"name\": \"a\", \"lines\": [{\"quantity\": -1}]}"),
            (422, json!("lines[0].quantity"))
        );
        assert_eq!(
            field_of("{\"name\": \"a\", \"lines\": [], \"extra\": true}"),
            (422, json!("extra"))
        );
        assert_eq!(field_of("{\"lines\": []}"), (422, json!("name")));
        assert_eq!(field_of("{\"name\": "), (400, json!("body")));
    }
}
