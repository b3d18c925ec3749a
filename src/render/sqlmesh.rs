//! The SQLMesh project: config, external model, daily device-health models, audits, tests.

use serde::Serialize;
use serde_json::json;

use super::Artifact;
use super::templates::Templates;
use crate::quoting::sql::{float, literal};
use crate::quoting::yaml::string as yaml_string;
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

/// One `key: value` of a test row, the value already a YAML scalar.
#[derive(Serialize)]
struct Cell {
    key: &'static str,
    value: String,
}

fn cell(key: &'static str, value: String) -> Cell {
    Cell { key, value }
}

fn text(key: &'static str, value: &str) -> Cell {
    cell(key, yaml_string(value))
}

fn number(key: &'static str, value: f64) -> Cell {
    cell(key, float(value))
}

fn optional(key: &'static str, value: Option<f64>) -> Cell {
    cell(key, value.map_or_else(|| "null".to_string(), float))
}

pub fn render(spec: &Spec, templates: &Templates) -> anyhow::Result<Vec<Artifact>> {
    let names = model_names(spec);
    let sm = &spec.sqlmesh;
    let mut files = Vec::new();
    let mut add = |path: &str, template: &str, context: serde_json::Value| -> anyhow::Result<()> {
        files.push(Artifact::new(
            format!("sqlmesh/{path}"),
            templates.render(template, context)?,
        ));
        Ok(())
    };

    add(
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
    add(
        "external_models.yaml",
        "sqlmesh/external_models.yaml.j2",
        json!({"raw_table": names.raw_table, "stream_table": names.stream_daily, "columns": columns, "description": format!("Raw telemetry of pipeline {} (contract v{})", spec.pipeline.name, spec.contract.version)}),
    )?;

    let thresholds: Vec<ThresholdRow> = spec
        .device_types
        .iter()
        .flat_map(|dt| dt.metrics.iter().map(move |m| ThresholdRow::new(dt.name.as_str(), m)))
        .collect();
    let rows = thresholds
        .iter()
        .map(ThresholdRow::values_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    add(
        "models/metric_thresholds.sql",
        "sqlmesh/models/metric_thresholds.sql.j2",
        json!({"name": names.thresholds, "rows": rows}),
    )?;
    let incremental = json!({
        "batch_size": sm.batch_size_days, "lookback": sm.lookback_days,
        "raw_table": names.raw_table, "thresholds": names.thresholds,
        "name": names.device_metrics, "device_metrics": names.device_metrics,
        "stream_audit": names.stream_daily.is_some(),
    });
    add(
        "models/daily_device_metrics.sql",
        "sqlmesh/models/daily_device_metrics.sql.j2",
        incremental.clone(),
    )?;
    let mut rollup = incremental;
    rollup["name"] = json!(names.site_rollup);
    add(
        "models/daily_site_rollup.sql",
        "sqlmesh/models/daily_site_rollup.sql.j2",
        rollup,
    )?;
    add(
        "audits/rollup_matches_device_metrics.sql",
        "sqlmesh/audits/rollup_matches_device_metrics.sql.j2",
        json!({"device_metrics": names.device_metrics}),
    )?;
    if let Some(stream_table) = &names.stream_daily {
        add(
            "audits/stream_matches_batch.sql",
            "sqlmesh/audits/stream_matches_batch.sql.j2",
            json!({"stream_table": stream_table, "max_drop_rate": float(spec.slo.max_drop_rate), "tolerance": "0.000001"}),
        )?;
    }

    // Unit tests: expected values computed here with the models' own semantics. The
    // thresholds model has none: it would compare the spec's rows with themselves.
    let day1 = sm.start.clone();
    // Validation checked the start day; its own text stands in if it did not.
    let day2 = crate::time::Day::parse(&day1).map_or_else(|| day1.clone(), |d| d.next().to_string());
    let site = spec.sites.first().map(|s| s.name.as_str()).unwrap_or("site");
    let subject = thresholds.iter().find(|t| t.has_thresholds()).or(thresholds.first());
    if let Some(t) = subject {
        let readings = t.sample_readings();
        let out_of_range = t.range_max + (t.range_max - t.range_min);
        let mut raw_rows = Vec::new();
        // Local times with offsets: the model buckets by the UTC day, so the third reading
        // (day 2 at 01:59:59+02:00) counts on day 1 and the last (day 1 at 22:00-02:00) on day 2.
        let timed: Vec<(&str, &str, f64)> = readings
            .iter()
            .zip([
                (day1.as_str(), "08:00:00+00:00"),
                (day1.as_str(), "14:00:00+02:00"),
                (day2.as_str(), "01:59:59+02:00"),
            ])
            .map(|(v, (day, time))| (day, time, *v))
            .chain([
                (day1.as_str(), "13:00:00+00:00", out_of_range),
                (day1.as_str(), "22:00:00-02:00", readings[0]),
            ])
            .collect();
        for (i, (day, time, value)) in timed.iter().enumerate() {
            raw_rows.push(vec![
                text("event_id", &format!("evt-{}", i + 1)),
                text("device_id", "dev-001"),
                text("site", site),
                text("device_type", &t.device_type),
                text("metric", &t.metric),
                text("ts", &format!("{day} {time}")),
                number("value", *value),
                cell("seq", (i + 1).to_string()),
                text("firmware_version", "1.0.0"),
            ]);
        }
        let row = |day: &str, values: &[f64]| {
            let stats = Stats::of(values);
            let (warning, critical) = values.iter().fold((0, 0), |(w, c), v| match t.classify(*v) {
                Level::Critical => (w, c + 1),
                Level::Warning => (w + 1, c),
                Level::Normal => (w, c),
            });
            vec![
                text("event_date", day),
                text("site", site),
                text("device_type", &t.device_type),
                text("device_id", "dev-001"),
                text("metric", &t.metric),
                cell("sample_count", values.len().to_string()),
                number("min_value", stats.min),
                number("max_value", stats.max),
                number("avg_value", stats.mean),
                optional("stddev_value", stats.stddev),
                cell("warning_breaches", warning.to_string()),
                cell("critical_breaches", critical.to_string()),
            ]
        };
        let expected = vec![row(&day1, &readings), row(&day2, &readings[..1])];
        add(
            "tests/test_daily_device_metrics.yaml",
            "sqlmesh/tests/test_daily_device_metrics.yaml.j2",
            json!({
                "model": names.device_metrics, "raw_table": names.raw_table, "thresholds": names.thresholds,
                "raw_rows": raw_rows, "threshold_rows": [t.cells()], "expected": expected,
                "start": day1, "end": day2,
            }),
        )?;

        let device_row = |device: &str, count: u32, min: f64, max: f64, avg: f64, warning: u32, critical: u32| {
            vec![
                text("event_date", &day1),
                text("site", site),
                text("device_type", &t.device_type),
                text("device_id", device),
                text("metric", &t.metric),
                cell("sample_count", count.to_string()),
                number("min_value", min),
                number("max_value", max),
                number("avg_value", avg),
                cell("warning_breaches", warning.to_string()),
                cell("critical_breaches", critical.to_string()),
            ]
        };
        let input_rows = vec![
            device_row("dev-001", 3, 5.0, 15.0, 10.0, 1, 0),
            device_row("dev-002", 1, 30.0, 30.0, 30.0, 0, 1),
        ];
        let expected = vec![vec![
            text("event_date", &day1),
            text("site", site),
            text("device_type", &t.device_type),
            text("metric", &t.metric),
            cell("device_count", "2".into()),
            cell("sample_count", "4".into()),
            number("min_value", 5.0),
            number("max_value", 30.0),
            number("avg_value", 15.0),
            cell("warning_breaches", "1".into()),
            cell("critical_breaches", "1".into()),
            cell("devices_with_critical", "1".into()),
        ]];
        add(
            "tests/test_daily_site_rollup.yaml",
            "sqlmesh/tests/test_daily_site_rollup.yaml.j2",
            json!({"model": names.site_rollup, "device_metrics": names.device_metrics, "input_rows": input_rows, "expected": expected, "start": day1, "end": day1}),
        )?;
    }
    Ok(files)
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

    fn has_thresholds(&self) -> bool {
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

    /// Three in-range readings covering as many breach levels as the thresholds allow.
    fn sample_readings(&self) -> Vec<f64> {
        let points: Vec<f64> = (0..=40)
            .map(|i| self.range_min + (self.range_max - self.range_min) * f64::from(i) / 40.0)
            .collect();
        let mut chosen: Vec<f64> = Vec::new();
        for level in [Level::Normal, Level::Warning, Level::Critical] {
            if let Some(p) = points.iter().find(|p| self.classify(**p) == level) {
                chosen.push(*p);
            }
        }
        for p in &points[1..] {
            if chosen.len() >= 3 {
                break;
            }
            if !chosen.contains(p) {
                chosen.push(*p);
            }
        }
        chosen
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            text("device_type", &self.device_type),
            text("metric", &self.metric),
            text("unit", &self.unit),
            number("range_min", self.range_min),
            number("range_max", self.range_max),
            optional("warning_above", self.warning_above),
            optional("warning_below", self.warning_below),
            optional("critical_above", self.critical_above),
            optional("critical_below", self.critical_below),
        ]
    }
}

struct Stats {
    min: f64,
    max: f64,
    mean: f64,
    stddev: Option<f64>,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let stddev =
            (values.len() > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Stats {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean,
            stddev,
        }
    }
}
