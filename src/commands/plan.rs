//! `iotctl plan`: observe every configured system and print what `apply` would change.
//! `--check` exits 1 on drift, for CI.

use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::cli::{ConnectionArgs, OnlySystem, PlanArgs, SpecArg};
use crate::engine::{Live, Selection};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::plan::{Plan, System};
use crate::render::{Rendering, render_all, templates::Templates};
use crate::settings::Settings;
use crate::spec::LoadedSpec;

/// What `plan` and `apply` start from: the checked spec, the settings, the systems selected
/// (one warehouse for all of them) and the rendering.
pub struct Prepared {
    pub loaded: LoadedSpec,
    pub settings: Settings,
    pub selection: Selection,
    pub rendering: Rendering,
}

pub fn prepare(
    printer: &Printer,
    spec: &SpecArg,
    connection: &ConnectionArgs,
    only: &[OnlySystem],
) -> Result<Prepared, CliError> {
    let (loaded, _) = load_spec(printer, &spec.file)?;
    let settings = Settings::resolve(connection, &loaded.spec).map_err(CliError::Usage)?;
    let selection = selection(only);
    if selection.includes(System::Warehouse) && selection.includes(System::Sqlmesh) {
        settings.check_one_warehouse(&loaded.spec).map_err(CliError::Usage)?;
    }
    let rendering = render_all(&loaded.spec, &Templates::embedded())?;
    Ok(Prepared {
        loaded,
        settings,
        selection,
        rendering,
    })
}

pub fn run(printer: &Printer, args: &PlanArgs) -> Outcome {
    let Prepared {
        loaded,
        settings,
        selection,
        rendering,
    } = prepare(printer, &args.spec, &args.connection, &args.only)?;
    let spec = &loaded.spec;
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
fn selection(only: &[OnlySystem]) -> Selection {
    Selection::only(only.iter().map(|o| match o {
        OnlySystem::Nats => System::Nats,
        OnlySystem::Warehouse => System::Warehouse,
        OnlySystem::Risingwave => System::Risingwave,
        OnlySystem::Sqlmesh => System::Sqlmesh,
    }))
}

pub fn print_plan(printer: &Printer, plan: &Plan) {
    if printer.is_json() {
        printer.json(&json!({"changes": plan.changes, "skipped": plan.skipped, "conflicts": plan.conflicts, "notes": plan.notes, "summary": plan.summary(), "empty": plan.is_empty()}));
    } else {
        printer.data(&plan.render_human());
    }
}
