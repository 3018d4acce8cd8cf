#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod amount;
mod client;
pub mod codes;
mod error;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
mod gateway;
mod idempotency;
mod methods;
mod open_enum;
mod params;
mod payment;
mod redirect;
mod secret;
mod timeouts;
pub mod webhooks;

pub use amount::Amount;
pub use client::{
    DEFAULT_BASE_URL, IDEMPOTENCY_KEY_HEADER, TossClient, TossClientBuilder,
    install_crypto_provider,
};
pub use codes::{Endpoint, ErrorClass};
pub use error::{IN_FLIGHT_PAUSE, TossError};
pub use gateway::{GATEWAY_NAME, IN_FLIGHT_DEADLINE, TossGateway, in_flight_policy};
pub use idempotency::{IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use methods::{
    AcquireStatus, Card, EasyPay, GiftCertificate, MobilePhone, RefundStatus, Transfer,
    VirtualAccount,
};
pub use params::{CancelParams, ConfirmParams, RefundReceiveAccount};
pub use payment::{Cancel, CancelStatus, Failure, Link, Method, Payment, PaymentType, Status};
pub use redirect::{FailRedirect, RedirectError, RedirectPaymentType, SuccessRedirect};
pub use secret::{DepositSecret, SecretKey};
pub use timeouts::{CONFIRM_BUDGET, CONFIRM_WINDOW, Timeouts};
pub use webhooks::{WebhookError, WebhookEvent, WebhookHandler, WebhookOutcome};
