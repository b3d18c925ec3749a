//! Long-running jobs: bounded concurrency, progress, Ctrl-C, resumable.

pub mod reconcile;
pub mod replay;
pub mod simulate;
