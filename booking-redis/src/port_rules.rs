//! The rules booking-core gives every implementation of its ports (`ports::backend`),
//! imported in this one place: each is the same code the in-memory and SQL ports run, so a
//! Redis port differs from them only in how it reads and writes atomically.

pub(crate) use booking_core::ports::backend::coupon::{CouponStep, check_issuance, coupon_use};
pub(crate) use booking_core::ports::backend::idempotency::{
    ClaimTerms, RecordState, StoredRecord, begin_answer, claim, retained_until,
};
pub(crate) use booking_core::ports::backend::lock::{
    LeaseHandle, acquire_polling, lease, lease_end, normalize_keys,
};
pub(crate) use booking_core::ports::backend::queue::{
    admission_expiry, admission_status, admitted,
};
pub(crate) use booking_core::ports::backend::store::check_lines;
