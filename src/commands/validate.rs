//! `iotctl validate`: the spec, then everything it renders, checked without any server.

use serde_json::json;

use super::{Outcome, load_spec};
use crate::cli::ValidateArgs;
use crate::contract::payload::PayloadValidator;
use crate::error::{CliError, Exit};
use crate::output::plural;
use crate::output::{Format, Printer};
use crate::render::{ddl_check, ddl_rules, render_all, templates::Templates};
use crate::spec::{Diagnostic, Severity};

pub fn run(printer: &Printer, args: &ValidateArgs) -> Outcome {
    let (loaded, mut diagnostics) = load_spec(printer, &args.spec.file)?;
    let file = loaded.source.name.clone();
    let render_problem = |code: &'static str, message: String| Diagnostic {
        severity: Severity::Error,
        code,
        message,
        path: String::new(),
        file: file.clone(),
        pos: None,
        help: None,
    };

    // The spec parsed; now prove that what it renders is well-formed too.
    match render_all(&loaded.spec, &Templates::embedded()) {
        Err(e) => diagnostics.push(render_problem("render::failed", format!("{e:#}"))),
        Ok(rendering) => {
            for object in &rendering.risingwave {
                if let Err(why) = ddl_check::check_statement(&object.ddl) {
                    diagnostics.push(render_problem(
                        "render::risingwave-ddl",
                        format!("{} `{}`: {why}", object.kind.as_str(), object.name),
                    ));
                }
            }
            if let Err(why) = ddl_rules::check_pipeline(rendering.risingwave.iter().map(|o| o.ddl.as_str())) {
                diagnostics.push(render_problem("render::risingwave-ddl", why));
            }
        }
    }
    if let Err(e) = PayloadValidator::for_spec(&loaded.spec) {
        diagnostics.push(render_problem("render::json-schema", format!("{e:#}")));
    }

    let errors = diagnostics
        .iter()
        .filter(|d| d.is_error() || args.deny_warnings)
        .count();
    if errors > 0 {
        printer.report(Some(&loaded.source), &diagnostics);
        return Err(CliError::SpecReported);
    }
    match printer.format {
        Format::Json => {
            printer.json(&json!({"ok": true, "pipeline": loaded.spec.pipeline.name, "diagnostics": diagnostics}))
        }
        Format::Github => printer.report(Some(&loaded.source), &diagnostics),
        Format::Human | Format::Openmetrics => {
            printer.report(Some(&loaded.source), &diagnostics);
            let warnings = diagnostics.len();
            printer.note(&format!(
                "{}: {} is valid: {} sites, {} device types, {} metrics ({} warning{})",
                printer.paint("ok", "32;1"),
                loaded.source.name,
                loaded.spec.sites.len(),
                loaded.spec.device_types.len(),
                loaded.spec.device_types.iter().map(|d| d.metrics.len()).sum::<usize>(),
                warnings,
                plural(warnings)
            ));
        }
    }
    Ok(Exit::Ok)
}
