//! The SQLMesh leg of `plan` and `apply`: observe SQLMesh's own state of the project, then
//! plan, build new days and restate changed ones, and check afterwards that every built day
//! matches the warehouse (a restatement on DuckDB is not atomic: a failed one leaves a hole).

use crate::backend::sqlmesh;
use crate::plan::sqlmesh::{ProjectState, StaleDay, span};
use crate::plan::{self, Change};
use crate::render::Rendering;
use crate::render::sqlmesh::{ModelNames, model_names};
use crate::settings::SqlmeshSettings;
use crate::spec::Spec;
use crate::time::Day;

/// The SQLMesh changes due: from SQLMesh's state, never from the files on disk alone.
pub async fn diff(spec: &Spec, rendering: &Rendering, settings: &SqlmeshSettings) -> anyhow::Result<Vec<Change>> {
    let files = rendering.files();
    let changed_files = sqlmesh::changed_files(&files, &settings.project_dir);
    let state = if changed_files.is_empty() {
        sqlmesh::observe(settings, &model_names(spec), None).await?
    } else {
        // The project on disk is not the rendered one: SQLMesh would load the old files.
        ProjectState::default()
    };
    Ok(plan::sqlmesh::diff(
        &settings.project_dir.display().to_string(),
        settings.gateway_name(),
        changed_files,
        &state,
    ))
}

/// Executes one SQLMesh change.
pub async fn execute(
    change: &Change,
    spec: &Spec,
    rendering: &Rendering,
    settings: &SqlmeshSettings,
    line: impl FnMut(&str),
) -> anyhow::Result<()> {
    match change {
        Change::ApplySqlmesh { .. } => {
            sqlmesh::write_project(&rendering.files(), &settings.project_dir)?;
            sqlmesh::plan(settings, line).await
        }
        Change::BuildSqlmeshDays { .. } => sqlmesh::build_days(settings, line).await,
        Change::RestateSqlmeshDays { days, .. } => restate(&model_names(spec), settings, days, line).await,
        other => unreachable!("not a SQLMesh change: {}", other.describe()),
    }
}

async fn restate(
    names: &ModelNames,
    settings: &SqlmeshSettings,
    days: &[StaleDay],
    line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let Some((first, last)) = span(days.iter().map(|d| d.day)) else {
        return Ok(());
    };
    let models = [names.device_metrics.as_str(), names.site_rollup.as_str()];
    sqlmesh::restate(settings, &models, (first, last), line).await
}

/// After SQLMesh changes ran: restates the built days that still differ from the warehouse
/// (e.g. found only once a first plan created prod), then checks again. Returns the days
/// restated here; a day that still differs is an error naming it.
pub async fn settle(
    spec: &Spec,
    settings: &SqlmeshSettings,
    mut line: impl FnMut(&str),
) -> anyhow::Result<Vec<StaleDay>> {
    let names = model_names(spec);
    let state = sqlmesh::observe(settings, &names, None).await?;
    if state.has_changes {
        anyhow::bail!("SQLMesh's prod still differs from the project after the plan; re-run apply");
    }
    if state.stale_days.is_empty() {
        return Ok(Vec::new());
    }
    restate(&names, settings, &state.stale_days, &mut line).await?;
    verify(settings, &names, &state.stale_days).await?;
    Ok(state.stale_days)
}

/// Checks that `days` now match the warehouse; a day that does not is a hole, reported.
pub async fn verify(settings: &SqlmeshSettings, names: &ModelNames, days: &[StaleDay]) -> anyhow::Result<()> {
    let Some((first, last)) = span(days.iter().map(|d| d.day)) else {
        return Ok(());
    };
    verify_span(settings, names, (first, last)).await
}

/// Checks that every built day in `first` … `last` matches the warehouse.
pub async fn verify_span(
    settings: &SqlmeshSettings,
    names: &ModelNames,
    (first, last): (Day, Day),
) -> anyhow::Result<()> {
    let state = sqlmesh::observe(settings, names, Some((first, last))).await?;
    if !state.prod || state.has_changes {
        anyhow::bail!(
            "cannot check the restated days: SQLMesh's prod differs from the project (run `iotctl apply` first)"
        );
    }
    if state.stale_days.is_empty() {
        return Ok(());
    }
    let holes: Vec<String> = state.stale_days.iter().map(|d| format!("  {}", d.describe())).collect();
    anyhow::bail!(
        "after the restatement {} day(s) still differ from the warehouse:\n{}",
        holes.len(),
        holes.join("\n")
    )
}
