//! `iotctl contract check` and `iotctl contract validate`.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use super::{Outcome, load_spec};
use crate::cli::{ContractCheckArgs, ContractValidateArgs};
use crate::contract::check::{Impact, compare};
use crate::contract::payload::PayloadValidator;
use crate::contract::surface::Surface;
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::output::plural;

pub fn check(printer: &Printer, args: &ContractCheckArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let new = Surface::from_spec(&loaded.spec);
    let old = old_surface(printer, &args.against)?;
    let findings = compare(&old, &new);
    let breaking = findings.iter().filter(|f| f.impact == Impact::Breaking).count();
    let bumped = new.version > old.version;
    if printer.is_json() {
        printer.json(&json!({
            "breaking": breaking > 0, "old_version": old.version, "new_version": new.version,
            "version_bumped": bumped, "findings": findings,
        }));
    } else {
        if !findings.is_empty() {
            let mut table = printer.table(&["impact", "rule", "subject", "change"]);
            for f in &findings {
                let impact = match f.impact {
                    Impact::Breaking => "breaking",
                    Impact::Additive => "additive",
                };
                table.add_row(vec![impact, f.rule, f.subject.as_str(), f.message.as_str()]);
            }
            printer.data(&format!("{table}\n"));
        }
        if breaking > 0 {
            printer.note(&format!(
                "{}: {breaking} breaking change{} from contract v{} to v{}",
                printer.paint("breaking", "31;1"),
                plural(breaking),
                old.version,
                new.version
            ));
            if !bumped {
                printer.note(&format!("{}: a breaking change needs a new contract version (contract.version) and a migration plan for producers", printer.paint("hint", "36")));
            }
        } else {
            printer.note(&format!(
                "{}: no breaking change from contract v{} to v{} ({} additive)",
                printer.paint("ok", "32;1"),
                old.version,
                new.version,
                findings.len()
            ));
        }
    }
    Ok(if breaking > 0 { Exit::CheckFailed } else { Exit::Ok })
}

/// The old contract: a spec, a rendered contracts directory (or its parent) or the schema file.
fn old_surface(printer: &Printer, path: &Path) -> Result<Surface, CliError> {
    let schema_file = if path.is_dir() {
        [
            path.join("telemetry.schema.json"),
            path.join("contracts/telemetry.schema.json"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| CliError::usage(anyhow::anyhow!("`{}` holds no telemetry.schema.json", path.display())))?
    } else if path.extension().is_some_and(|e| e == "json") {
        path.to_path_buf()
    } else {
        let (old, _) = load_spec(printer, path)?;
        return Ok(Surface::from_spec(&old.spec));
    };
    let text = std::fs::read_to_string(&schema_file)
        .with_context(|| format!("cannot read `{}`", schema_file.display()))
        .map_err(CliError::Usage)?;
    let schema: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not JSON", schema_file.display()))
        .map_err(CliError::Usage)?;
    Surface::from_json_schema(&schema)
        .with_context(|| format!("cannot read the contract in `{}`", schema_file.display()))
        .map_err(CliError::Usage)
}

pub fn validate(printer: &Printer, args: &ContractValidateArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let validator = PayloadValidator::for_spec(&loaded.spec)?;
    let mut results = Vec::new();
    for path in &args.payloads {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read payload `{}`", path.display()))
            .map_err(CliError::Usage)?;
        let documents: Vec<(Option<usize>, &[u8])> = if args.ndjson {
            bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
                .map(|(i, line)| (Some(i + 1), line))
                .collect()
        } else {
            vec![(None, bytes.as_slice())]
        };
        for (line, document) in documents {
            results.push((location(path, line), validator.check_bytes(document)));
        }
    }
    let invalid = results.iter().filter(|(_, v)| !v.is_empty()).count();
    if printer.is_json() {
        let items: Vec<_> = results
            .iter()
            .map(|(at, v)| json!({"payload": at, "valid": v.is_empty(), "violations": v}))
            .collect();
        printer.json(&json!({"ok": invalid == 0, "checked": results.len(), "invalid": invalid, "results": items}));
    } else {
        let mut table = printer.table(&["payload", "result"]);
        for (at, violations) in &results {
            let result = if violations.is_empty() {
                "valid".to_string()
            } else {
                violations
                    .iter()
                    .map(|v| {
                        if v.pointer.is_empty() {
                            v.message.clone()
                        } else {
                            format!("{}: {}", v.pointer, v.message)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            table.add_row(vec![at.clone(), result]);
        }
        printer.data(&format!("{table}\n"));
        printer.note(&format!(
            "{} of {} payload{} valid",
            results.len() - invalid,
            results.len(),
            plural(results.len())
        ));
    }
    Ok(if invalid > 0 { Exit::CheckFailed } else { Exit::Ok })
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}
