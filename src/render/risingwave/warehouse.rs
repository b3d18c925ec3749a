//! The PostgreSQL sinks into the warehouse: valid raw events, upserted on the event identity,
//! and the daily statistics, upserted on their grain.

use serde::Serialize;

use super::options::{SqlOption, option, secret_option};
use super::{Pipeline, RwKind, StateBound, object_name};

/// Sink decoupling (the default for the postgres sink) buffers rows in a log store until the
/// warehouse has them; a warehouse that is down makes it grow.
const WAREHOUSE_SINK_STATE: StateBound = StateBound::Bounded(
    "the log store holds rows until the warehouse has taken them: bounded by how long the warehouse is away",
);
use crate::render::{STREAM_DAILY_TABLE, STREAM_DAILY_VIEW};
use crate::spec::event::{event_fields, identity_columns};

#[derive(Serialize)]
struct WarehouseSink<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    /// The columns the sink writes: the raw table's, so the sink's schema matches it.
    columns: Vec<String>,
    options: Vec<SqlOption>,
    target: String,
    primary_key: &'a str,
}

#[derive(Serialize)]
struct DailySink<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    options: Vec<SqlOption>,
    target: String,
}

/// The options of a PostgreSQL upsert sink into `table` keyed on `primary_key`.
fn postgres_options(p: &Pipeline, table: &str, primary_key: &str) -> anyhow::Result<Vec<SqlOption>> {
    let wh = &p.spec.warehouse;
    let mut options = vec![
        option("connector", "postgres")?,
        option("host", &wh.host)?,
        option("port", &wh.port.to_string())?,
        option("user", &wh.user)?,
        secret_option("password", &p.names.warehouse_secret)?,
        option("database", &wh.database)?,
        option("schema", wh.schema.as_str())?,
        option("table", table)?,
        option("type", "upsert")?,
        option("primary_key", primary_key)?,
        // The views these sinks read expire old rows (temporal filters): the warehouse keeps
        // them. RisingWave drops the sink input's deletes (src/stream/src/executor/sink.rs,
        // force_append_only) and upserts the rest.
        option("ignore_delete", "true")?,
    ];
    if let Some(mode) = wh.ssl_mode {
        options.push(option("ssl_mode", mode.as_str())?);
    }
    if let Some(rows) = p.spec.risingwave.warehouse_sink.max_batch_rows {
        options.push(option("max_batch_rows", &rows.to_string())?);
    }
    Ok(options)
}

pub(super) fn render(p: &mut Pipeline) -> anyhow::Result<()> {
    let spec = p.spec;
    let wh = &spec.warehouse;
    let primary_key = identity_columns(spec).join(",");
    let (valid, secret) = (p.names.valid.clone(), p.names.warehouse_secret.clone());
    let name = object_name(&[wh.raw_table.as_str(), "to_warehouse"]);
    let sink = WarehouseSink {
        schema: p.schema,
        name: &name,
        source: &valid,
        columns: event_fields(spec).into_iter().map(|f| f.name).collect(),
        options: postgres_options(p, wh.raw_table.as_str(), &primary_key)?,
        target: format!("{}.{}", wh.schema, wh.raw_table),
        primary_key: &primary_key,
    };
    let ddl = p.render("warehouse_sink", sink)?;
    p.push(
        RwKind::Sink,
        name,
        vec![valid, secret.clone()],
        ddl,
        WAREHOUSE_SINK_STATE,
    );

    let daily = p.names.daily.clone();
    let name = object_name(&[STREAM_DAILY_VIEW, "to_warehouse"]);
    let sink = DailySink {
        schema: p.schema,
        name: &name,
        source: &daily,
        options: postgres_options(p, STREAM_DAILY_TABLE, "window_start,site,device_type,device_id,metric")?,
        target: format!("{}.{}", wh.schema, STREAM_DAILY_TABLE),
    };
    let ddl = p.render("stream_daily_sink", sink)?;
    p.push(RwKind::Sink, name, vec![daily, secret], ddl, WAREHOUSE_SINK_STATE);
    Ok(())
}
