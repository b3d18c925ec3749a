//! The Grafana dashboard: one row per chain (subjects → stream → RisingWave consumer → table →
//! views → sinks → warehouse), the dead letters by reason, and the probe's latency against the
//! SLO. Its JSON follows Grafana's dashboard schema at a pinned version; a test type-checks it
//! against `@grafana/schema`.

use serde_json::{Value, json};

use super::alerts::{CONSUMER_BACKLOG, DEAD_LETTER_RATIO};
use super::chains::{Chain, Pipeline};
use crate::observability::metrics::*;
use crate::spec::streams::StreamRole;

/// Grafana's dashboard JSON schema version this dashboard is written in (Grafana 10.4 to 12).
pub const SCHEMA_VERSION: u32 = 39;

/// Lays panels out left to right in rows of 24 columns, 8 high.
struct Layout {
    panels: Vec<Value>,
    next_id: u32,
    x: u32,
    y: u32,
}

impl Layout {
    fn row(&mut self, title: String) {
        self.y += if self.x > 0 { 8 } else { 0 };
        self.x = 0;
        let id = self.id();
        self.panels.push(json!({"type": "row", "id": id, "title": title, "collapsed": false, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []}));
        self.y += 1;
    }

    fn panel(&mut self, width: u32, mut panel: Value) {
        if self.x + width > 24 {
            self.x = 0;
            self.y += 8;
        }
        panel["id"] = json!(self.id());
        panel["gridPos"] = json!({"h": 8, "w": width, "x": self.x, "y": self.y});
        self.x += width;
        self.panels.push(panel);
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// A time series panel; `targets` are (PromQL, legend) pairs.
fn timeseries(title: &str, unit: &str, targets: &[(String, &str)], threshold: Option<f64>) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .zip('A'..)
        .map(|((expr, legend), ref_id)| json!({"refId": ref_id.to_string(), "expr": expr, "legendFormat": legend, "datasource": datasource()}))
        .collect();
    let mut defaults = json!({"unit": unit});
    if let Some(limit) = threshold {
        defaults["thresholds"] =
            json!({"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": limit}]});
        defaults["custom"] = json!({"thresholdsStyle": {"mode": "line"}});
    }
    json!({"type": "timeseries", "title": title, "datasource": datasource(), "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}}})
}

fn text(title: &str, markdown: String) -> Value {
    json!({"type": "text", "title": title, "options": {"mode": "markdown", "content": markdown}})
}

/// The chain in words, for a row title: `iot.> → FACTORY_TELEMETRY → factory_risingwave → …`.
fn chain_title(p: &Pipeline, chain: &Chain) -> String {
    let mut parts = vec![chain.subjects.join(", "), chain.stream.clone()];
    parts.extend(chain.consumer.clone());
    parts.extend(chain.table.clone());
    if !chain.views.is_empty() {
        parts.push(counted(chain.views.len(), "view"));
    }
    if !chain.sinks.is_empty() {
        parts.push(counted(chain.sinks.len(), "sink"));
    }
    if chain.role == StreamRole::Telemetry {
        parts.push(p.warehouse_table.clone());
    }
    parts.join(" → ")
}

fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn chain_text(p: &Pipeline, chain: &Chain) -> String {
    let list = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "**Stream** `{}` (subjects `{}`)\n\n",
        chain.stream,
        chain.subjects.join("`, `")
    );
    if let (Some(consumer), Some(table)) = (&chain.consumer, &chain.table) {
        text.push_str(&format!("**RisingWave** consumer `{consumer}` → table `{table}`\n\n"));
    }
    if !chain.views.is_empty() {
        text.push_str(&format!("**Views** {}\n\n", list(&chain.views)));
    }
    if !chain.sinks.is_empty() {
        text.push_str(&format!("**Sinks** {}\n\n", list(&chain.sinks)));
    }
    if chain.role == StreamRole::Telemetry {
        text.push_str(&format!("**Warehouse** `{}`\n", p.warehouse_table));
    }
    text
}

fn stream_row(p: &Pipeline, layout: &mut Layout, chain: &Chain, label: &str) {
    let at = format!("pipeline=\"{}\",stream=\"{}\"", p.name, chain.stream);
    layout.row(format!("{label}: {}", chain_title(p, chain)));
    layout.panel(
        6,
        timeseries(
            "Arrivals",
            "msg/s",
            &[(
                format!("sum(rate({}{{{at}}}[5m]))", STREAM_LAST_SEQUENCE.name),
                "arrivals",
            )],
            None,
        ),
    );
    layout.panel(
        6,
        timeseries(
            "Held",
            "short",
            &[(format!("{}{{{at}}}", STREAM_MESSAGES.name), "messages")],
            None,
        ),
    );
    if let Some(consumer) = &chain.consumer {
        let c = format!("{at},consumer=\"{consumer}\"");
        layout.panel(
            6,
            timeseries(
                &format!("Consumer {consumer}"),
                "short",
                &[
                    (format!("{}{{{c}}}", CONSUMER_PENDING.name), "pending"),
                    (format!("{}{{{c}}}", CONSUMER_ACK_PENDING.name), "ack pending"),
                    (format!("{}{{{c}}}", CONSUMER_REDELIVERED.name), "redelivered"),
                ],
                None,
            ),
        );
    }
    layout.panel(6, text("Chain", chain_text(p, chain)));
}

/// A one-query panel over a gauge of this pipeline.
fn gauge_panel(p: &Pipeline, title: &str, unit: &str, metric: &str, legend: &str, threshold: Option<f64>) -> Value {
    timeseries(
        title,
        unit,
        &[(format!("{metric}{{pipeline=\"{}\"}}", p.name), legend)],
        threshold,
    )
}

/// The panels of a chain's row after its stream panels, with their widths.
fn role_panels(p: &Pipeline, role: StreamRole) -> Vec<(u32, Value)> {
    match role {
        StreamRole::Telemetry => vec![(
            12,
            gauge_panel(
                p,
                "RisingWave backlog (traffic behind)",
                "s",
                CONSUMER_BACKLOG,
                "{{consumer}}",
                Some(60.0),
            ),
        )],
        StreamRole::Replay => vec![
            (
                8,
                gauge_panel(
                    p,
                    "Last replay: run time",
                    "s",
                    REPLAY_LAST_RUN_DURATION.name,
                    "run time",
                    None,
                ),
            ),
            (
                8,
                gauge_panel(p, "Last replay: rate", "msg/s", REPLAY_LAST_RUN_RATE.name, "rate", None),
            ),
            (
                8,
                gauge_panel(
                    p,
                    "Last replay: progress",
                    "percentunit",
                    REPLAY_LAST_RUN_PROGRESS.name,
                    "progress",
                    None,
                ),
            ),
        ],
        StreamRole::DeadLetter => dead_letter_panels(p),
        StreamRole::Alerts => slo_panels(p),
    }
}

fn dead_letter_panels(p: &Pipeline) -> Vec<(u32, Value)> {
    let by_reason = format!("sum by (reason) ({}{{pipeline=\"{}\"}})", DEAD_LETTERS.name, p.name);
    vec![
        (
            12,
            timeseries("Dead letters by reason", "short", &[(by_reason, "{{reason}}")], None),
        ),
        (
            12,
            gauge_panel(
                p,
                "Dead-letter ratio (1 h) vs slo.max_drop_rate",
                "percentunit",
                DEAD_LETTER_RATIO,
                "dead letters / arrivals",
                Some(p.max_drop_rate),
            ),
        ),
    ]
}

fn slo_panels(p: &Pipeline) -> Vec<(u32, Value)> {
    let pipeline = format!("pipeline=\"{}\"", p.name);
    let quantiles = format!("{}{{{pipeline},quantile=~\"0.5|0.95|0.99\"}}", PROBE_ALERT_LATENCY.name);
    let reach = [
        (format!("{}{{{pipeline}}}", REPLAY_REACH.name), "reach"),
        (format!("{}{{{pipeline}}}", REPLAY_REACH_SLO.name), "SLO"),
    ];
    if !p.probed {
        return vec![(
            12,
            timeseries("Replay reach vs slo.replay_retention", "s", &reach, None),
        )];
    }
    vec![
        (
            12,
            timeseries(
                "Probe: publish-to-alert latency vs slo.alert_latency_p99",
                "s",
                &[(quantiles, "p{{quantile}}")],
                Some(p.latency_slo_secs),
            ),
        ),
        (
            6,
            gauge_panel(
                p,
                "Probe: canaries lost",
                "percentunit",
                PROBE_LOSS.name,
                "lost",
                Some(p.max_drop_rate),
            ),
        ),
        (6, timeseries("Replay reach vs slo.replay_retention", "s", &reach, None)),
    ]
}

pub fn dashboard(p: &Pipeline) -> anyhow::Result<String> {
    let mut layout = Layout {
        panels: Vec::new(),
        next_id: 0,
        x: 0,
        y: 0,
    };
    for (role, label) in [
        (StreamRole::Telemetry, "Live"),
        (StreamRole::Replay, "Replay"),
        (StreamRole::DeadLetter, "Dead letters"),
        (StreamRole::Alerts, "Alerts and SLOs"),
    ] {
        stream_row(p, &mut layout, p.chain(role), label);
        for (width, panel) in role_panels(p, role) {
            layout.panel(width, panel);
        }
    }
    let uid: String = format!("iotctl-{}", p.name).chars().take(40).collect();
    let dashboard = json!({
        "uid": uid,
        "title": format!("iotctl · {}", p.name),
        "description": format!("Pipeline {}: streams, RisingWave consumers, dead letters and SLOs. Rendered by iotctl from the pipeline spec; edit the spec, not this file.", p.name),
        "tags": ["iotctl", p.name],
        "timezone": "utc",
        "editable": true,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "hide": 0, "refresh": 1, "options": []}]},
        "annotations": {"list": []},
        "panels": layout.panels,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&dashboard)?))
}
