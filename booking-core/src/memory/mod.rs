//! In-memory implementations of the ports: correct under real parallelism within one
//! process, for tests and single-node use. Their synchronous cores are checked with loom
//! (`RUSTFLAGS="--cfg loom" cargo test -p booking-core --lib --release loom`).

mod idempotency;
mod lock;
mod sync;

pub use idempotency::MemoryIdempotencyStore;
pub use lock::MemoryLockManager;

#[cfg(test)]
#[cfg(loom)]
mod loom_models;
