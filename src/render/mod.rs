//! Renderers: pure functions from a validated spec to artifacts (text files with paths).

pub mod contracts;
pub mod ddl_check;
pub mod ddl_options;
pub mod ddl_rules;
pub mod manifest;
pub mod observability;
pub mod risingwave;
pub mod sqlmesh;
pub mod templates;

use serde_json::json;

use crate::spec::event::{event_fields, identity_columns};
use crate::spec::model::Spec;
use risingwave::RwObject;
use templates::Templates;

/// One rendered file, its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: String,
    pub content: String,
}

impl Artifact {
    pub fn new(path: impl Into<String>, content: impl Into<String>) -> Artifact {
        Artifact {
            path: path.into(),
            content: content.into(),
        }
    }
}

/// Everything a spec renders to. `artifacts` is sorted by path and ends with no manifest;
/// `files()` adds it.
pub struct Rendering {
    pub risingwave: Vec<RwObject>,
    pub artifacts: Vec<Artifact>,
    manifest: Artifact,
}

impl Rendering {
    /// All files to write, manifest included, sorted by path.
    pub fn files(&self) -> Vec<&Artifact> {
        let mut files: Vec<&Artifact> = self.artifacts.iter().chain([&self.manifest]).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

/// Renders every artifact of `spec`. The spec must have passed validation.
pub fn render_all(spec: &Spec, templates: &Templates) -> anyhow::Result<Rendering> {
    // The RisingWave objects and the rest are independent: render them side by side.
    let (objects, others) = std::thread::scope(|scope| {
        let others = scope.spawn(|| -> anyhow::Result<Vec<Artifact>> {
            let mut artifacts = vec![render_warehouse(spec, templates)?];
            artifacts.extend(render_stream_daily_table(spec, templates)?);
            artifacts.extend(sqlmesh::render(spec, templates)?);
            artifacts.extend(contracts::render(spec)?);
            Ok(artifacts)
        });
        let objects = risingwave::render(spec, templates);
        (
            objects,
            others.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    let (objects, others) = (objects?, others?);
    let width = objects.len().to_string().len().max(3);
    let object_files: Vec<String> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| format!("risingwave/{:0width$}_{}_{}.sql", i + 1, o.kind.as_str(), o.name))
        .collect();
    let mut artifacts: Vec<Artifact> = objects
        .iter()
        .zip(&object_files)
        .map(|(o, path)| Artifact::new(path.clone(), o.ddl.clone()))
        .collect();
    artifacts.extend(others);
    artifacts.extend(observability::render(spec, &objects)?);
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = manifest::render(
        spec.pipeline.name.as_str(),
        spec.contract.version,
        &artifacts,
        &objects,
        &object_files,
    )?;
    Ok(Rendering {
        risingwave: objects,
        artifacts,
        manifest,
    })
}

/// PostgreSQL DDL of the warehouse's raw-telemetry table.
pub fn render_warehouse(spec: &Spec, templates: &Templates) -> anyhow::Result<Artifact> {
    render_raw_table(spec, templates, true)
}

/// The raw-telemetry table's DDL; `ts_index` adds the index on `ts` that PostgreSQL's day
/// filters use. DuckDB goes without: it prunes time ranges by each row group's min/max, and
/// maintaining an ART index on `ts` costs a quarter of its load time.
fn render_raw_table(spec: &Spec, templates: &Templates, ts_index: bool) -> anyhow::Result<Artifact> {
    let columns: Vec<_> = event_fields(spec)
        .iter()
        .map(|f| json!({"name": f.name, "type": f.postgres_type(), "required": f.required}))
        .collect();
    let ddl = templates.render(
        "sql/warehouse/raw_telemetry.sql.j2",
        json!({"schema": spec.warehouse.schema, "table": spec.warehouse.raw_table, "columns": columns, "primary_key": identity_columns(spec), "ts_index": ts_index}),
    )?;
    Ok(Artifact::new("warehouse/raw_telemetry.sql", ddl))
}

/// The warehouse table RisingWave sinks its daily per-device aggregates into (when the
/// warehouse sink is on): the stream side of the SQLMesh stream-vs-batch audit.
pub const STREAM_DAILY_TABLE: &str = "stream_daily_device_metrics";
/// RisingWave's daily per-device aggregate, read by `reconcile`'s stream leg.
pub const STREAM_DAILY_VIEW: &str = "daily_device_metrics";

pub fn render_stream_daily_table(spec: &Spec, templates: &Templates) -> anyhow::Result<Option<Artifact>> {
    if !spec.risingwave.warehouse_sink.enabled {
        return Ok(None);
    }
    let ddl = templates.render(
        "sql/warehouse/stream_daily_device_metrics.sql.j2",
        json!({"schema": spec.warehouse.schema, "table": STREAM_DAILY_TABLE, "rw_relation": format!("{}.{}", spec.risingwave.schema, STREAM_DAILY_VIEW)}),
    )?;
    Ok(Some(Artifact::new(format!("warehouse/{STREAM_DAILY_TABLE}.sql"), ddl)))
}

/// Every warehouse table's DDL in one script, for the embedded DuckDB warehouse.
pub fn render_duckdb_warehouse_ddl(spec: &Spec, templates: &Templates) -> anyhow::Result<String> {
    let mut ddl = render_raw_table(spec, templates, false)?.content;
    if let Some(stream) = render_stream_daily_table(spec, templates)? {
        ddl.push('\n');
        ddl.push_str(&stream.content);
    }
    Ok(ddl)
}
