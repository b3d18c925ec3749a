//! The SQLMesh project: config, external model, daily device-health models, audits, tests.

mod unit_tests;

use serde::Serialize;
use serde_json::json;

use super::Artifact;
use super::templates::Templates;
use crate::quoting::sql::{float, literal};
use crate::spec::event::event_fields;
use crate::spec::model::{Gateway, Metric, Spec};

/// Fully qualified names of the project's models.
pub struct ModelNames {
    pub raw_table: String,
    pub thresholds: String,
    pub device_metrics: String,
    pub site_rollup: String,
    /// The stream's daily statistics sunk into the warehouse, when RisingWave sinks there.
    pub stream_daily: Option<String>,
}

pub fn model_names(spec: &Spec) -> ModelNames {
    let schema = spec.sqlmesh.schema.as_str();
    ModelNames {
        raw_table: format!("{}.{}", spec.warehouse.schema, spec.warehouse.raw_table),
        thresholds: format!("{schema}.metric_thresholds"),
        device_metrics: format!("{schema}.daily_device_metrics"),
        site_rollup: format!("{schema}.daily_site_rollup"),
        stream_daily: spec
            .risingwave
            .warehouse_sink
            .enabled
            .then(|| format!("{}.{}", spec.warehouse.schema, super::STREAM_DAILY_TABLE)),
    }
}

pub fn gateway_name(gateway: Gateway) -> &'static str {
    match gateway {
        Gateway::Duckdb => "duckdb",
        Gateway::Postgres => "postgres",
        Gateway::Risingwave => "risingwave",
    }
}

pub fn render(spec: &Spec, templates: &Templates) -> anyhow::Result<Vec<Artifact>> {
    let names = model_names(spec);
    let mut project = Project {
        templates,
        files: Vec::new(),
    };
    project.config_and_sources(spec, &names)?;
    let thresholds: Vec<ThresholdRow> = spec
        .device_types
        .iter()
        .flat_map(|dt| dt.metrics.iter().map(move |m| ThresholdRow::new(dt.name.as_str(), m)))
        .collect();
    project.models(spec, &names, &thresholds)?;
    project.audits(spec, &names)?;
    unit_tests::render(&mut project, spec, &names, &thresholds)?;
    Ok(project.files)
}

/// The files rendered so far, under `sqlmesh/`.
struct Project<'t> {
    templates: &'t Templates,
    files: Vec<Artifact>,
}

impl Project<'_> {
    fn add(&mut self, path: &str, template: &str, context: serde_json::Value) -> anyhow::Result<()> {
        let content = self.templates.render(template, context)?;
        self.files.push(Artifact::new(format!("sqlmesh/{path}"), content));
        Ok(())
    }

    fn config_and_sources(&mut self, spec: &Spec, names: &ModelNames) -> anyhow::Result<()> {
        let sm = &spec.sqlmesh;
        self.add(
            "config.yaml",
            "sqlmesh/config.yaml.j2",
            json!({
                "pipeline": spec.pipeline.name, "duckdb_path": sm.duckdb_path, "start": sm.start,
                "default_gateway": gateway_name(sm.default_gateway), "warehouse": spec.warehouse,
            }),
        )?;
        let columns: Vec<_> = event_fields(spec)
            .iter()
            .map(|f| json!({"name": f.name, "type": f.sqlmesh_type(), "description": if f.description.is_empty() { f.name.clone() } else { f.description.clone() }}))
            .collect();
        let description = format!(
            "Raw telemetry of pipeline {} (contract v{})",
            spec.pipeline.name, spec.contract.version
        );
        self.add(
            "external_models.yaml",
            "sqlmesh/external_models.yaml.j2",
            json!({"raw_table": names.raw_table, "stream_table": names.stream_daily, "columns": columns, "description": description}),
        )
    }

    fn models(&mut self, spec: &Spec, names: &ModelNames, thresholds: &[ThresholdRow]) -> anyhow::Result<()> {
        let rows = thresholds
            .iter()
            .map(ThresholdRow::values_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.add(
            "models/metric_thresholds.sql",
            "sqlmesh/models/metric_thresholds.sql.j2",
            json!({"name": names.thresholds, "rows": rows}),
        )?;
        let sm = &spec.sqlmesh;
        let incremental = json!({
            "batch_size": sm.batch_size_days, "lookback": sm.lookback_days,
            "raw_table": names.raw_table, "thresholds": names.thresholds,
            "name": names.device_metrics, "device_metrics": names.device_metrics,
            "stream_audit": names.stream_daily.is_some(),
        });
        self.add(
            "models/daily_device_metrics.sql",
            "sqlmesh/models/daily_device_metrics.sql.j2",
            incremental.clone(),
        )?;
        let mut rollup = incremental;
        rollup["name"] = json!(names.site_rollup);
        self.add(
            "models/daily_site_rollup.sql",
            "sqlmesh/models/daily_site_rollup.sql.j2",
            rollup,
        )
    }

    fn audits(&mut self, spec: &Spec, names: &ModelNames) -> anyhow::Result<()> {
        self.add(
            "audits/rollup_matches_device_metrics.sql",
            "sqlmesh/audits/rollup_matches_device_metrics.sql.j2",
            json!({"device_metrics": names.device_metrics}),
        )?;
        if let Some(stream_table) = &names.stream_daily {
            self.add(
                "audits/stream_matches_batch.sql",
                "sqlmesh/audits/stream_matches_batch.sql.j2",
                json!({"stream_table": stream_table, "max_drop_rate": float(spec.slo.max_drop_rate), "tolerance": "0.000001"}),
            )?;
        }
        Ok(())
    }
}

/// A metric's range and thresholds, as the thresholds model serves them.
/// One row of the thresholds model's VALUES list, as `sqlmesh format` writes it: sqlglot puts
/// a tuple on one line unless its items (each with its `, `) exceed 80 characters
/// (`Generator.too_wide`, `max_text_width`), and then one item per line.
#[derive(Serialize)]
pub struct ValuesRow {
    cells: Vec<String>,
    wide: bool,
}

const SQLGLOT_MAX_TEXT_WIDTH: usize = 80;

impl ValuesRow {
    fn new(cells: Vec<String>) -> ValuesRow {
        let width: usize = cells.iter().map(|c| c.len()).sum::<usize>() + 2 * cells.len().saturating_sub(1);
        ValuesRow {
            wide: width > SQLGLOT_MAX_TEXT_WIDTH,
            cells,
        }
    }
}

pub struct ThresholdRow {
    pub device_type: String,
    pub metric: String,
    pub unit: String,
    pub range_min: f64,
    pub range_max: f64,
    pub warning_above: Option<f64>,
    pub warning_below: Option<f64>,
    pub critical_above: Option<f64>,
    pub critical_below: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Normal,
    Warning,
    Critical,
}

impl ThresholdRow {
    /// The row as SQL values, in the model's column order.
    fn values_row(&self) -> anyhow::Result<ValuesRow> {
        let text = |t: &str| literal(t).map_err(anyhow::Error::msg);
        let bound = |v: Option<f64>| v.map_or_else(|| "NULL".to_string(), float);
        Ok(ValuesRow::new(vec![
            text(&self.device_type)?,
            text(&self.metric)?,
            text(&self.unit)?,
            float(self.range_min),
            float(self.range_max),
            bound(self.warning_above),
            bound(self.warning_below),
            bound(self.critical_above),
            bound(self.critical_below),
        ]))
    }

    pub fn new(device_type: &str, metric: &Metric) -> ThresholdRow {
        let warning = metric.thresholds.warning.unwrap_or_default();
        let critical = metric.thresholds.critical.unwrap_or_default();
        ThresholdRow {
            device_type: device_type.to_string(),
            metric: metric.name.to_string(),
            unit: metric.unit.clone(),
            range_min: metric.range.min,
            range_max: metric.range.max,
            warning_above: warning.above,
            warning_below: warning.below,
            critical_above: critical.above,
            critical_below: critical.below,
        }
    }

    pub(super) fn has_thresholds(&self) -> bool {
        [
            self.warning_above,
            self.warning_below,
            self.critical_above,
            self.critical_below,
        ]
        .iter()
        .any(Option::is_some)
    }

    /// The breach level of a reading; critical wins, as in the RisingWave and SQLMesh models.
    pub fn classify(&self, value: f64) -> Level {
        let beyond = |above: Option<f64>, below: Option<f64>| {
            above.is_some_and(|a| value > a) || below.is_some_and(|b| value < b)
        };
        if beyond(self.critical_above, self.critical_below) {
            Level::Critical
        } else if beyond(self.warning_above, self.warning_below) {
            Level::Warning
        } else {
            Level::Normal
        }
    }
}
