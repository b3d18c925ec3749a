//! Reading the reconcile legs: the telemetry stream (raw), the SQLMesh daily model in the
//! warehouse (batch: PostgreSQL or the embedded DuckDB), RisingWave's daily aggregate (stream).

use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use async_nats::jetstream::consumer;
use time::OffsetDateTime;

use crate::backend::duckdb::DuckDb;
use crate::backend::nats::Nats;
use crate::backend::nats::ordered_read::{self, OrderedRead};
use crate::backend::nats::source_read::ReadRetries;
use crate::reconcile::LegGroups;
use crate::reconcile::queries::{DayColumn, batch_sql, parse_rows, stream_sql};
use crate::reconcile::raw::RawAggregator;
use crate::spec::Spec;
use crate::spec::streams::StreamRole;
use crate::time::Day;

/// Where the batch models live.
pub enum BatchSource {
    Postgres(String),
    Duckdb(DuckDb),
}

impl BatchSource {
    pub fn describe(&self) -> String {
        match self {
            BatchSource::Postgres(url) => format!("PostgreSQL {}", crate::error::redact_url(url)),
            BatchSource::Duckdb(duckdb) => format!("DuckDB {}", duckdb.database.display()),
        }
    }
}

/// Progress of the raw read: (messages read, messages to read).
pub type RawProgress<'a> = &'a mut dyn FnMut(u64, u64);

/// Messages handed from the reading task to the aggregating thread at a time.
const BATCH: usize = 1_024;

/// Streams the telemetry stream (up to its last message at start) through `aggregator` and
/// returns it. Reading and aggregating run on separate threads: decoding JSON is the heavier
/// half. `published_since` skips messages the server received before it.
pub async fn read_raw(
    nats: &Nats,
    spec: &Spec,
    subject_filter: &str,
    published_since: Option<OffsetDateTime>,
    mut aggregator: RawAggregator,
    progress: RawProgress<'_>,
) -> anyhow::Result<RawAggregator> {
    let name = spec.stream(StreamRole::Telemetry).name.to_string();
    let mut stream = nats
        .js
        .get_stream(&name)
        .await
        .with_context(|| format!("no telemetry stream `{name}` (run `iotctl apply` first)"))?;
    let state = stream
        .info()
        .await
        .context("cannot read the telemetry stream's state")?
        .state
        .clone();
    if state.messages == 0 {
        progress(0, 0);
        return Ok(aggregator);
    }
    let end = state.last_sequence;
    let deliver_policy = match published_since {
        Some(start_time) => consumer::DeliverPolicy::ByStartTime { start_time },
        None => consumer::DeliverPolicy::All,
    };
    let (total, _) = crate::backend::nats::source_read::count_from(&stream, subject_filter, deliver_policy).await?;
    if total == 0 {
        progress(0, 0);
        return Ok(aggregator);
    }
    let read_order = OrderedRead::start(
        nats.client.clone(),
        stream,
        subject_filter,
        deliver_policy,
        ordered_read::IDLE_HEARTBEAT,
    )
    .await
    .context("cannot start reading the telemetry stream")?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(16);
    let worker = tokio::task::spawn_blocking(move || {
        while let Some(batch) = receiver.blocking_recv() {
            for (subject, payload, published_ms) in batch {
                aggregator.push(&subject, &payload, published_ms);
            }
        }
        aggregator
    });
    let read = pump(read_order, &sender, (end, total), progress).await?;
    drop(sender);
    let aggregator = worker.await.context("the aggregating thread failed")?;
    progress(read, total);
    Ok(aggregator)
}

/// Messages handed to the aggregating thread at a time: subject, payload, published (ms).
type Batch = Vec<(async_nats::Subject, bytes::Bytes, i64)>;

/// Reads up to sequence `end` (at most `total` messages) in batches to `sender`; returns how
/// many were read.
async fn pump(
    mut read_order: OrderedRead,
    sender: &tokio::sync::mpsc::Sender<Batch>,
    (end, total): (u64, u64),
    progress: RawProgress<'_>,
) -> anyhow::Result<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_report = Instant::now();
    let mut retries = ReadRetries::new(StdDuration::from_secs(60));
    let mut read = 0u64;
    loop {
        let delivery = match read_order.next().await {
            Ok(delivery) => delivery,
            Err(e) => {
                retries.failed(e).await?;
                continue;
            }
        };
        retries.succeeded();
        let (sequence, pending) = (delivery.stream_sequence, delivery.pending);
        if sequence > end {
            break;
        }
        batch.push((
            delivery.subject,
            delivery.payload,
            (delivery.published_nanos / 1_000_000) as i64,
        ));
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            sender.send(full).await.context("the aggregating thread stopped")?;
            if last_report.elapsed() >= StdDuration::from_millis(200) {
                progress(read, total);
                last_report = Instant::now();
            }
        }
        read += 1;
        if sequence >= end || pending == 0 || read >= total {
            break;
        }
    }
    read_order.finish().await;
    if !batch.is_empty() {
        sender.send(batch).await.context("the aggregating thread stopped")?;
    }
    Ok(read)
}

/// Rows of the SQLMesh daily device model for the days.
pub async fn read_batch(
    source: &BatchSource,
    spec: &Spec,
    days: (Day, Day),
    sites: Option<&[String]>,
) -> anyhow::Result<LegGroups> {
    let sql = batch_sql(spec, days.0, days.1, sites);
    let rows = match source {
        BatchSource::Postgres(url) => {
            let client = crate::backend::postgres::connect(url, "the warehouse").await?;
            query_text(&client, &sql).await.context(
                "cannot read the SQLMesh daily model from the warehouse (has `iotctl apply` run SQLMesh there?)",
            )?
        }
        BatchSource::Duckdb(duckdb) => duckdb
            .query(&sql)
            .await
            .context("cannot read the SQLMesh daily model from DuckDB (has `iotctl apply` run SQLMesh there?)")?,
    };
    parse_rows(&rows, DayColumn::Date)
}

/// Rows of RisingWave's daily device aggregate for the days.
pub async fn read_stream(
    url: &str,
    spec: &Spec,
    days: (Day, Day),
    sites: Option<&[String]>,
) -> anyhow::Result<LegGroups> {
    let client = crate::backend::postgres::connect(url, "RisingWave").await?;
    let sql = stream_sql(spec, days.0, days.1, sites);
    let rows = query_text(&client, &sql)
        .await
        .context("cannot read RisingWave's daily aggregate (has `iotctl apply` created it?)")?;
    parse_rows(&rows, DayColumn::EpochSeconds)
}

/// Runs a query whose columns are all text; simple protocol, so RisingWave answers it too.
async fn query_text(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let messages = client.simple_query(sql).await?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}
