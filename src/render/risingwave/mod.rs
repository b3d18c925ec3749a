//! RisingWave DDL: the typed list of objects a pipeline needs, in apply order, rendered by
//! object family, each from a typed template context:
//! - `ingestion`: the raw ingestion table, the classification of every event into valid or
//!   rejected (and on to the dead-letter stream), and the accounting of where each went;
//! - `replay`: the replay table and the deduplicated union of live and replayed events;
//! - `aggregates`: rolling windows per metric and the daily statistics reconcile compares;
//! - `alerts`: threshold breaches, anomalies, and the NATS alert sinks;
//! - `warehouse`: the PostgreSQL sinks of raw events and daily statistics.

mod aggregates;
mod alerts;
mod ingestion;
mod options;
mod replay;
mod warehouse;

use std::collections::BTreeSet;

use anyhow::bail;
use serde::Serialize;

use self::options::SqlOption;
use super::templates::Templates;
use crate::spec::event::identity_columns;
use crate::spec::model::{AlertKind, ConnectMode, Severity, Spec};

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
    /// For tables that read NATS: the durable consumer RisingWave reads through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats_consumer: Option<NatsConsumer>,
    /// What the object keeps, and what bounds it (the manifest lists it per object).
    pub state: StateBound,
}

/// A NATS sink with sink decoupling off publishes as rows arrive and keeps nothing.
const NATS_SINK_STATE: StateBound = StateBound::Stateless("publishes rows as they arrive (sink_decouple = false)");

/// What a RisingWave object keeps as it runs, and what bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "bound", content = "detail", rename_all = "snake_case")]
pub enum StateBound {
    /// Keeps nothing beyond rows in flight.
    Stateless(&'static str),
    /// Keeps a bounded amount, by the mechanism named.
    Bounded(&'static str),
    /// Grows with the data; nothing RisingWave applies bounds it yet.
    Unbounded(&'static str),
}

/// A JetStream durable consumer a table reads through. RisingWave creates it when the table
/// starts and reuses it, ack floor included, if one of that name exists
/// (src/connector/src/connector_common/common.rs, `build_consumer`): a table created again would
/// start where its predecessor stopped. So `apply` deletes it before it creates the table, and
/// the new table reads all the stream retains (`scan.startup.mode` defaults to earliest,
/// src/connector/src/source/nats/source/reader.rs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatsConsumer {
    pub stream: String,
    pub durable: String,
}

pub use crate::spec::names::{aggregate_name, object_name, window_label};

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

/// The names the families hand to each other.
struct Names {
    table: String,
    valid: String,
    rejected: String,
    /// The valid events, each identity once (redeliveries dropped).
    live: String,
    counted: String,
    daily: String,
    nats_secret: String,
    warehouse_secret: String,
    /// How far back the live views look (`ts > now() - horizon`, a temporal filter that
    /// bounds their state): what the telemetry stream retains, which is also what a recreated
    /// ingestion table can refill. The NATS tables keep rows as long (`retention_seconds`).
    live_horizon: crate::spec::duration::Duration,
    /// `received_at > {this}`: the classification views' temporal filter (the live horizon).
    live_since: String,
    /// `ts >= {this}`: where the views that keep whole UTC days (counting, deduplication,
    /// daily statistics) start; see `live_days_back`.
    live_days_from: String,
    /// `ts > now() - {this}`: the alert views' horizon, the live horizon less the clock skew.
    /// A redelivery whose first copy left the live view surfaces there, at least a horizon
    /// after it was first read; its ts is by then outside this bound, so it never pages.
    alert_horizon: String,
}

impl Names {
    fn for_spec(spec: &Spec) -> Names {
        let table = spec.risingwave.ingestion.table.as_str();
        let pipeline = spec.pipeline.name.as_str();
        Names {
            table: table.to_string(),
            valid: object_name(&["valid", table]),
            rejected: object_name(&["rejected", table]),
            live: object_name(&["live", table]),
            counted: object_name(&["counted", table]),
            daily: super::STREAM_DAILY_VIEW.to_string(),
            nats_secret: object_name(&[pipeline, "nats_password"]),
            warehouse_secret: object_name(&[pipeline, "warehouse_password"]),
            live_horizon: live_horizon(spec),
            live_since: format!("now() - INTERVAL '{}'", live_horizon(spec).sql_interval(true)),
            // Intervals without a day unit and an explicit zone: the bound is non-decreasing
            // whatever the session's time zone, as a temporal filter requires
            // (src/frontend/src/optimizer/property/monotonicity.rs).
            alert_horizon: live_days_back(spec).sql_interval(true),
            live_days_from: format!(
                "date_trunc('day', now() - INTERVAL '{}', 'UTC') + INTERVAL '24 hours'",
                live_days_back(spec).sql_interval(true)
            ),
        }
    }
}

/// How far back from now the first kept whole day may start: the live horizon less the
/// tolerated clock skew. Every reading of a day that starts after `now - this` was published
/// after `now - horizon` (a reading is at most `max_clock_skew` ahead of its publication), so
/// it is still in the telemetry stream: a recreated table refills whole days, and a day's
/// statistics are never sunk partial. The bound moves a day at a time, so a day's rows expire
/// in one step and its statistics are deleted whole, never shrunk.
fn live_days_back(spec: &Spec) -> crate::spec::duration::Duration {
    let back = live_horizon(spec)
        .as_millis()
        .saturating_sub(spec.contract.max_clock_skew.as_millis());
    crate::spec::duration::Duration::from_millis(back.max(1_000))
}

/// The first UTC day the whole-day views hold at `now_ms`.
pub fn first_live_day(spec: &Spec, now_ms: i64) -> crate::time::Day {
    let back = live_days_back(spec).as_millis() as i64;
    crate::time::Day::of_ms(now_ms - back).next()
}

/// What the telemetry stream retains (else the replay SLO): the live views' horizon.
fn live_horizon(spec: &Spec) -> crate::spec::duration::Duration {
    let retained = spec.stream(crate::spec::streams::StreamRole::Telemetry).max_age;
    if retained.is_zero() {
        spec.slo.replay_retention
    } else {
        retained
    }
}

/// What every family needs while rendering, and the objects rendered so far.
struct Pipeline<'a> {
    spec: &'a Spec,
    templates: &'a Templates,
    schema: &'a str,
    names: Names,
    objects: Vec<RwObject>,
}

impl Pipeline<'_> {
    fn push(&mut self, kind: RwKind, name: String, depends_on: Vec<String>, ddl: String, state: StateBound) {
        self.objects.push(RwObject {
            kind,
            name,
            depends_on,
            ddl,
            secret_env: None,
            nats_consumer: None,
            state,
        });
    }

    /// A table reading NATS through `consumer`; it keeps the rows of the live horizon.
    fn push_nats_table(&mut self, name: String, depends_on: Vec<String>, ddl: String, consumer: NatsConsumer) {
        self.objects.push(RwObject {
            kind: RwKind::Table,
            name,
            depends_on,
            ddl,
            secret_env: None,
            nats_consumer: Some(consumer),
            state: StateBound::Bounded(
                "the messages of the live horizon: retention_seconds removes older rows from storage (its views hold what they already read)",
            ),
        });
    }

    fn render(&self, template: &str, context: impl Serialize) -> anyhow::Result<String> {
        self.templates
            .render(&format!("sql/risingwave/{template}.sql.j2"), context)
    }

    /// The secrets a NATS connection reads (none without a NATS password).
    fn nats_credentials(&self) -> Vec<String> {
        match self.spec.nats.connect_mode {
            ConnectMode::UserAndPassword => vec![self.names.nats_secret.clone()],
            ConnectMode::Plain => vec![],
        }
    }

    /// NATS connection options shared by the ingestion and replay tables and every NATS sink.
    fn nats_connection(&self, subject: &str) -> anyhow::Result<Vec<SqlOption>> {
        options::nats_connection(self.spec, subject, &self.names.nats_secret)
    }

    fn schema_and_secrets(&mut self) -> anyhow::Result<()> {
        #[derive(Serialize)]
        struct Schema<'a> {
            schema: &'a str,
            pipeline: &'a str,
        }
        #[derive(Serialize)]
        struct Secret<'a> {
            name: &'a str,
            variable: &'a str,
            env: &'a str,
            purpose: &'a str,
        }
        let spec = self.spec;
        let ddl = self.render(
            "schema",
            Schema {
                schema: self.schema,
                pipeline: spec.pipeline.name.as_str(),
            },
        )?;
        self.push(
            RwKind::Schema,
            self.schema.to_string(),
            vec![],
            ddl,
            StateBound::Stateless("a namespace"),
        );
        let mut secrets = Vec::new();
        if spec.nats.connect_mode == ConnectMode::UserAndPassword {
            let purpose = "password RisingWave uses to connect to NATS";
            secrets.push((self.names.nats_secret.clone(), spec.nats.password_env.as_str(), purpose));
        }
        if spec.risingwave.warehouse_sink.enabled {
            let purpose = "password of the warehouse user the raw-telemetry sink writes as";
            secrets.push((
                self.names.warehouse_secret.clone(),
                spec.warehouse.password_env.as_str(),
                purpose,
            ));
        }
        for (name, env, purpose) in secrets {
            let ddl = self.render(
                "secret",
                Secret {
                    name: &name,
                    variable: &name,
                    env,
                    purpose,
                },
            )?;
            self.objects.push(RwObject {
                kind: RwKind::Secret,
                name,
                depends_on: vec![],
                ddl,
                secret_env: Some(env.to_string()),
                nats_consumer: None,
                state: StateBound::Stateless("a value in the meta store"),
            });
        }
        Ok(())
    }

    /// Refuses two objects with one name: RisingWave would refuse the second.
    fn finish(self) -> anyhow::Result<Vec<RwObject>> {
        let mut seen = BTreeSet::new();
        for object in &self.objects {
            if !seen.insert((object.kind == RwKind::Secret, object.name.as_str())) {
                bail!(
                    "two RisingWave objects would be named `{}`; rename a device type, metric or sink",
                    object.name
                );
            }
        }
        Ok(self.objects)
    }
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
    let mut pipeline = Pipeline {
        spec,
        templates,
        schema: spec.risingwave.schema.as_str(),
        names: Names::for_spec(spec),
        objects: Vec::new(),
    };
    pipeline.schema_and_secrets()?;
    ingestion::render(&mut pipeline)?;
    replay::render(&mut pipeline)?;
    aggregates::render(&mut pipeline)?;
    alerts::render(&mut pipeline)?;
    if spec.risingwave.warehouse_sink.enabled {
        warehouse::render(&mut pipeline)?;
    }
    pipeline.finish()
}
