//! Long-running jobs: bounded concurrency, progress, Ctrl-C, resumable.

pub mod dlq;
pub mod probe;
pub mod reconcile;
pub mod replay;
pub mod simulate;
