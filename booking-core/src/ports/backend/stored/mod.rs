//! The stored form of orders and payments: a private, versioned JSON representation, for
//! stores that keep a record as one text or JSON value (the SQL backends' `record` columns).
//!
//! [`OrderRecord`] and [`PaymentRecord`] are public types that gain fields as booking-core
//! grows; their serde form is theirs to change. What a store writes must outlive such a
//! change, so stores write [`encode_order`] and [`encode_payment`] instead: a JSON object with
//! a version number `v` beside the record's fields, whose shape for a given `v` never changes.
//! [`decode_order`] and [`decode_payment`] read every version ever written, so rows written by
//! an older booking-core keep reading after an upgrade, without a migration.
//!
//! | `v` | written by | shape |
//! |---|---|---|
//! | absent (version 1) | booking-core before the versioned form | the records' serde form of that time: an order's ended refunds as `settled_refunds: [{request_id, seq, amount}]` (before refund answers were kept) or as `refund_answers` (after); a pending refund with or without `requested` and `sending_until`; a payment with or without `failure` |
//! | 2 | [`CURRENT_VERSION`], written by every `encode_*` | the fields of the records as of this version, every one present |
//!
//! Reading version 1, a settled refund becomes a [`RefundAnswer`] whose outcome is
//! [`RefundOutcome::Refunded`] with its amount, and whose `requested` lines are **empty**:
//! version 1 did not keep which lines the request asked for. An empty `requested` means
//! *unknown*: a repeat of the request with any lines is answered with that refund. A pending
//! refund without `requested` reads the same way, and one without `sending_until` as not being
//! sent by anyone.
//!
//! The values inside a record — the order's and payment's state machines, the quote, money,
//! ids and instants — are stored in their own serde form, which the golden tests of this
//! module pin: a change to any of them fails a test here before it reaches a stored row.
//!
//! Adding a field to a record means a version 3: a new shape here, written from then on, and
//! version 2 kept as a reader.

mod v1;
mod v2;

use serde_json::Value;

use crate::ports::store::{OrderRecord, PaymentRecord};
#[cfg(doc)]
use crate::ports::store::{RefundAnswer, RefundOutcome};

/// The version [`encode_order`] and [`encode_payment`] write.
pub const CURRENT_VERSION: u64 = 2;

/// Why a stored record could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoredFormatError {
    /// The stored text is not JSON.
    #[error("stored {what} is not JSON: {source}")]
    NotJson {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// What the parser found.
        #[source]
        source: serde_json::Error,
    },
    /// The stored JSON is not a record of the version it claims.
    #[error("stored {what} (version {version}) does not read: {source}")]
    Malformed {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// The version it was read as.
        version: u64,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
    /// The record claims a version this booking-core does not know: a newer one wrote it.
    #[error(
        "stored {what} has version {version}; this booking-core reads versions 1 to {CURRENT_VERSION}"
    )]
    UnknownVersion {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// The version it claims (as written, if it is not a number).
        version: String,
    },
    /// The record could not be written as JSON.
    #[error("{what} cannot be written as JSON: {source}")]
    Unwritable {
        /// `"order"` or `"payment"`.
        what: &'static str,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

/// Stored JSON as a store reads it back: text (`&str`, `&String`), bytes (`&[u8]`,
/// `&Vec<u8>`) or a parsed [`serde_json::Value`].
pub trait StoredJson: sealed::Sealed {
    /// The JSON value.
    ///
    /// # Errors
    /// The parser's error when the text or bytes are not JSON.
    fn into_value(self) -> Result<Value, serde_json::Error>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for &str {}
    impl Sealed for &String {}
    impl Sealed for &[u8] {}
    impl Sealed for &Vec<u8> {}
    impl Sealed for serde_json::Value {}
}

impl StoredJson for &str {
    fn into_value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self)
    }
}

impl StoredJson for &String {
    fn into_value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self)
    }
}

impl StoredJson for &[u8] {
    fn into_value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(self)
    }
}

impl StoredJson for &Vec<u8> {
    fn into_value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(self)
    }
}

impl StoredJson for Value {
    fn into_value(self) -> Result<Value, serde_json::Error> {
        Ok(self)
    }
}

/// `record` in the current stored form ([`CURRENT_VERSION`]), as JSON text.
///
/// # Errors
/// [`StoredFormatError::Unwritable`] if serde cannot write it (no record built through the
/// public API gets there).
pub fn encode_order(record: &OrderRecord) -> Result<String, StoredFormatError> {
    serde_json::to_string(&v2::Order::from(record)).map_err(|source| {
        StoredFormatError::Unwritable {
            what: "order",
            source,
        }
    })
}

/// The order stored as `stored`, in any version ever written.
///
/// # Errors
/// [`StoredFormatError::NotJson`] or [`StoredFormatError::Malformed`] for text that is not a
/// stored order,
/// [`StoredFormatError::UnknownVersion`] for a version newer than [`CURRENT_VERSION`].
pub fn decode_order(stored: impl StoredJson) -> Result<OrderRecord, StoredFormatError> {
    let (version, value) = versioned("order", stored)?;
    let malformed = |source| StoredFormatError::Malformed {
        what: "order",
        version,
        source,
    };
    match version {
        1 => serde_json::from_value::<v1::Order>(value)
            .map(OrderRecord::from)
            .map_err(malformed),
        _ => serde_json::from_value::<v2::Order<'_>>(value)
            .map(OrderRecord::from)
            .map_err(malformed),
    }
}

/// `record` in the current stored form ([`CURRENT_VERSION`]), as JSON text.
///
/// # Errors
/// [`StoredFormatError::Unwritable`] if serde cannot write it.
pub fn encode_payment(record: &PaymentRecord) -> Result<String, StoredFormatError> {
    serde_json::to_string(&v2::Payment::from(record)).map_err(|source| {
        StoredFormatError::Unwritable {
            what: "payment",
            source,
        }
    })
}

/// The payment stored as `stored`, in any version ever written.
///
/// # Errors
/// As [`decode_order`].
pub fn decode_payment(stored: impl StoredJson) -> Result<PaymentRecord, StoredFormatError> {
    let (version, value) = versioned("payment", stored)?;
    let malformed = |source| StoredFormatError::Malformed {
        what: "payment",
        version,
        source,
    };
    match version {
        1 => v1::payment(value)
            .map(PaymentRecord::from)
            .map_err(malformed),
        _ => serde_json::from_value::<v2::Payment>(value)
            .map(PaymentRecord::from)
            .map_err(malformed),
    }
}

/// The JSON of `stored` and the version it was written in: 1 without a `v`, else `v` if this
/// booking-core reads it.
fn versioned(
    what: &'static str,
    stored: impl StoredJson,
) -> Result<(u64, Value), StoredFormatError> {
    let value = stored
        .into_value()
        .map_err(|source| StoredFormatError::NotJson { what, source })?;
    let version = match value.get("v") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 2..=CURRENT_VERSION) => n,
            _ => {
                return Err(StoredFormatError::UnknownVersion {
                    what,
                    version: v.to_string(),
                });
            }
        },
    };
    Ok((version, value))
}

#[cfg(test)]
mod tests;
