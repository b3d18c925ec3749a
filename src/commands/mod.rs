//! One file per subcommand; each is glue: load → validate → render → print.

pub mod apply;
pub mod contract;
pub mod reconcile;
pub mod render;
pub mod replay;
pub mod sample;
pub mod simulate;
mod sqlmesh_steps;
pub mod status;
pub mod validate;

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::error::{CliError, Exit};
use crate::output::{Format, Printer};
use crate::spec::diagnostic::{render_github, render_human};
use crate::spec::{self, Diagnostic, LoadedSpec, SourceFile};

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
            report(printer, source.as_ref(), &diagnostics);
            Err(CliError::SpecReported)
        }
    }
}

/// Prints diagnostics in the printer's format: human on stderr, JSON / GitHub on stdout.
pub fn report(printer: &Printer, source: Option<&SourceFile>, diagnostics: &[Diagnostic]) {
    match printer.format {
        Format::Human => {
            for d in diagnostics {
                printer.diagnostic(&format!("{}\n", render_human(d, source)));
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = diagnostics.len() - errors;
            if errors > 0 {
                printer.diagnostic(&format!(
                    "{}: {} error{} and {} warning{} in {}\n",
                    printer.paint("error", "31;1"),
                    errors,
                    plural(errors),
                    warnings,
                    plural(warnings),
                    source.map_or("the spec", |s| s.name.as_str())
                ));
            }
        }
        Format::Json => printer.json(&json!({
            "ok": !diagnostics.iter().any(Diagnostic::is_error),
            "diagnostics": diagnostics,
        })),
        Format::Github => {
            for d in diagnostics {
                printer.data(&format!("{}\n", render_github(d)));
            }
        }
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The async runtime for commands that talk to servers: two workers, as the machines have.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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

/// This process's peak resident set size (Linux `VmHWM`), for run summaries.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The result of a command that ran to completion: success, or a check that failed.
pub type Outcome = Result<Exit, CliError>;

/// The warehouse the batch path uses (see `Settings::batch_warehouse`); a mix is a usage error.
pub fn batch_source(
    settings: &crate::settings::Settings,
    spec: &crate::spec::Spec,
) -> Result<crate::jobs::reconcile::BatchSource, CliError> {
    settings.batch_warehouse(spec).map_err(CliError::Usage)
}
