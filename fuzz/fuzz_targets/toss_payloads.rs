//! Toss payloads: payment answers, webhook bodies, the success and fail redirects' query
//! strings, and error codes. No panic; whatever parses reads back the same after a round trip.
//!
//! Input: a selector byte, then the payload.
#![no_main]

use booking_toss::codes::classify;
use booking_toss::{Endpoint, FailRedirect, Payment, SuccessRedirect, TossError, WebhookEvent};
use libfuzzer_sys::fuzz_target;

fn payment(body: &[u8]) {
    let Ok(payment) = serde_json::from_slice::<Payment>(body) else {
        return;
    };
    let _ = (
        payment.approved_at_time(),
        payment.requested_at_time(),
        payment.was_approved(),
    );
    for cancel in payment.cancel_list() {
        let _ = cancel.canceled_at_time();
    }
    let json = serde_json::to_vec(&payment).unwrap_or_default();
    let back: Payment = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json)));
    assert_eq!(back, payment);
}

fn redirects(query: &str) {
    if let Ok(success) = SuccessRedirect::from_query(query) {
        match success.confirmation() {
            Ok(c) => assert_eq!(c.amount.minor(), success.amount),
            Err(_) => assert!(success.amount < 0, "a valid amount was refused"),
        }
    }
    let _ = FailRedirect::from_query(query);
    let _ = SuccessRedirect::from_url(&format!("http://localhost/success?{query}"));
    let _ = SuccessRedirect::from_url(query);
}

fn codes(data: &[u8]) {
    let Some((status, code)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = u16::from_le_bytes(*status);
    let code = String::from_utf8_lossy(code);
    for endpoint in [Endpoint::Confirm, Endpoint::Cancel, Endpoint::Lookup] {
        let _ = classify(endpoint, status, &code);
        let error = TossError::Api {
            status,
            code: code.to_string(),
            message: String::new(),
        };
        let _ = (
            error.class(endpoint),
            error.retry_decision(endpoint),
            error.documented(),
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => payment(rest),
        1 => {
            let _ = WebhookEvent::parse(rest);
        }
        2 => redirects(&String::from_utf8_lossy(rest)),
        _ => codes(rest),
    }
});
