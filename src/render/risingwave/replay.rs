//! The replay path: what `iotctl replay` republished, read through its own durable consumer,
//! deduplicated against itself and the live path, and counted with the live events.

use serde::Serialize;

use super::options::{self, SqlOption, option};
use super::{NatsConsumer, Pipeline, RwKind, StateBound, object_name};
use crate::spec::event::{event_fields, identity_columns};
use crate::spec::streams::StreamRole;

/// A contract field as a column of the replay table.
#[derive(Serialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    sql_type: &'static str,
}

#[derive(Serialize)]
struct ReplayTable<'a> {
    schema: &'a str,
    table: &'a str,
    columns: &'a [Column],
    options: Vec<SqlOption>,
    subjects: String,
    session: Vec<options::SessionSetting>,
}

#[derive(Serialize)]
struct Replayed<'a> {
    schema: &'a str,
    name: &'a str,
    table: &'a str,
    live: &'a str,
    columns: &'a [Column],
    identity: Vec<&'static str>,
    required: Vec<String>,
    live_days_from: &'a str,
}

#[derive(Serialize)]
struct Counted<'a> {
    schema: &'a str,
    name: &'a str,
    live: &'a str,
    replayed: &'a str,
    columns: &'a [Column],
    live_days_from: &'a str,
}

pub(super) fn render(p: &mut Pipeline) -> anyhow::Result<()> {
    let fields = event_fields(p.spec);
    let columns: Vec<Column> = fields
        .iter()
        .map(|f| Column {
            name: f.name.clone(),
            sql_type: f.risingwave_type(),
        })
        .collect();
    let required: Vec<String> = fields.iter().filter(|f| f.required).map(|f| f.name.clone()).collect();
    let table = replay_table(p, &columns)?;
    let replayed = replayed_view(p, &table, &columns, required)?;
    counted_view(p, &replayed, &columns)
}

/// The table reading the replay stream through its own durable consumer.
fn replay_table(p: &mut Pipeline, columns: &[Column]) -> anyhow::Result<String> {
    let spec = p.spec;
    let replay = spec.stream(StreamRole::Replay);
    let table = object_name(&[&p.names.table, "replay"]);
    let mut options = p.nats_connection(&replay.subjects.join(","))?;
    options.push(option("stream", replay.name.as_str())?);
    let durable = format!("{}_replay", spec.risingwave.ingestion.durable_consumer.as_str());
    options.push(option("consumer.durable_name", &durable)?);
    options.extend(options::nats_table_consumer(&Default::default())?);
    options.push(options::table_retention(p.names.live_horizon)?);
    let ddl = p.render(
        "replay_table",
        ReplayTable {
            schema: p.schema,
            table: &table,
            columns,
            options,
            subjects: replay.subjects.join(", "),
            session: options::nats_table_session(),
        },
    )?;
    let depends = [vec![p.schema.to_string()], p.nats_credentials()].concat();
    let consumer = NatsConsumer {
        stream: replay.name.to_string(),
        durable,
    };
    p.push_nats_table(table.clone(), depends, ddl, consumer);
    Ok(table)
}

/// Replayed events the live path has not counted, each identity once.
fn replayed_view(p: &mut Pipeline, table: &str, columns: &[Column], required: Vec<String>) -> anyhow::Result<String> {
    let replayed = object_name(&["replayed", &p.names.table]);
    let live = p.names.live.clone();
    let ddl = p.render(
        "replayed_telemetry",
        Replayed {
            schema: p.schema,
            name: &replayed,
            table,
            live: &live,
            columns,
            identity: identity_columns(p.spec),
            required,
            live_days_from: &p.names.live_days_from,
        },
    )?;
    p.push(
        RwKind::MaterializedView,
        replayed.clone(),
        vec![table.to_string(), live],
        ddl,
        StateBound::Bounded(
            "the identities of the whole UTC days the telemetry stream retains, on both sides of the anti-join: a temporal filter on ts expires a day at a time",
        ),
    );
    Ok(replayed)
}

/// Live events plus the replayed ones: what the aggregates count.
fn counted_view(p: &mut Pipeline, replayed: &str, columns: &[Column]) -> anyhow::Result<()> {
    let (counted, live) = (p.names.counted.clone(), p.names.live.clone());
    let ddl = p.render(
        "counted_telemetry",
        Counted {
            schema: p.schema,
            name: &counted,
            live: &live,
            replayed,
            columns,
            live_days_from: &p.names.live_days_from,
        },
    )?;
    p.push(
        RwKind::MaterializedView,
        counted,
        vec![live, replayed.to_string()],
        ddl,
        StateBound::Bounded(
            "the events of the whole UTC days the telemetry stream retains: a temporal filter on ts expires a day at a time",
        ),
    );
    Ok(())
}
