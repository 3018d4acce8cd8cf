//! In-memory implementations of every port, correct under real parallelism.
//!
//! They are the reference the conformance suite is written against, and a sound choice for
//! tests and single-process deployments.

mod queue;
mod wallet;

pub use queue::MemoryAdmissionQueue;
pub use wallet::MemoryWalletStore;
