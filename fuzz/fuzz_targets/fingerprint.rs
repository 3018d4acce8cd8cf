//! The idempotency fingerprint of arbitrary bodies: no panic; a body that is not JSON is an
//! error; the fingerprint ignores key order, whitespace and the method's case, and tells paths
//! apart.
//!
//! Input: a selector byte (method and path), then the body.
#![no_main]

use booking_core::ports::idempotency::Fingerprint;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];
const PATHS: [&str; 4] = [
    "/v1/orders",
    "/v1/orders/1/payments",
    "/v1/wallet/charge",
    "",
];

/// `value` as JSON text with every object's keys in reverse order and spaces around tokens.
fn reordered(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" ,\n");
                }
                reordered(item, out);
            }
            out.push_str(" ]");
        }
        Value::Object(map) => {
            out.push_str("{\t");
            for (i, (key, item)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" : ");
                reordered(item, out);
            }
            out.push_str("\r\n}");
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(selector % 4)];
    let path = PATHS[usize::from(selector / 4 % 4)];
    let parsed = serde_json::from_slice::<Value>(body);
    let blank = body.iter().all(u8::is_ascii_whitespace);
    let fingerprint = match Fingerprint::of_json_request(method, path, body) {
        Ok(fp) => {
            assert!(
                blank || parsed.is_ok(),
                "a body that is not JSON got a fingerprint"
            );
            fp
        }
        Err(_) => {
            assert!(!blank && parsed.is_err(), "a JSON body was refused");
            return;
        }
    };
    assert_eq!(
        Fingerprint::of_json_request(method, path, body).ok(),
        Some(fingerprint)
    );
    let lower = method.to_ascii_lowercase();
    assert_eq!(
        Fingerprint::of_json_request(&lower, path, body).ok(),
        Some(fingerprint)
    );
    let other = format!("{path}/x");
    assert_ne!(
        Fingerprint::of_json_request(method, &other, body).ok(),
        Some(fingerprint)
    );

    let value = parsed.unwrap_or(Value::Null);
    assert_eq!(Fingerprint::of_request(method, path, &value), fingerprint);
    let mut text = String::new();
    reordered(&value, &mut text);
    // Compare only texts that read back as the same value (a float printed and read again
    // may land on a neighbouring value: that is another number, not another layout).
    if serde_json::from_str::<Value>(&text).ok().as_ref() == Some(&value) {
        let again = Fingerprint::of_json_request(method, path, text.as_bytes()).ok();
        assert_eq!(
            again,
            Some(fingerprint),
            "layout changed the fingerprint: {text}"
        );
    }
});
