//! Ingestion and classification: every message on the telemetry stream becomes a row of the
//! ingestion table (raw bytes, no watermark), is classified once into valid or rejected with a
//! reason, and is counted in the accounting view. Rejected rows go on to the dead-letter stream.

use serde::Serialize;

use super::options::{self, SessionSetting, SqlOption, option};
use super::{NatsConsumer, Pipeline, RwKind, StateBound, object_name};
use crate::contract::reasons;
use crate::spec::event::{EventField, event_fields, identity_columns};
use crate::spec::model::{FieldType, Spec};
use crate::spec::streams::StreamRole;
use crate::spec::subjects::{TelemetrySubject, risingwave_dead_letter_subject};

#[derive(Serialize)]
struct IngestionTable<'a> {
    schema: &'a str,
    table: &'a str,
    options: Vec<SqlOption>,
    subjects: String,
    session: Vec<SessionSetting>,
}

/// A contract field as the classification reads it out of the payload.
#[derive(Serialize)]
struct ClassifiedField {
    name: String,
    /// `string`, `float`, `integer`, `boolean` or `timestamp`: how it is extracted.
    kind: &'static str,
    /// What a present value of another type is told it is not.
    expected: &'static str,
    required: bool,
    allowed: Option<Vec<String>>,
}

#[derive(Serialize)]
struct MetricRule {
    device_type: String,
    metric: String,
    min: f64,
    max: f64,
    integer: bool,
}

#[derive(Serialize)]
struct Reasons {
    not_utf8: &'static str,
    not_json_object: &'static str,
    escaped_nul: &'static str,
    escaped_nul_text: &'static str,
    clock_skew: String,
}

/// The context of `classify.sql.j2`: everything the rules read from the spec.
#[derive(Serialize)]
struct Classification<'a> {
    schema: &'a str,
    table: &'a str,
    fields: Vec<ClassifiedField>,
    sites: Vec<&'a str>,
    metrics: Vec<MetricRule>,
    /// Position of the site token in the subject (1-based, as `split_part` counts).
    subject_site_token: usize,
    rfc3339_pattern: &'static str,
    max_clock_skew: String,
    allowed_lateness: String,
    reasons: Reasons,
}

#[derive(Serialize)]
struct Classified<'a> {
    schema: &'a str,
    name: &'a str,
    rejected: &'a str,
    contract_version: u32,
    allowed_lateness: String,
    /// `received_at > {this}`: the temporal filter that bounds the view to the live horizon.
    live_since: &'a str,
    horizon: String,
    classification: &'a Classification<'a>,
}

#[derive(Serialize)]
struct Live<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    columns: Vec<String>,
    identity: Vec<&'static str>,
}

#[derive(Serialize)]
struct Accounting<'a> {
    schema: &'a str,
    name: &'a str,
    valid: &'a str,
    rejected: &'a str,
}

#[derive(Serialize)]
pub(super) struct NatsSink<'a> {
    pub schema: &'a str,
    pub name: &'a str,
    pub source: &'a str,
    pub options: Vec<SqlOption>,
    pub subject: &'a str,
    pub purpose: &'a str,
    pub session: Vec<SessionSetting>,
}

fn classified_field(field: &EventField) -> ClassifiedField {
    let (kind, expected) = match field.field_type {
        FieldType::String => ("string", "a string"),
        FieldType::Float => ("float", "a number"),
        FieldType::Integer => ("integer", "an integer"),
        FieldType::Boolean => ("boolean", "a boolean"),
        FieldType::Timestamp => ("timestamp", "an RFC 3339 time with a zone"),
    };
    ClassifiedField {
        name: field.name.clone(),
        kind,
        expected,
        required: field.required,
        allowed: field.allowed.clone(),
    }
}

fn classification<'a>(spec: &'a Spec, schema: &'a str, table: &'a str) -> Classification<'a> {
    let metrics = spec
        .device_types
        .iter()
        .flat_map(|dt| {
            dt.metrics.iter().map(move |m| MetricRule {
                device_type: dt.name.to_string(),
                metric: m.name.to_string(),
                min: m.range.min,
                max: m.range.max,
                integer: m.value_type == crate::spec::model::ValueType::Integer,
            })
        })
        .collect();
    Classification {
        schema,
        table,
        fields: event_fields(spec).iter().map(classified_field).collect(),
        sites: spec.sites.iter().map(|s| s.name.as_str()).collect(),
        metrics,
        subject_site_token: TelemetrySubject::of(spec).site_token_position(),
        rfc3339_pattern: crate::time::RFC3339_WITH_ZONE_PATTERN,
        max_clock_skew: spec.contract.max_clock_skew.sql_interval(false),
        allowed_lateness: spec.risingwave.ingestion.allowed_lateness.sql_interval(false),
        reasons: Reasons {
            not_utf8: reasons::NOT_UTF8,
            not_json_object: reasons::NOT_JSON_OBJECT,
            escaped_nul: reasons::ESCAPED_NUL,
            escaped_nul_text: reasons::ESCAPED_NUL_TEXT,
            clock_skew: reasons::clock_skew(&spec.contract.max_clock_skew.to_string()),
        },
    }
}

fn ingestion_table(p: &mut Pipeline) -> anyhow::Result<()> {
    let spec = p.spec;
    let telemetry = spec.stream(StreamRole::Telemetry);
    let mut options = p.nats_connection(&telemetry.subjects.join(","))?;
    options.push(option("stream", telemetry.name.as_str())?);
    options.push(option(
        "consumer.durable_name",
        spec.risingwave.ingestion.durable_consumer.as_str(),
    )?);
    options.extend(options::nats_table_consumer(&spec.risingwave.ingestion.options)?);
    options.push(options::table_retention(p.names.live_horizon)?);
    for (key, value) in &spec.risingwave.ingestion.options {
        options.push(option(key, value)?);
    }
    let ddl = p.render(
        "ingestion_table",
        IngestionTable {
            schema: p.schema,
            table: &p.names.table,
            options,
            subjects: telemetry.subjects.join(", "),
            session: options::nats_table_session(),
        },
    )?;
    let depends = [vec![p.schema.to_string()], p.nats_credentials()].concat();
    let consumer = NatsConsumer {
        stream: telemetry.name.to_string(),
        durable: spec.risingwave.ingestion.durable_consumer.to_string(),
    };
    p.push_nats_table(p.names.table.clone(), depends, ddl, consumer);
    Ok(())
}

pub(super) fn render(p: &mut Pipeline) -> anyhow::Result<()> {
    ingestion_table(p)?;
    let spec = p.spec;
    let (valid, rejected, table) = (p.names.valid.clone(), p.names.rejected.clone(), p.names.table.clone());
    let classification = classification(spec, p.schema, &table);
    let allowed_lateness = spec.risingwave.ingestion.allowed_lateness.to_string();
    for (template, name) in [("valid_telemetry", &valid), ("rejected_telemetry", &rejected)] {
        let ddl = p.render(
            template,
            Classified {
                schema: p.schema,
                name,
                rejected: &rejected,
                contract_version: spec.contract.version,
                allowed_lateness: allowed_lateness.clone(),
                live_since: &p.names.live_since,
                horizon: p.names.live_horizon.to_string(),
                classification: &classification,
            },
        )?;
        p.push(
            RwKind::MaterializedView,
            name.clone(),
            vec![table.clone()],
            ddl,
            StateBound::Bounded(
                "the events read within the live horizon: a temporal filter on received_at expires older ones (retractions the sinks that read it drop)",
            ),
        );
    }

    live_view(p)?;

    let subject = risingwave_dead_letter_subject(spec);
    let name = object_name(&[&rejected, "to_dlq"]);
    let sink = NatsSink {
        schema: p.schema,
        name: &name,
        source: &rejected,
        options: options::nats_sink(spec, &subject, &p.names.nats_secret, &Default::default())?,
        subject: &subject,
        purpose: "Events that break the contract",
        session: options::nats_sink_session(),
    };
    let ddl = p.render("nats_sink", sink)?;
    let depends = [vec![rejected.clone()], p.nats_credentials()].concat();
    p.push(RwKind::Sink, name, depends, ddl, super::NATS_SINK_STATE);

    let name = object_name(&[&table, "accounting"]);
    let ddl = p.render(
        "telemetry_accounting",
        Accounting {
            schema: p.schema,
            name: &name,
            valid: &valid,
            rejected: &rejected,
        },
    )?;
    p.push(
        RwKind::MaterializedView,
        name,
        vec![valid, rejected],
        ddl,
        StateBound::Bounded(
            "one row per outcome and reason, a fixed set, over the live horizon; max keeps the horizon's values",
        ),
    );
    Ok(())
}

/// The valid events deduplicated on their identity: what counting and alerting read.
fn live_view(p: &mut Pipeline) -> anyhow::Result<()> {
    let (live, valid) = (p.names.live.clone(), p.names.valid.clone());
    let mut columns: Vec<String> = event_fields(p.spec).into_iter().map(|f| f.name).collect();
    columns.extend(["received_at".to_string(), "late".to_string()]);
    let ddl = p.render(
        "live_telemetry",
        Live {
            schema: p.schema,
            name: &live,
            source: &valid,
            columns,
            identity: identity_columns(p.spec),
        },
    )?;
    p.push(
        RwKind::MaterializedView,
        live,
        vec![valid],
        ddl,
        StateBound::Bounded(
            "one delivery per identity within the live horizon: a delivery leaves when the classification view expires it (inherited bound)",
        ),
    );
    Ok(())
}
