//! `iotctl plan`: observe every configured system and print what `apply` would change.
//! `--check` exits 1 on drift, for CI.

use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::cli::{OnlySystem, PlanArgs};
use crate::engine::{Live, Selection};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::plan::{Plan, System};
use crate::render::{render_all, templates::Templates};
use crate::settings::Settings;
use crate::spec::Spec;

pub fn run(printer: &Printer, args: &PlanArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let selection = selection(&args.only);
    check_one_warehouse(&settings, spec, &selection)?;
    let rendering = render_all(spec, &Templates::embedded())?;
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let live = Live::connect(spec, &settings, selection, &mut plan).await?;
        live.observe_and_diff(spec, &rendering, &mut plan).await?;
        print_plan(printer, &plan);
        let drift = !plan.is_empty() || !plan.conflicts.is_empty();
        Ok(if (args.check && drift) || !plan.conflicts.is_empty() {
            Exit::CheckFailed
        } else {
            Exit::Ok
        })
    })
}

/// The systems `--only` names (all when none).
pub fn selection(only: &[OnlySystem]) -> Selection {
    Selection::only(only.iter().map(|o| match o {
        OnlySystem::Nats => System::Nats,
        OnlySystem::Warehouse => System::Warehouse,
        OnlySystem::Risingwave => System::Risingwave,
        OnlySystem::Sqlmesh => System::Sqlmesh,
    }))
}

/// A run that covers both the warehouse and SQLMesh must give them the same warehouse.
pub fn check_one_warehouse(settings: &Settings, spec: &Spec, selection: &Selection) -> Result<(), CliError> {
    if selection.includes(System::Warehouse) && selection.includes(System::Sqlmesh) {
        settings.check_one_warehouse(spec).map_err(CliError::Usage)?;
    }
    Ok(())
}

pub fn print_plan(printer: &Printer, plan: &Plan) {
    if printer.is_json() {
        printer.json(&json!({"changes": plan.changes, "skipped": plan.skipped, "conflicts": plan.conflicts, "notes": plan.notes, "summary": plan.summary(), "empty": plan.is_empty()}));
    } else {
        printer.data(&plan.render_human());
    }
}
