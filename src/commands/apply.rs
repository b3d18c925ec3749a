//! `iotctl apply`: the plan `plan` prints, executed under the pipeline's lock, in dependency
//! order (NATS, warehouse, RisingWave, SQLMesh); destructive changes only when allowed.

use std::io::IsTerminal;

use serde_json::json;

use super::plan::{Prepared, prepare, print_plan};
use super::{Outcome, runtime};
use crate::cli::ApplyArgs;
use crate::engine::{Live, sqlmesh_steps};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::plan::{Plan, System};
use crate::render::Rendering;
use crate::spec::Spec;

pub fn run(printer: &Printer, args: &ApplyArgs) -> Outcome {
    let Prepared {
        loaded,
        settings,
        selection,
        rendering,
    } = prepare(printer, &args.spec, &args.connection, &args.only)?;
    let spec = &loaded.spec;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let mut live = Live::connect(spec, &settings, selection, &mut plan).await?;
        let lock = live
            .nats
            .lock(spec.pipeline.name.as_str(), settings.lock_timeout)
            .await?;
        let outcome = apply_locked(printer, args, spec, &rendering, &mut live, plan, interactive).await;
        let released = lock.release().await;
        let exit = outcome?;
        released?;
        Ok(exit)
    })
}

async fn apply_locked(
    printer: &Printer,
    args: &ApplyArgs,
    spec: &Spec,
    rendering: &Rendering,
    live: &mut Live,
    mut plan: Plan,
    interactive: bool,
) -> Outcome {
    live.observe_and_diff(spec, rendering, &mut plan).await?;
    if !plan.conflicts.is_empty() {
        print_plan(printer, &plan);
        printer.error(
            &anyhow::anyhow!(
                "{} conflict(s) with live state; nothing was applied",
                plan.conflicts.len()
            ),
            Some("resolve the conflicts listed above"),
        );
        return Ok(Exit::CheckFailed);
    }
    if plan.is_empty() {
        print_plan(printer, &plan);
        printer.note("no changes: live state matches the spec");
        return Ok(Exit::Ok);
    }
    let destructive = plan.destructive();
    if !destructive.is_empty() && !args.allow_destructive {
        print_plan(printer, &plan);
        let lines: Vec<String> = destructive.iter().map(|c| format!("  {}", c.describe())).collect();
        printer.error(
            &anyhow::anyhow!(
                "refusing {} destructive change(s); nothing was applied:\n{}",
                destructive.len(),
                lines.join("\n")
            ),
            Some("review what would be lost, then re-run with --allow-destructive"),
        );
        return Ok(Exit::CheckFailed);
    }
    if !printer.is_json() {
        printer.data(&plan.render_human());
    }
    if !args.yes {
        if !interactive {
            return Err(CliError::usage(anyhow::anyhow!(
                "apply needs --yes when not run on a terminal"
            )));
        }
        let question = format!("Apply {} change(s)?", plan.changes.len());
        if !printer.confirm(&question).map_err(|e| CliError::Runtime(e.into()))? {
            printer.note("cancelled: nothing was applied");
            return Ok(Exit::Ok);
        }
    }
    let applied = execute(printer, spec, rendering, live, &plan).await?;
    if printer.is_json() {
        printer.json(&json!({"applied": applied, "summary": plan.summary(), "skipped": plan.skipped}));
    } else {
        printer.note(&format!(
            "{}: applied {} change(s)",
            printer.paint("done", "32;1"),
            applied.len()
        ));
    }
    Ok(Exit::Ok)
}

/// Executes the plan in dependency order (NATS, warehouse, RisingWave, SQLMesh), stopping at
/// the first failure or at Ctrl-C between changes. Returns what was applied.
async fn execute(
    printer: &Printer,
    spec: &Spec,
    rendering: &Rendering,
    live: &mut Live,
    plan: &Plan,
) -> Result<Vec<String>, CliError> {
    let progress = printer.progress(plan.changes.len() as u64, "applying");
    let sqlmesh_line = |line: &str| progress.suspend(|| printer.tool_line("sqlmesh", line));
    let mut applied = Vec::new();
    for change in &plan.changes {
        progress.set_message(change.describe());
        let report = |line: &str| progress.set_message(format!("{} ({line})", change.describe()));
        let step = live.execute(change, spec, rendering, &report, sqlmesh_line);
        tokio::select! {
            result = step => {
                result.map_err(|e| CliError::Runtime(e.context(format!("apply stopped at: {}", change.describe()))))?;
            }
            _ = tokio::signal::ctrl_c() => {
                progress.finish_and_clear();
                return Err(CliError::Runtime(anyhow::anyhow!("interrupted at: {}; {} change(s) were applied; re-run apply to finish", change.describe(), applied.len())));
            }
        }
        applied.push(change.describe());
        progress.inc(1);
    }
    if let Some(settings) = &live.sqlmesh
        && plan.changes.iter().any(|c| c.system() == System::Sqlmesh)
    {
        progress.set_message("checking every built day against the warehouse");
        let restated = sqlmesh_steps::settle(spec, settings, sqlmesh_line)
            .await
            .map_err(|e| CliError::Runtime(e.context("apply stopped after the SQLMesh changes")))?;
        for day in restated {
            applied.push(format!("~ restated {}", day.describe()));
        }
    }
    progress.finish_and_clear();
    Ok(applied)
}
