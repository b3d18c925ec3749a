//! `iotctl render`: write (or `--check`) every artifact of a spec.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use super::{Outcome, load_spec};
use crate::cli::RenderArgs;
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::render::{Rendering, render_all, templates::Templates};

/// Extensions of files iotctl writes; only these count as stale or extra in an output dir
/// (SQLMesh's own `.cache`, logs and DuckDB files are left alone).
const MANAGED_EXTENSIONS: &[&str] = &["sql", "yaml", "json", "avsc"];
const SKIPPED_DIRS: &[&str] = &[".cache", "logs", ".git"];

pub fn run(printer: &Printer, args: &RenderArgs) -> Outcome {
    let (loaded, _warnings) = load_spec(printer, &args.spec.file)?;
    let templates = match &args.templates {
        Some(dir) => Templates::with_overrides(dir).map_err(CliError::Usage)?,
        None => Templates::embedded(),
    };
    let rendering = render_all(&loaded.spec, &templates).map_err(|e| {
        if args.templates.is_some() {
            CliError::Usage(e)
        } else {
            CliError::Runtime(e)
        }
    })?;
    let Some(out) = &args.out else {
        let ddl: Vec<&str> = rendering.risingwave.iter().map(|o| o.ddl.as_str()).collect();
        printer.data(&ddl.join("\n"));
        return Ok(Exit::Ok);
    };
    if args.check {
        check(printer, &rendering, out)
    } else {
        write(printer, &rendering, out)
    }
}

fn managed_files(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("cannot list `{}`", current.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED_DIRS.contains(&name) {
                    pending.push(path);
                }
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| MANAGED_EXTENSIONS.contains(&e))
            {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                found.insert(relative);
            }
        }
    }
    Ok(found)
}

fn write(printer: &Printer, rendering: &Rendering, out: &Path) -> Outcome {
    let existing = managed_files(out)?;
    let mut written = 0;
    let files = rendering.files();
    for artifact in &files {
        let path: PathBuf = out.join(&artifact.path);
        if std::fs::read(&path).ok().as_deref() == Some(artifact.content.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        // Write-then-rename so an interrupted render never leaves a half-written file.
        let temporary = path.with_extension("iotctl-tmp");
        std::fs::write(&temporary, &artifact.content)
            .with_context(|| format!("cannot write `{}`", temporary.display()))?;
        std::fs::rename(&temporary, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
        written += 1;
    }
    let wanted: BTreeSet<&str> = files.iter().map(|a| a.path.as_str()).collect();
    let mut removed = Vec::new();
    for stale in existing.iter().filter(|p| !wanted.contains(p.as_str())) {
        std::fs::remove_file(out.join(stale)).with_context(|| format!("cannot remove stale `{stale}`"))?;
        removed.push(stale.clone());
    }
    if printer.is_json() {
        printer.json(
            &json!({"out": out.display().to_string(), "files": files.len(), "written": written, "removed": removed}),
        );
    } else {
        for stale in &removed {
            printer.note(&format!("removed stale {stale}"));
        }
        printer.note(&format!(
            "rendered {} files into {} ({written} changed, {} removed)",
            files.len(),
            out.display(),
            removed.len()
        ));
    }
    Ok(Exit::Ok)
}

fn check(printer: &Printer, rendering: &Rendering, out: &Path) -> Outcome {
    let existing = managed_files(out)?;
    let files = rendering.files();
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for artifact in &files {
        match std::fs::read(out.join(&artifact.path)) {
            Err(_) => missing.push(artifact.path.clone()),
            Ok(bytes) if bytes != artifact.content.as_bytes() => changed.push(artifact.path.clone()),
            Ok(_) => {}
        }
    }
    let wanted: BTreeSet<&str> = files.iter().map(|a| a.path.as_str()).collect();
    let extra: Vec<String> = existing.into_iter().filter(|p| !wanted.contains(p.as_str())).collect();
    let stale = !(missing.is_empty() && changed.is_empty() && extra.is_empty());
    if printer.is_json() {
        printer.json(&json!({"ok": !stale, "out": out.display().to_string(), "missing": missing, "changed": changed, "extra": extra}));
    } else if stale {
        let mut table = printer.table(&["file", "state"]);
        for (list, state) in [
            (&missing, "missing"),
            (&changed, "changed"),
            (&extra, "not rendered by the spec"),
        ] {
            for path in list {
                table.add_row(vec![path.as_str(), state]);
            }
        }
        printer.data(&format!("{table}\n"));
        printer.note(&format!(
            "{}: {} is stale: run `iotctl render -f SPEC --out {}`",
            printer.paint("drift", "33;1"),
            out.display(),
            out.display()
        ));
    } else {
        printer.note(&format!(
            "{}: {} matches the spec ({} files)",
            printer.paint("ok", "32;1"),
            out.display(),
            files.len()
        ));
    }
    Ok(if stale { Exit::CheckFailed } else { Exit::Ok })
}
