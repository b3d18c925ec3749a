//! RisingWave DDL: the typed list of objects a pipeline needs, in apply order.

use std::collections::BTreeSet;

use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use super::contract_fields::{event_fields, identity_columns};
use super::quoting::literal;
use super::templates::Templates;
use crate::spec::model::{AlertKind, ConnectMode, Metric, Severity, Spec};
use crate::spec::names::IDENT_MAX;
use crate::spec::streams::StreamRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RwKind {
    Schema,
    Secret,
    Table,
    MaterializedView,
    Sink,
}

impl RwKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RwKind::Schema => "schema",
            RwKind::Secret => "secret",
            RwKind::Table => "table",
            RwKind::MaterializedView => "materialized_view",
            RwKind::Sink => "sink",
        }
    }
}

/// One RisingWave object with the DDL that creates it and the objects it reads from.
#[derive(Debug, Clone, Serialize)]
pub struct RwObject {
    pub kind: RwKind,
    /// Unqualified name; the schema is the spec's `risingwave.schema` (secrets: default schema).
    pub name: String,
    pub depends_on: Vec<String>,
    pub ddl: String,
    /// For secrets: the env var whose value `apply` binds to the `:'name'` placeholder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// A `WITH (...)` option with its value already rendered as SQL (a literal or `SECRET name`).
#[derive(Debug, Clone, Serialize)]
struct SqlOption {
    key: String,
    value: String,
}

fn option(key: &str, value: &str) -> anyhow::Result<SqlOption> {
    Ok(SqlOption {
        key: key.to_string(),
        value: literal(value).map_err(anyhow::Error::msg)?,
    })
}

/// A NATS sink starts from the rows that arrive after it is created: with RisingWave's default
/// (`snapshot = true`) a sink rebuilt by apply would publish every alert and dead letter its
/// view already holds again (src/frontend/src/handler/create_sink.rs reads the generic
/// `snapshot` option before the connector sees its options).
fn no_snapshot() -> anyhow::Result<SqlOption> {
    option("snapshot", "false")
}

fn secret_option(key: &str, secret: &str) -> anyhow::Result<SqlOption> {
    Ok(SqlOption {
        key: key.to_string(),
        value: format!("SECRET {}", super::quoting::ident(secret).map_err(anyhow::Error::msg)?),
    })
}

/// Joins name parts into an identifier of at most 63 bytes; longer names keep a readable
/// prefix and gain a hash suffix so they stay unique.
pub fn object_name(parts: &[&str]) -> String {
    let name = parts.join("_");
    if name.len() <= IDENT_MAX {
        return name;
    }
    let hash = super::manifest::sha256_hex(name.as_bytes());
    let mut cut = IDENT_MAX - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &hash[..8])
}

pub fn window_label(metric_window: &crate::spec::model::Window) -> String {
    match metric_window.hop {
        Some(hop) => format!("{}_every_{}", metric_window.size.compact(), hop.compact()),
        None => metric_window.size.compact(),
    }
}

pub fn aggregate_name(device_type: &str, metric: &str, window: &crate::spec::model::Window) -> String {
    object_name(&["agg", device_type, metric, &window_label(window)])
}

/// The SQL expression identifying an event; only fixed column names, never user text.
fn alert_key_sql(spec: &Spec) -> String {
    identity_columns(spec)
        .iter()
        .map(|c| {
            if *c == "seq" {
                "CAST(seq AS VARCHAR)".to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" || ':' || ")
}

pub fn render(spec: &Spec, templates: &Templates) -> anyhow::Result<Vec<RwObject>> {
    let rw = &spec.risingwave;
    let schema = rw.schema.as_str();
    let table = rw.ingestion.table.as_str();
    let pipeline = spec.pipeline.name.as_str();
    let mut objects: Vec<RwObject> = Vec::new();
    let mut push = |kind, name: String, depends_on: Vec<String>, ddl: String, secret_env: Option<String>| {
        objects.push(RwObject {
            kind,
            name,
            depends_on,
            ddl,
            secret_env,
        });
    };

    push(
        RwKind::Schema,
        schema.to_string(),
        vec![],
        templates.render(
            "sql/risingwave/schema.sql.j2",
            json!({"schema": schema, "pipeline": pipeline}),
        )?,
        None,
    );

    let nats_secret = object_name(&[pipeline, "nats_password"]);
    if spec.nats.connect_mode == ConnectMode::UserAndPassword {
        let ddl = templates.render(
            "sql/risingwave/secret.sql.j2",
            json!({"name": nats_secret, "variable": nats_secret, "env": spec.nats.password_env, "purpose": "password RisingWave uses to connect to NATS"}),
        )?;
        push(
            RwKind::Secret,
            nats_secret.clone(),
            vec![],
            ddl,
            Some(spec.nats.password_env.clone()),
        );
    }
    let warehouse_secret = object_name(&[pipeline, "warehouse_password"]);
    if rw.warehouse_sink.enabled {
        let ddl = templates.render(
            "sql/risingwave/secret.sql.j2",
            json!({"name": warehouse_secret, "variable": warehouse_secret, "env": spec.warehouse.password_env, "purpose": "password of the warehouse user the raw-telemetry sink writes as"}),
        )?;
        push(
            RwKind::Secret,
            warehouse_secret.clone(),
            vec![],
            ddl,
            Some(spec.warehouse.password_env.clone()),
        );
    }

    // NATS connection options shared by the ingestion table and every NATS sink.
    let nats_connection = |subject: &str| -> anyhow::Result<Vec<SqlOption>> {
        let mut options = vec![
            option("connector", "nats")?,
            option("server_url", &spec.nats.servers.join(","))?,
            option("subject", subject)?,
        ];
        match spec.nats.connect_mode {
            ConnectMode::Plain => options.push(option("connect_mode", "plain")?),
            ConnectMode::UserAndPassword => {
                options.push(option("connect_mode", "user_and_password")?);
                options.push(option("username", spec.nats.username.as_deref().unwrap_or_default())?);
                options.push(secret_option("password", &nats_secret)?);
            }
        }
        Ok(options)
    };
    let credential_deps: Vec<String> = if spec.nats.connect_mode == ConnectMode::UserAndPassword {
        vec![nats_secret.clone()]
    } else {
        vec![]
    };

    // Ingestion table.
    let fields = event_fields(spec);
    let telemetry = spec.stream(StreamRole::Telemetry);
    let mut options = nats_connection(&telemetry.subjects.join(","))?;
    options.push(option("stream", telemetry.name.as_str())?);
    options.push(option("consumer.durable_name", rw.ingestion.durable_consumer.as_str())?);
    for (key, value) in &rw.ingestion.options {
        options.push(option(key, value)?);
    }
    let columns: Vec<_> = fields
        .iter()
        .map(|f| json!({"name": f.name, "type": f.risingwave_type(), "required": f.required}))
        .collect();
    let ddl = templates.render(
        "sql/risingwave/ingestion_table.sql.j2",
        json!({
            "schema": schema, "table": table, "columns": columns, "options": options,
            "subjects": telemetry.subjects.join(", "),
            "watermark_delay": rw.ingestion.watermark_delay.to_string(),
            "watermark_interval": rw.ingestion.watermark_delay.sql_interval(false),
        }),
    )?;
    push(
        RwKind::Table,
        table.to_string(),
        [vec![schema.to_string()], credential_deps.clone()].concat(),
        ddl,
        None,
    );

    // Validity split: valid rows feed everything; rejected rows go to the dead-letter stream.
    let prefix_tokens = spec.nats.subject_prefix.split('.').count();
    let checks = json!({
        "required_fields": fields.iter().filter(|f| f.required).map(|f| f.name.clone()).collect::<Vec<_>>(),
        "subject_site_token": prefix_tokens + 1,
        "enum_fields": fields.iter().filter_map(|f| f.allowed.as_ref().map(|values| json!({"name": f.name, "values": values}))).collect::<Vec<_>>(),
        "metrics": spec.device_types.iter().flat_map(|dt| dt.metrics.iter().map(move |m| json!({
            "device_type": dt.name, "metric": m.name, "min": m.range.min, "max": m.range.max,
        }))).collect::<Vec<_>>(),
    });
    let valid = object_name(&["valid", table]);
    let rejected = object_name(&["rejected", table]);
    let ddl = templates.render(
        "sql/risingwave/valid_telemetry.sql.j2",
        json!({"schema": schema, "name": valid, "table": table, "rejected": rejected, "columns": columns, "checks": checks, "contract_version": spec.contract.version}),
    )?;
    push(
        RwKind::MaterializedView,
        valid.clone(),
        vec![table.to_string()],
        ddl,
        None,
    );
    let ddl = templates.render(
        "sql/risingwave/rejected_telemetry.sql.j2",
        json!({"schema": schema, "name": rejected, "table": table, "checks": checks, "contract_version": spec.contract.version}),
    )?;
    push(
        RwKind::MaterializedView,
        rejected.clone(),
        vec![table.to_string()],
        ddl,
        None,
    );
    let dlq_subject = format!("{}.risingwave", spec.subject_root(StreamRole::DeadLetter));
    let mut options = nats_connection(&dlq_subject)?;
    options.push(option("type", "append-only")?);
    options.push(option("force_append_only", "true")?);
    options.push(no_snapshot()?);
    let name = object_name(&[&rejected, "to_dlq"]);
    let ddl = templates.render(
        "sql/risingwave/nats_sink.sql.j2",
        json!({"schema": schema, "name": name, "source": rejected, "options": options, "subject": dlq_subject, "purpose": "Events that break the contract"}),
    )?;
    push(
        RwKind::Sink,
        name,
        [vec![rejected.clone()], credential_deps.clone()].concat(),
        ddl,
        None,
    );

    // Replay consumption: the replay stream through its own durable consumer, deduplicated on
    // the event identity against itself and the live path, then counted with the live events.
    let replay = spec.stream(StreamRole::Replay);
    let replay_table = object_name(&[table, "replay"]);
    let mut options = nats_connection(&replay.subjects.join(","))?;
    options.push(option("stream", replay.name.as_str())?);
    options.push(option(
        "consumer.durable_name",
        &format!("{}_replay", rw.ingestion.durable_consumer.as_str()),
    )?);
    let ddl = templates.render(
        "sql/risingwave/replay_table.sql.j2",
        json!({"schema": schema, "table": replay_table, "columns": columns, "options": options, "subjects": replay.subjects.join(", ")}),
    )?;
    push(
        RwKind::Table,
        replay_table.clone(),
        [vec![schema.to_string()], credential_deps.clone()].concat(),
        ddl,
        None,
    );
    let replayed = object_name(&["replayed", table]);
    let ddl = templates.render(
        "sql/risingwave/replayed_telemetry.sql.j2",
        json!({
            "schema": schema, "name": replayed, "table": replay_table, "live": valid, "columns": columns,
            "identity": identity_columns(spec),
            "required": fields.iter().filter(|f| f.required).map(|f| f.name.clone()).collect::<Vec<_>>(),
        }),
    )?;
    push(
        RwKind::MaterializedView,
        replayed.clone(),
        vec![replay_table.clone(), valid.clone()],
        ddl,
        None,
    );
    let counted = object_name(&["counted", table]);
    let ddl = templates.render(
        "sql/risingwave/counted_telemetry.sql.j2",
        json!({"schema": schema, "name": counted, "live": valid, "replayed": replayed, "columns": columns}),
    )?;
    push(
        RwKind::MaterializedView,
        counted.clone(),
        vec![valid.clone(), replayed.clone()],
        ddl,
        None,
    );

    // Rolling aggregates, one view per device type, metric and window.
    for device_type in &spec.device_types {
        for metric in &device_type.metrics {
            for window in &metric.windows {
                let name = aggregate_name(device_type.name.as_str(), metric.name.as_str(), window);
                let label = match window.hop {
                    Some(hop) => format!("Hopping {} (every {hop})", window.size),
                    None => format!("Tumbling {}", window.size),
                };
                let ddl = templates.render(
                    "sql/risingwave/rolling_aggregate.sql.j2",
                    json!({
                        "schema": schema, "name": name, "source": counted, "label": label,
                        "device_type": device_type.name, "metric": metric.name, "unit": metric.unit,
                        "size": window.size.sql_interval(false),
                        "hop": window.hop.map(|h| h.sql_interval(false)),
                    }),
                )?;
                push(RwKind::MaterializedView, name, vec![counted.clone()], ddl, None);
            }
        }
    }

    // The daily statistics per device on the batch model's grain (reconcile's stream leg).
    let daily = super::STREAM_DAILY_VIEW.to_string();
    let ddl = templates.render(
        "sql/risingwave/daily_device_metrics.sql.j2",
        json!({"schema": schema, "name": daily, "source": counted, "size": crate::spec::duration::Duration::from_secs(86_400).sql_interval(false), "sunk": rw.warehouse_sink.enabled}),
    )?;
    push(
        RwKind::MaterializedView,
        daily.clone(),
        vec![counted.clone()],
        ddl,
        None,
    );

    // Alerts: threshold breaches and anomalies, unified, then sunk to NATS.
    let alert_key = alert_key_sql(spec);
    let metrics: Vec<(&str, &Metric)> = spec
        .device_types
        .iter()
        .flat_map(|dt| dt.metrics.iter().map(move |m| (dt.name.as_str(), m)))
        .collect();
    let mut alert_parts = Vec::new();
    let threshold_metrics: Vec<_> = metrics
        .iter()
        .filter_map(|(dt, m)| {
            let branches = threshold_branches(m);
            (!branches.is_empty()).then(|| json!({"device_type": dt, "metric": m.name, "branches": branches}))
        })
        .collect();
    if !threshold_metrics.is_empty() {
        let name = "threshold_breaches".to_string();
        let ddl = templates.render(
            "sql/risingwave/threshold_breaches.sql.j2",
            json!({"schema": schema, "name": name, "source": valid, "metrics": threshold_metrics, "alert_key": alert_key}),
        )?;
        push(RwKind::MaterializedView, name.clone(), vec![valid.clone()], ddl, None);
        alert_parts.push(json!({"kind": "threshold", "source": name}));
    }
    let anomaly_metrics: Vec<_> = metrics
        .iter()
        .filter_map(|(dt, m)| {
            let anomaly = m.anomaly.as_ref()?;
            let frame = match (anomaly.previous, anomaly.window) {
                (Some(previous), _) => format!("ROWS BETWEEN {previous} PRECEDING AND 1 PRECEDING"),
                (None, Some(window)) => format!(
                    "RANGE BETWEEN INTERVAL '{}' PRECEDING AND CURRENT ROW",
                    window.sql_interval(true)
                ),
                (None, None) => return None,
            };
            Some(json!({
                "device_type": dt, "metric": m.name, "frame": frame, "k": anomaly.k,
                "min_samples": anomaly.min_samples, "severity": severity_name(anomaly.severity),
            }))
        })
        .collect();
    if !anomaly_metrics.is_empty() {
        let name = "anomalies".to_string();
        let ddl = templates.render(
            "sql/risingwave/anomalies.sql.j2",
            json!({"schema": schema, "name": name, "source": valid, "metrics": anomaly_metrics, "alert_key": alert_key}),
        )?;
        push(RwKind::MaterializedView, name.clone(), vec![valid.clone()], ddl, None);
        alert_parts.push(json!({"kind": "anomaly", "source": name}));
    }
    if !alert_parts.is_empty() {
        let alerts = "alerts".to_string();
        let depends = alert_parts
            .iter()
            .map(|p| p["source"].as_str().unwrap_or_default().to_string())
            .collect();
        let ddl = templates.render(
            "sql/risingwave/alerts.sql.j2",
            json!({"schema": schema, "name": alerts, "parts": alert_parts}),
        )?;
        push(RwKind::MaterializedView, alerts.clone(), depends, ddl, None);
        for sink in &rw.alert_sinks {
            let severities: BTreeSet<Severity> = sink.severities.iter().copied().collect();
            let kinds: BTreeSet<AlertKind> = sink.kinds.iter().copied().collect();
            let mut source = alerts.clone();
            if !severities.is_empty() || !kinds.is_empty() {
                let filter = object_name(&["alerts_for", sink.name.as_str()]);
                let severities: Vec<_> = severities.iter().map(|s| severity_name(*s)).collect();
                let kinds: Vec<_> = kinds.iter().map(|k| kind_name(*k)).collect();
                let description = format!(
                    "severities {}; kinds {}",
                    if severities.is_empty() {
                        "all".into()
                    } else {
                        severities.join(", ")
                    },
                    if kinds.is_empty() {
                        "all".into()
                    } else {
                        kinds.join(", ")
                    }
                );
                let ddl = templates.render(
                    "sql/risingwave/alert_filter.sql.j2",
                    json!({"schema": schema, "name": filter, "source": alerts, "sink": sink.name, "severities": severities, "kinds": kinds, "description": description}),
                )?;
                push(
                    RwKind::MaterializedView,
                    filter.clone(),
                    vec![alerts.clone()],
                    ddl,
                    None,
                );
                source = filter;
            }
            let subject = super::alert_sink_subject(spec, sink);
            let mut options = nats_connection(&subject)?;
            options.push(option("type", "append-only")?);
            // Window functions retract; alerts are events, so only inserts are forwarded.
            options.push(option("force_append_only", "true")?);
            options.push(no_snapshot()?);
            for (key, value) in &sink.options {
                options.push(option(key, value)?);
            }
            let name = object_name(&[sink.name.as_str(), "nats_sink"]);
            let ddl = templates.render(
                "sql/risingwave/nats_sink.sql.j2",
                json!({"schema": schema, "name": name, "source": source, "options": options, "subject": subject, "purpose": format!("Alerts of sink {}", sink.name)}),
            )?;
            push(
                RwKind::Sink,
                name,
                [vec![source], credential_deps.clone()].concat(),
                ddl,
                None,
            );
        }
    }

    if rw.warehouse_sink.enabled {
        let wh = &spec.warehouse;
        let primary_key = identity_columns(spec).join(",");
        let mut options = vec![
            option("connector", "postgres")?,
            option("host", &wh.host)?,
            option("port", &wh.port.to_string())?,
            option("user", &wh.user)?,
            secret_option("password", &warehouse_secret)?,
            option("database", &wh.database)?,
            option("schema", wh.schema.as_str())?,
            option("table", wh.raw_table.as_str())?,
            option("type", "upsert")?,
            option("primary_key", &primary_key)?,
        ];
        if let Some(mode) = wh.ssl_mode {
            options.push(option("ssl_mode", mode.as_str())?);
        }
        if let Some(rows) = rw.warehouse_sink.max_batch_rows {
            options.push(option("max_batch_rows", &rows.to_string())?);
        }
        let name = object_name(&[wh.raw_table.as_str(), "to_warehouse"]);
        let ddl = templates.render(
            "sql/risingwave/warehouse_sink.sql.j2",
            json!({"schema": schema, "name": name, "source": valid, "options": options, "target": format!("{}.{}", wh.schema, wh.raw_table), "primary_key": primary_key}),
        )?;
        push(
            RwKind::Sink,
            name,
            vec![valid.clone(), warehouse_secret.clone()],
            ddl,
            None,
        );

        let mut options = options;
        for o in options.iter_mut() {
            if o.key == "table" {
                *o = option("table", super::STREAM_DAILY_TABLE)?;
            } else if o.key == "primary_key" {
                *o = option("primary_key", "window_start,site,device_type,device_id,metric")?;
            }
        }
        let name = object_name(&[super::STREAM_DAILY_VIEW, "to_warehouse"]);
        let ddl = templates.render(
            "sql/risingwave/stream_daily_sink.sql.j2",
            json!({"schema": schema, "name": name, "source": daily, "options": options, "target": format!("{}.{}", wh.schema, super::STREAM_DAILY_TABLE)}),
        )?;
        push(
            RwKind::Sink,
            name,
            vec![daily.clone(), warehouse_secret.clone()],
            ddl,
            None,
        );
    }

    let mut seen = BTreeSet::new();
    for object in &objects {
        if !seen.insert((object.kind == RwKind::Secret, object.name.as_str())) {
            bail!(
                "two RisingWave objects would be named `{}`; rename a device type, metric or sink",
                object.name
            );
        }
    }
    Ok(objects)
}

#[derive(Serialize)]
struct Branch {
    op: &'static str,
    threshold: f64,
    severity: &'static str,
}

/// Threshold tests in priority order: critical before warning, so CASE picks the worst.
fn threshold_branches(metric: &Metric) -> Vec<Branch> {
    let mut branches = Vec::new();
    for (severity, bounds) in [
        ("critical", metric.thresholds.critical),
        ("warning", metric.thresholds.warning),
    ] {
        let Some(bounds) = bounds else { continue };
        if let Some(above) = bounds.above {
            branches.push(Branch {
                op: ">",
                threshold: above,
                severity,
            });
        }
        if let Some(below) = bounds.below {
            branches.push(Branch {
                op: "<",
                threshold: below,
                severity,
            });
        }
    }
    branches
}

pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

pub fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Threshold => "threshold",
        AlertKind::Anomaly => "anomaly",
    }
}
