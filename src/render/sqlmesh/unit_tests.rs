//! The SQLMesh unit tests iotctl renders: inputs with local times whose UTC day differs from
//! their local one, and expected rows computed here with the models' own semantics. The
//! thresholds model has none: it would compare the spec's rows with themselves.

use serde::Serialize;
use serde_json::json;

use super::{Level, ModelNames, Project, ThresholdRow};
use crate::quoting::sql::float;
use crate::quoting::yaml::string as yaml_string;
use crate::spec::model::Spec;

pub(super) fn render(
    project: &mut Project<'_>,
    spec: &Spec,
    names: &ModelNames,
    thresholds: &[ThresholdRow],
) -> anyhow::Result<()> {
    let day1 = spec.sqlmesh.start.clone();
    // Validation checked the start day; its own text stands in if it did not.
    let day2 = crate::time::Day::parse(&day1).map_or_else(|| day1.clone(), |d| d.next().to_string());
    let site = spec.sites.first().map(|s| s.name.as_str()).unwrap_or("site");
    let Some(t) = thresholds.iter().find(|t| t.has_thresholds()).or(thresholds.first()) else {
        return Ok(());
    };
    device_metrics_test(project, names, t, site, (&day1, &day2))?;
    site_rollup_test(project, names, t, site, &day1)
}

/// Readings of one device on two days: the model's daily statistics and breach counts.
fn device_metrics_test(
    project: &mut Project<'_>,
    names: &ModelNames,
    t: &ThresholdRow,
    site: &str,
    (day1, day2): (&str, &str),
) -> anyhow::Result<()> {
    let readings = t.sample_readings();
    let out_of_range = t.range_max + (t.range_max - t.range_min);
    // Local times with offsets: the model buckets by the UTC day, so the third reading
    // (day 2 at 01:59:59+02:00) counts on day 1 and the last (day 1 at 22:00-02:00) on day 2.
    let timed: Vec<(&str, &str, f64)> = readings
        .iter()
        .zip([
            (day1, "08:00:00+00:00"),
            (day1, "14:00:00+02:00"),
            (day2, "01:59:59+02:00"),
        ])
        .map(|(v, (day, time))| (day, time, *v))
        .chain([
            (day1, "13:00:00+00:00", out_of_range),
            (day1, "22:00:00-02:00", readings[0]),
        ])
        .collect();
    // A probe's canary beside the device's readings: valid, on day 1, and never counted.
    let canary = format!("{}{site}-1", crate::spec::event::CANARY_DEVICE_PREFIX);
    let devices = std::iter::repeat_n("dev-001", timed.len()).chain([canary.as_str()]);
    let timed: Vec<(&str, &str, f64)> = timed
        .iter()
        .copied()
        .chain([(day1, "09:00:00+00:00", readings[0])])
        .collect();
    let raw_rows: Vec<Vec<Cell>> = timed
        .iter()
        .zip(devices)
        .enumerate()
        .map(|(i, ((day, time, value), device))| {
            vec![
                text("event_id", &format!("evt-{}", i + 1)),
                text("device_id", device),
                text("site", site),
                text("device_type", &t.device_type),
                text("metric", &t.metric),
                text("ts", &format!("{day} {time}")),
                number("value", *value),
                cell("seq", (i + 1).to_string()),
                text("firmware_version", "1.0.0"),
            ]
        })
        .collect();
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
    let expected = vec![row(day1, &readings), row(day2, &readings[..1])];
    project.add(
        "tests/test_daily_device_metrics.yaml",
        "sqlmesh/tests/test_daily_device_metrics.yaml.j2",
        json!({
            "model": names.device_metrics, "raw_table": names.raw_table, "thresholds": names.thresholds,
            "raw_rows": raw_rows, "threshold_rows": [t.cells()], "expected": expected,
            "start": day1, "end": day2,
        }),
    )
}

/// Two devices' daily rows: the site rollup's counts, extremes and weighted average.
fn site_rollup_test(
    project: &mut Project<'_>,
    names: &ModelNames,
    t: &ThresholdRow,
    site: &str,
    day: &str,
) -> anyhow::Result<()> {
    let device_row = |device: &str, count: u32, (min, max, avg): (f64, f64, f64), (warning, critical): (u32, u32)| {
        vec![
            text("event_date", day),
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
        device_row("dev-001", 3, (5.0, 15.0, 10.0), (1, 0)),
        device_row("dev-002", 1, (30.0, 30.0, 30.0), (0, 1)),
    ];
    let expected = vec![vec![
        text("event_date", day),
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
    project.add(
        "tests/test_daily_site_rollup.yaml",
        "sqlmesh/tests/test_daily_site_rollup.yaml.j2",
        json!({"model": names.site_rollup, "device_metrics": names.device_metrics, "input_rows": input_rows, "expected": expected, "start": day, "end": day}),
    )
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

impl ThresholdRow {
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
