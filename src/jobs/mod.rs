//! Long-running jobs: bounded concurrency, progress, Ctrl-C, resumable.

pub mod replay;
pub mod replay_ledger;
pub mod simulate;
