//! The synchronisation primitives of the in-memory implementations: std's normally, loom's
//! under `--cfg loom`, so the loom models explore the real code's interleavings.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, RwLock};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, RwLock};

pub(crate) use std::sync::PoisonError;
