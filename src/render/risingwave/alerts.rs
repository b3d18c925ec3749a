//! Alerts: threshold breaches and z-score anomalies over the live, on-time events, unified in
//! one shape, filtered per sink and published to NATS.

use std::collections::BTreeSet;

use serde::Serialize;

use super::ingestion::NatsSink;
use super::{Pipeline, RwKind, StateBound, alert_key_sql, kind_name, object_name, options, severity_name};

/// Each device's readings stay in the over-window's state: RisingWave keeps a partition's rows
/// (src/stream/src/executor/over_window/general.rs), and no watermark reaches the view.
const THRESHOLD_STATE: StateBound =
    StateBound::Bounded("the breaches within the live horizon: a temporal filter expires older ones");
const ANOMALY_STATE: StateBound = StateBound::Bounded(
    "the readings of each device within the live horizon, in the over-window's partitions: the temporal filter sits before the window and expires older ones",
);
use crate::spec::model::{AlertKind, AlertSink, Metric, Severity};

#[derive(Serialize)]
struct Branch {
    op: &'static str,
    threshold: f64,
    severity: &'static str,
}

#[derive(Serialize)]
struct ThresholdMetric<'a> {
    device_type: &'a str,
    metric: &'a str,
    branches: Vec<Branch>,
}

#[derive(Serialize)]
struct AnomalyMetric<'a> {
    device_type: &'a str,
    metric: &'a str,
    frame: String,
    k: f64,
    min_samples: u32,
    severity: &'static str,
}

/// The context of `threshold_breaches` and `anomalies`.
#[derive(Serialize)]
struct Detector<'a, M> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    metrics: Vec<M>,
    alert_key: &'a str,
    horizon: &'a str,
}

#[derive(Serialize)]
struct AlertPart {
    kind: &'static str,
    source: String,
}

#[derive(Serialize)]
struct Alerts<'a> {
    schema: &'a str,
    name: &'a str,
    parts: &'a [AlertPart],
}

#[derive(Serialize)]
struct AlertFilter<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    sink: &'a str,
    severities: Vec<&'static str>,
    kinds: Vec<&'static str>,
    description: String,
}

/// Threshold tests in priority order: critical before warning, so CASE picks the worst.
fn threshold_branches(metric: &Metric) -> Vec<Branch> {
    let mut branches = Vec::new();
    for (severity, bounds) in [
        ("critical", metric.thresholds.critical),
        ("warning", metric.thresholds.warning),
    ] {
        let Some(bounds) = bounds else { continue };
        for (op, threshold) in [(">", bounds.above), ("<", bounds.below)] {
            if let Some(threshold) = threshold {
                branches.push(Branch {
                    op,
                    threshold,
                    severity,
                });
            }
        }
    }
    branches
}

fn anomaly_metric<'a>(device_type: &'a str, metric: &'a Metric) -> Option<AnomalyMetric<'a>> {
    let anomaly = metric.anomaly.as_ref()?;
    let frame = match (anomaly.previous, anomaly.window) {
        (Some(previous), _) => format!("ROWS BETWEEN {previous} PRECEDING AND 1 PRECEDING"),
        (None, Some(window)) => format!(
            "RANGE BETWEEN INTERVAL '{}' PRECEDING AND CURRENT ROW",
            window.sql_interval(true)
        ),
        (None, None) => return None,
    };
    Some(AnomalyMetric {
        device_type,
        metric: metric.name.as_str(),
        frame,
        k: anomaly.k,
        min_samples: anomaly.min_samples,
        severity: severity_name(anomaly.severity),
    })
}

/// The detectors that have metrics to watch, rendered, as the parts of the alerts view.
fn detectors(p: &mut Pipeline) -> anyhow::Result<Vec<AlertPart>> {
    let spec = p.spec;
    let (valid, alert_key, horizon) = (p.names.live.clone(), alert_key_sql(spec), p.names.alert_horizon.clone());
    let metrics: Vec<(&str, &Metric)> = spec
        .device_types
        .iter()
        .flat_map(|dt| dt.metrics.iter().map(move |m| (dt.name.as_str(), m)))
        .collect();
    let thresholds: Vec<ThresholdMetric> = metrics
        .iter()
        .map(|(device_type, m)| ThresholdMetric {
            device_type,
            metric: m.name.as_str(),
            branches: threshold_branches(m),
        })
        .filter(|t| !t.branches.is_empty())
        .collect();
    let anomalies: Vec<AnomalyMetric> = metrics.iter().filter_map(|(dt, m)| anomaly_metric(dt, m)).collect();
    let mut parts = Vec::new();
    let shared = (valid.as_str(), alert_key.as_str(), horizon.as_str());
    if let Some(part) = detector(
        p,
        "threshold",
        "threshold_breaches",
        thresholds,
        shared,
        THRESHOLD_STATE,
    )? {
        parts.push(part);
    }
    if let Some(part) = detector(p, "anomaly", "anomalies", anomalies, shared, ANOMALY_STATE)? {
        parts.push(part);
    }
    Ok(parts)
}

/// One detector view over the valid events, when it has metrics to watch: the part it adds to
/// the alerts view. `(source, alert_key, horizon)` are the same for every detector.
fn detector<M: Serialize>(
    p: &mut Pipeline,
    kind: &'static str,
    name: &'static str,
    metrics: Vec<M>,
    (source, alert_key, horizon): (&str, &str, &str),
    state: StateBound,
) -> anyhow::Result<Option<AlertPart>> {
    if metrics.is_empty() {
        return Ok(None);
    }
    let context = Detector {
        schema: p.schema,
        name,
        source,
        metrics,
        alert_key,
        horizon,
    };
    let ddl = p.render(name, context)?;
    p.push(
        RwKind::MaterializedView,
        name.to_string(),
        vec![source.to_string()],
        ddl,
        state,
    );
    Ok(Some(AlertPart {
        kind,
        source: name.to_string(),
    }))
}

/// The view a sink reads: all alerts, or a filter of them by severity and kind.
fn sink_source(p: &mut Pipeline, sink: &AlertSink, alerts: &str) -> anyhow::Result<String> {
    let severities: BTreeSet<Severity> = sink.severities.iter().copied().collect();
    let kinds: BTreeSet<AlertKind> = sink.kinds.iter().copied().collect();
    if severities.is_empty() && kinds.is_empty() {
        return Ok(alerts.to_string());
    }
    let name = object_name(&["alerts_for", sink.name.as_str()]);
    let severities: Vec<_> = severities.iter().map(|s| severity_name(*s)).collect();
    let kinds: Vec<_> = kinds.iter().map(|k| kind_name(*k)).collect();
    let all_or = |list: &[&str]| {
        if list.is_empty() {
            "all".to_string()
        } else {
            list.join(", ")
        }
    };
    let description = format!("severities {}; kinds {}", all_or(&severities), all_or(&kinds));
    let filter = AlertFilter {
        schema: p.schema,
        name: &name,
        source: alerts,
        sink: sink.name.as_str(),
        severities,
        kinds,
        description,
    };
    let ddl = p.render("alert_filter", filter)?;
    p.push(
        RwKind::MaterializedView,
        name.clone(),
        vec![alerts.to_string()],
        ddl,
        StateBound::Bounded("the alerts within the live horizon, as the alerts view"),
    );
    Ok(name)
}

pub(super) fn render(p: &mut Pipeline) -> anyhow::Result<()> {
    let parts = detectors(p)?;
    if parts.is_empty() {
        return Ok(());
    }
    let alerts = "alerts".to_string();
    let ddl = p.render(
        "alerts",
        Alerts {
            schema: p.schema,
            name: &alerts,
            parts: &parts,
        },
    )?;
    let depends = parts.iter().map(|part| part.source.clone()).collect();
    p.push(
        RwKind::MaterializedView,
        alerts.clone(),
        depends,
        ddl,
        StateBound::Bounded(
            "the alerts within the live horizon; expired ones are retractions its append-only sinks drop",
        ),
    );
    let spec = p.spec;
    for sink in &spec.risingwave.alert_sinks {
        let source = sink_source(p, sink, &alerts)?;
        let subject = crate::spec::subjects::alert_sink_subject(spec, sink);
        let name = object_name(&[sink.name.as_str(), "nats_sink"]);
        let purpose = format!("Alerts of sink {}", sink.name);
        let nats_sink = NatsSink {
            schema: p.schema,
            name: &name,
            source: &source,
            options: options::nats_sink(spec, &subject, &p.names.nats_secret, &sink.options)?,
            subject: &subject,
            purpose: &purpose,
            session: options::nats_sink_session(),
        };
        let ddl = p.render("nats_sink", nats_sink)?;
        let depends = [vec![source.clone()], p.nats_credentials()].concat();
        p.push(RwKind::Sink, name, depends, ddl, super::NATS_SINK_STATE);
    }
    Ok(())
}
