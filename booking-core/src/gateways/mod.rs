//! Payment gateways built from other ports.
//!
//! [`PointsGateway`] pays from a [`WalletStore`](crate::ports::wallet::WalletStore), so points
//! and stored balance go through the same confirm / cancel / lookup flow as cards, and the
//! booking flow does not care which one pays.

mod points;

pub use points::PointsGateway;
