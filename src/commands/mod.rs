//! One file per subcommand; each is glue: load → validate → render → print.

pub mod apply;
pub mod contract;
pub mod dlq;
pub mod plan;
pub mod probe;
pub mod reconcile;
pub mod render;
pub mod replay;
pub mod sample;
pub mod simulate;
pub mod status;
pub mod validate;

use std::path::Path;

use anyhow::Context;

use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::spec::{self, Diagnostic, LoadedSpec};

/// Reads and checks a spec; on errors prints every diagnostic and returns `SpecReported`.
/// Warnings are printed too (to stderr) unless `quiet`.
pub fn load_spec(printer: &Printer, path: &Path) -> Result<(LoadedSpec, Vec<Diagnostic>), CliError> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read spec `{}`", path.display()))
        .map_err(CliError::Usage)?;
    let name = path.display().to_string();
    match spec::check(&name, &bytes) {
        Ok((loaded, warnings)) => Ok((loaded, warnings)),
        Err((source, diagnostics)) => {
            printer.report(source.as_ref(), &diagnostics);
            Err(CliError::SpecReported)
        }
    }
}

/// The async runtime for commands that talk to servers: one worker per core.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(e.into()))
}

/// A one-thread runtime, for a command whose one hot connection should not bounce every
/// message between workers (reconcile's raw read; its aggregation has a thread of its own).
pub fn single_thread_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(e.into()))
}

/// The result of a command that ran to completion: success, or a check that failed.
pub type Outcome = Result<Exit, CliError>;
