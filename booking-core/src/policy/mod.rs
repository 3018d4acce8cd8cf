//! Policies: pure, deterministic rules about time and admission.

pub mod admission;
