//! `iotctl plan` and `iotctl apply`: one path. Observe every configured system, diff, print;
//! apply then executes exactly that plan, under the pipeline's lock.

use std::io::IsTerminal;

use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::backend::risingwave::RisingWave;
use crate::backend::warehouse::Warehouse;
use crate::cli::{ApplyArgs, OnlySystem, PlanArgs};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::plan::{self, Change, Plan, Skipped, System};
use crate::render::{Rendering, render_all, render_stream_daily_table, render_warehouse, templates::Templates};
use crate::settings::{Settings, SqlmeshSettings};
use crate::spec::Spec;
use crate::time::unix_now;

/// Connections to the systems a plan covers; `None` where skipped.
pub struct Live {
    pub nats: Option<Nats>,
    pub warehouse: Option<Warehouse>,
    pub risingwave: Option<RisingWave>,
    pub sqlmesh: Option<SqlmeshSettings>,
}

fn included(only: &[OnlySystem], system: System) -> bool {
    only.is_empty()
        || only.iter().any(|o| {
            matches!(
                (o, system),
                (OnlySystem::Nats, System::Nats)
                    | (OnlySystem::Warehouse, System::Warehouse)
                    | (OnlySystem::Risingwave, System::Risingwave)
                    | (OnlySystem::Sqlmesh, System::Sqlmesh)
            )
        })
}

/// Connects to what is configured and selected; the rest is listed as skipped.
pub async fn connect(spec: &Spec, settings: &Settings, only: &[OnlySystem], plan: &mut Plan) -> anyhow::Result<Live> {
    let mut skip = |system, reason: &str| {
        plan.skipped.push(Skipped {
            system,
            reason: reason.to_string(),
        })
    };
    // NATS is always connected: it also holds the apply lock.
    let nats = Some(Nats::connect(&settings.nats).await?);
    if !included(only, System::Nats) {
        skip(System::Nats, "not selected by --only");
    }
    let warehouse = match (&settings.warehouse_url, included(only, System::Warehouse)) {
        (_, false) => {
            skip(System::Warehouse, "not selected by --only");
            None
        }
        (None, true) => {
            skip(
                System::Warehouse,
                &format!(
                    "no warehouse configured: set --warehouse-url, IOTCTL_WAREHOUSE_URL or ${}",
                    spec.warehouse.password_env
                ),
            );
            None
        }
        (Some(url), true) => Some(Warehouse::connect(url).await?),
    };
    let risingwave = match (&settings.risingwave_url, included(only, System::Risingwave)) {
        (_, false) => {
            skip(System::Risingwave, "not selected by --only");
            None
        }
        (None, true) => {
            skip(
                System::Risingwave,
                &format!(
                    "no RisingWave configured: set --risingwave-url or ${}",
                    spec.risingwave.url_env
                ),
            );
            None
        }
        (Some(url), true) => Some(RisingWave::connect(url, spec.risingwave.schema.as_str()).await?),
    };
    let sqlmesh = match (&settings.sqlmesh, included(only, System::Sqlmesh)) {
        (_, false) => {
            skip(System::Sqlmesh, "not selected by --only");
            None
        }
        (None, true) => {
            skip(
                System::Sqlmesh,
                "no project directory: set --sqlmesh-dir or IOTCTL_SQLMESH_DIR",
            );
            None
        }
        (Some(s), true) => Some(s.clone()),
    };
    Ok(Live {
        nats,
        warehouse,
        risingwave,
        sqlmesh,
    })
}

/// Observes every connected system and diffs it against the rendering.
pub async fn observe_and_diff(
    spec: &Spec,
    rendering: &Rendering,
    live: &Live,
    only: &[OnlySystem],
    plan: &mut Plan,
) -> anyhow::Result<()> {
    let pipeline = spec.pipeline.name.as_str();
    if let Some(nats) = &live.nats
        && included(only, System::Nats)
    {
        let observed = nats.observe().await?;
        let (changes, conflicts) = plan::nats::diff(pipeline, &spec.streams(), &observed, unix_now());
        plan.changes.extend(changes);
        plan.conflicts.extend(conflicts);
    }
    if let Some(warehouse) = &live.warehouse {
        let observed = warehouse
            .observe(spec.warehouse.schema.as_str(), spec.warehouse.raw_table.as_str())
            .await?;
        let ddl = render_warehouse(spec, &Templates::embedded())?.content;
        plan.changes
            .extend(plan::warehouse::diff(spec, observed.as_ref(), &ddl));
        if let Some(stream_table) = render_stream_daily_table(spec, &Templates::embedded())? {
            let exists = warehouse
                .observe(spec.warehouse.schema.as_str(), crate::render::STREAM_DAILY_TABLE)
                .await?
                .is_some();
            plan.changes
                .extend(plan::warehouse::create_fixed_table(spec, exists, &stream_table.content));
        }
    }
    if let Some(risingwave) = &live.risingwave {
        let snapshot = risingwave.observe().await?;
        plan.changes
            .extend(plan::risingwave::diff(&rendering.risingwave, &snapshot));
        let timing = risingwave.barrier_timing().await?;
        let finding = plan::alert_latency::assess(timing, spec.slo.alert_latency_p99);
        plan.notes.push(finding.message().to_string());
    }
    if let Some(settings) = &live.sqlmesh {
        plan.changes
            .extend(super::sqlmesh_steps::diff(spec, rendering, settings).await?);
    }
    Ok(())
}

fn print_plan(printer: &Printer, plan: &Plan) {
    if printer.is_json() {
        printer.json(&json!({"changes": plan.changes, "skipped": plan.skipped, "conflicts": plan.conflicts, "notes": plan.notes, "summary": plan.summary(), "empty": plan.is_empty()}));
    } else {
        printer.data(&plan.render_human());
    }
}

pub fn run_plan(printer: &Printer, args: &PlanArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    if included(&args.only, System::Warehouse) && included(&args.only, System::Sqlmesh) {
        settings.check_one_warehouse(spec).map_err(CliError::Usage)?;
    }
    let rendering = render_all(spec, &Templates::embedded())?;
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let live = connect(spec, &settings, &args.only, &mut plan).await?;
        observe_and_diff(spec, &rendering, &live, &args.only, &mut plan).await?;
        print_plan(printer, &plan);
        let drift = !plan.is_empty() || !plan.conflicts.is_empty();
        Ok(if (args.check && drift) || !plan.conflicts.is_empty() {
            Exit::CheckFailed
        } else {
            Exit::Ok
        })
    })
}

pub fn run_apply(printer: &Printer, args: &ApplyArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    if included(&args.only, System::Warehouse) && included(&args.only, System::Sqlmesh) {
        settings.check_one_warehouse(spec).map_err(CliError::Usage)?;
    }
    let rendering = render_all(spec, &Templates::embedded())?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let mut live = connect(spec, &settings, &args.only, &mut plan).await?;
        let lock = live
            .nats
            .as_ref()
            .expect("NATS is always connected")
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
    observe_and_diff(spec, rendering, live, &args.only, &mut plan).await?;
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
        eprint!("Apply {} change(s)? [y/N] ", plan.changes.len());
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| CliError::Runtime(e.into()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
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
    let pipeline = spec.pipeline.name.as_str();
    for change in &plan.changes {
        progress.set_message(change.describe());
        let step = async {
            match change.system() {
                System::Nats => live.nats.as_ref().expect("connected").execute(change, pipeline).await,
                System::Risingwave if matches!(change, Change::ResetConsumer { .. }) => {
                    live.nats.as_ref().expect("connected").execute(change, pipeline).await
                }
                System::Warehouse => live.warehouse.as_mut().expect("connected").execute(change).await,
                System::Risingwave => {
                    let report = |line: &str| progress.set_message(format!("{} ({line})", change.describe()));
                    live.risingwave
                        .as_ref()
                        .expect("connected")
                        .execute(change, &report)
                        .await
                }
                System::Sqlmesh => {
                    let settings = live.sqlmesh.as_ref().expect("configured");
                    super::sqlmesh_steps::execute(change, spec, rendering, settings, sqlmesh_line).await
                }
            }
        };
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
        let restated = super::sqlmesh_steps::settle(spec, settings, sqlmesh_line)
            .await
            .map_err(|e| CliError::Runtime(e.context("apply stopped after the SQLMesh changes")))?;
        for day in restated {
            applied.push(format!("~ restated {}", day.describe()));
        }
    }
    progress.finish_and_clear();
    Ok(applied)
}
