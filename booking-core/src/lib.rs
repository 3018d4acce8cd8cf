#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod discount;
pub mod gateways;
pub mod ids;
pub mod machine;
pub mod memory;
pub mod money;
pub mod policy;
pub mod ports;
pub mod service;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
