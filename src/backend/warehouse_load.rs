//! Bulk loading telemetry into the warehouse's raw table, upserting on the event identity so
//! loading the same events twice changes nothing. PostgreSQL: COPY straight into the table
//! while the batch is new to it, otherwise COPY into a staging table and upsert in one
//! transaction (unchanged rows are not even rewritten). The embedded DuckDB: the same two
//! paths over CSV batches, through the DuckDB helper. Either way a writer task commits one
//! batch while the next one fills.

use anyhow::Context;
use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::Client;

use super::duckdb::{DuckDb, DuckDbLoader};
use crate::contract::flat::{EventFields, Scalar};
use crate::quoting::sql::ident_of as q;
use crate::spec::Spec;
use crate::spec::event::{EventField, event_fields, identity_columns};
use crate::spec::model::FieldType;
use crate::time::warehouse_timestamp;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// A batch handed to the writer task, and where its outcome goes.
type WriteJob = (String, tokio::sync::oneshot::Sender<anyhow::Result<u64>>);

/// What the writer task owns: one connection to the warehouse.
enum Writer {
    Postgres(PostgresWriter),
    Duckdb(DuckDbWriter),
}

impl Writer {
    async fn write(&mut self, batch: String) -> anyhow::Result<u64> {
        match self {
            Writer::Postgres(writer) => writer.write(Bytes::from(batch)).await,
            Writer::Duckdb(writer) => writer.write(batch).await,
        }
    }

    /// Ends the connection; DuckDB's helper reports its peak RSS.
    async fn close(self) -> anyhow::Result<Option<u64>> {
        match self {
            Writer::Postgres(_) => Ok(None),
            Writer::Duckdb(writer) => writer.loader.close().await,
        }
    }
}

/// How a batch is written out, and when it is worth sending.
struct BatchShape {
    /// PostgreSQL's COPY text, or CSV for DuckDB.
    csv: bool,
    /// Rows that make a full batch.
    rows: usize,
    /// How long a partial batch may wait for more rows.
    max_wait: Duration,
}

impl BatchShape {
    /// Room for a full batch of ~150-byte rows, so the buffer is not regrown as it fills.
    fn capacity(&self) -> usize {
        self.rows * 160
    }

    const POSTGRES: BatchShape = BatchShape {
        csv: false,
        rows: 20_000,
        max_wait: Duration::from_millis(500),
    };
    /// One DuckDB row group: a batch this large is written straight into the database file
    /// instead of through its write-ahead log, about twice as fast as 20k-row batches.
    const DUCKDB: BatchShape = BatchShape {
        csv: true,
        rows: 122_880,
        max_wait: Duration::from_secs(2),
    };
}

/// The load's outcome beyond the rows: what the DuckDB helper process cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStats {
    pub helper_peak_rss_kib: Option<u64>,
}

/// A submitted batch: the rows it holds and the source position it covers.
struct InFlightBatch {
    outcome: tokio::sync::oneshot::Receiver<anyhow::Result<u64>>,
    rows: u64,
    upto: u64,
}

/// A batch made durable: its rows and the source position it covers.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub rows: u64,
    pub upto: u64,
}

/// The PostgreSQL side of a load. A batch of events the table does not hold yet (the usual
/// backfill) is copied straight into it, which costs PostgreSQL about half of the staged
/// upsert. The primary key refuses a batch that overlaps the table; that batch is upserted
/// through the staging table instead, and the direct path rests for a while, longer each time
/// it is refused, so a range the table already holds costs one refused COPY now and then.
struct PostgresWriter {
    client: Client,
    direct_copy: String,
    staging_copy: String,
    upsert: String,
    direct: DirectSchedule,
}

/// Longest rest of the direct path, in batches.
const MAX_REST: u32 = 64;

/// When a batch tries the direct COPY: always, until the table refuses one; then again after
/// resting 1, 2, 4 … `MAX_REST` upserted batches, back to every batch once one goes through.
#[derive(Debug)]
struct DirectSchedule {
    /// Batches to upsert before trying a direct COPY again, and the next rest.
    rest: u32,
    next_rest: u32,
}

impl DirectSchedule {
    fn new() -> DirectSchedule {
        DirectSchedule { rest: 0, next_rest: 1 }
    }

    /// Whether this batch tries the direct path; a batch that does not counts toward the rest.
    fn try_direct(&mut self) -> bool {
        if self.rest == 0 {
            return true;
        }
        self.rest -= 1;
        false
    }

    fn accepted(&mut self) {
        self.next_rest = 1;
    }

    fn refused(&mut self) {
        self.rest = self.next_rest;
        self.next_rest = (self.next_rest * 2).min(MAX_REST);
    }
}

impl PostgresWriter {
    async fn write(&mut self, batch: Bytes) -> anyhow::Result<u64> {
        if self.direct.try_direct() {
            match self.copy_direct(batch.clone()).await {
                Ok(rows) => {
                    self.direct.accepted();
                    return Ok(rows);
                }
                Err(e) if is_unique_violation(&e) => self.direct.refused(),
                Err(e) => return Err(anyhow::Error::new(e).context("COPY into the warehouse failed")),
            }
        }
        self.upsert(batch).await
    }

    /// COPY into the table itself, in one transaction: all of the batch or none of it.
    async fn copy_direct(&mut self, batch: Bytes) -> Result<u64, tokio_postgres::Error> {
        let transaction = self.client.transaction().await?;
        let sink = transaction.copy_in::<_, Bytes>(&self.direct_copy).await?;
        futures::pin_mut!(sink);
        sink.send(batch).await?;
        let rows = sink.finish().await?;
        transaction.commit().await?;
        Ok(rows)
    }

    async fn upsert(&mut self, batch: Bytes) -> anyhow::Result<u64> {
        let transaction = self.client.transaction().await?;
        transaction.batch_execute("TRUNCATE iotctl_staging").await?;
        let sink = transaction
            .copy_in::<_, Bytes>(&self.staging_copy)
            .await
            .context("cannot start COPY into the warehouse")?;
        futures::pin_mut!(sink);
        sink.send(batch).await.context("COPY into the warehouse failed")?;
        sink.finish().await.context("COPY into the warehouse failed")?;
        let changed = transaction
            .execute(&self.upsert, &[])
            .await
            .context("upsert into the warehouse failed")?;
        transaction.commit().await.context("cannot commit the warehouse load")?;
        Ok(changed)
    }
}

/// The DuckDB side of a load, with the same direct path and rests as PostgreSQL's.
struct DuckDbWriter {
    loader: DuckDbLoader,
    direct: DirectSchedule,
}

impl DuckDbWriter {
    async fn write(&mut self, batch: String) -> anyhow::Result<u64> {
        let staged = self.loader.stage(batch).await?;
        if self.direct.try_direct() {
            match self.loader.insert(&staged).await? {
                Some(rows) => {
                    self.direct.accepted();
                    return Ok(rows);
                }
                None => self.direct.refused(),
            }
        }
        self.loader.upsert(&staged).await
    }
}

fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

pub struct WarehouseLoader {
    jobs: tokio::sync::mpsc::Sender<WriteJob>,
    writer: tokio::task::JoinHandle<anyhow::Result<Option<u64>>>,
    in_flight: Option<InFlightBatch>,
    fields: Vec<EventField>,
    shape: BatchShape,
    /// COPY text (PostgreSQL) or CSV (DuckDB) of the pending batch.
    batch: String,
    rows: usize,
    last_submit: Instant,
}

/// Starts the task that writes batches one after another, each committed before the next.
fn spawn_writer(
    mut writer: Writer,
) -> (
    tokio::sync::mpsc::Sender<WriteJob>,
    tokio::task::JoinHandle<anyhow::Result<Option<u64>>>,
) {
    let (jobs, mut queue) = tokio::sync::mpsc::channel::<WriteJob>(1);
    let task = tokio::spawn(async move {
        while let Some((batch, reply)) = queue.recv().await {
            let _ = reply.send(writer.write(batch).await);
        }
        writer.close().await
    });
    (jobs, task)
}

/// One value as CSV for DuckDB: strings always quoted, NULL as an empty field (the contract
/// never allows an empty string, so the two cannot be confused).
fn csv_text(value: Option<Scalar<'_>>, out: &mut String) {
    match value {
        None | Some(Scalar::Null) => {}
        Some(Scalar::Str(s)) => crate::quoting::csv::push_quoted(out, &s),
        Some(other) => scalar_text(&other, out),
    }
}

/// A non-string scalar as SQL literal text. Floats print their shortest round-trip form.
fn scalar_text(value: &Scalar<'_>, out: &mut String) {
    use std::fmt::Write;
    let _ = match value {
        Scalar::Int(i) => write!(out, "{i}"),
        Scalar::UInt(u) => write!(out, "{u}"),
        Scalar::Float(f) => write!(out, "{f}"),
        Scalar::Bool(b) => write!(out, "{b}"),
        // The contract admits neither for a warehouse column; keep the row loadable anyway.
        Scalar::Null | Scalar::Nested | Scalar::Str(_) => Ok(()),
    };
}

fn merge(earlier: Option<Committed>, later: Committed) -> Committed {
    match earlier {
        Some(e) => Committed {
            rows: e.rows + later.rows,
            upto: e.upto.max(later.upto),
        },
        None => later,
    }
}

/// One value in COPY text format: `\\N` for NULL, backslash escapes for the rest.
fn copy_text(value: Option<Scalar<'_>>, out: &mut String) {
    match value {
        None | Some(Scalar::Null) => out.push_str("\\N"),
        Some(Scalar::Str(text)) => {
            if !text.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
                out.push_str(&text);
                return;
            }
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        Some(other) => scalar_text(&other, out),
    }
}

impl WarehouseLoader {
    pub async fn connect(url: &str, spec: &Spec) -> anyhow::Result<WarehouseLoader> {
        let client = super::postgres::connect(url, "the warehouse").await?;
        let fields = event_fields(spec);
        let table = format!(
            "{}.{}",
            q(spec.warehouse.schema.as_str()),
            q(spec.warehouse.raw_table.as_str())
        );
        let columns: Vec<String> = fields.iter().map(|f| q(&f.name)).collect();
        let keys: Vec<String> = identity_columns(spec).iter().map(|c| q(c)).collect();
        let others: Vec<&String> = columns.iter().filter(|c| !keys.contains(c)).collect();
        let list = columns.join(", ");
        let staging_copy = format!("COPY iotctl_staging ({list}) FROM STDIN");
        let direct_copy = format!("COPY {table} ({list}) FROM STDIN");
        let upsert = format!(
            "INSERT INTO {table} ({list}) SELECT DISTINCT ON ({keys}) {list} FROM iotctl_staging ON CONFLICT ({keys}) DO UPDATE SET {set} WHERE ({old}) IS DISTINCT FROM ({new})",
            keys = keys.join(", "),
            set = others
                .iter()
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            old = others
                .iter()
                .map(|c| format!("{table}.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            new = others
                .iter()
                .map(|c| format!("EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        client
            .batch_execute(&format!(
                "CREATE TEMP TABLE iotctl_staging (LIKE {table} INCLUDING DEFAULTS)"
            ))
            .await
            .with_context(|| format!("cannot stage rows for {table} (run `iotctl apply` to create it)"))?;
        let (jobs, writer) = spawn_writer(Writer::Postgres(PostgresWriter {
            client,
            direct_copy,
            staging_copy,
            upsert,
            direct: DirectSchedule::new(),
        }));
        Ok(WarehouseLoader::new(jobs, writer, fields, BatchShape::POSTGRES))
    }

    fn new(
        jobs: tokio::sync::mpsc::Sender<WriteJob>,
        writer: tokio::task::JoinHandle<anyhow::Result<Option<u64>>>,
        fields: Vec<EventField>,
        shape: BatchShape,
    ) -> WarehouseLoader {
        let capacity = shape.capacity();
        WarehouseLoader {
            jobs,
            writer,
            in_flight: None,
            fields,
            shape,
            batch: String::with_capacity(capacity),
            rows: 0,
            last_submit: Instant::now(),
        }
    }

    /// A loader into the embedded DuckDB warehouse; creates the table from the rendered DDL.
    pub async fn connect_duckdb(duckdb: &DuckDb, spec: &Spec) -> anyhow::Result<WarehouseLoader> {
        let templates = crate::render::templates::Templates::embedded();
        let ddl = crate::render::render_duckdb_warehouse_ddl(spec, &templates)?;
        let table = format!(
            "{}.{}",
            q(spec.warehouse.schema.as_str()),
            q(spec.warehouse.raw_table.as_str())
        );
        let loader = duckdb.loader(&ddl, &table, &identity_columns(spec)).await?;
        let (jobs, writer) = spawn_writer(Writer::Duckdb(DuckDbWriter {
            loader,
            direct: DirectSchedule::new(),
        }));
        Ok(WarehouseLoader::new(
            jobs,
            writer,
            event_fields(spec),
            BatchShape::DUCKDB,
        ))
    }

    /// Ends the load once every batch is written; DuckDB's file is released for SQLMesh.
    pub async fn close(self) -> anyhow::Result<LoadStats> {
        drop(self.jobs);
        let helper_peak_rss_kib = self.writer.await.context("the warehouse writer failed")??;
        Ok(LoadStats { helper_peak_rss_kib })
    }

    /// Adds one validated event to the pending batch.
    pub fn push(&mut self, event: &impl EventFields) {
        let csv = self.shape.csv;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                self.batch.push(if csv { ',' } else { '\t' });
            }
            let mut value = event.field(&field.name);
            if field.field_type == FieldType::Timestamp
                && let Some(Scalar::Str(text)) = &value
                && let Cow::Owned(cut) = warehouse_timestamp(text)
            {
                value = Some(Scalar::Str(Cow::Owned(cut)));
            }
            if csv {
                csv_text(value, &mut self.batch);
            } else {
                copy_text(value, &mut self.batch);
            }
        }
        self.batch.push('\n');
        self.rows += 1;
    }

    /// Whether the pending batch is worth sending: full, or as old as the target lets a
    /// partial batch wait.
    pub fn batch_ready(&self) -> bool {
        self.rows >= self.shape.rows || (self.rows > 0 && self.last_submit.elapsed() >= self.shape.max_wait)
    }

    /// Hands the pending batch (covering the source up to `upto`) to the writer if it is
    /// ready, and returns the batch before it once that one is committed: one batch is written
    /// while the next one fills. `None` when nothing was committed.
    pub async fn submit(&mut self, upto: u64) -> anyhow::Result<Option<Committed>> {
        if !self.batch_ready() {
            return self.poll_settled();
        }
        self.send(upto).await
    }

    async fn send(&mut self, upto: u64) -> anyhow::Result<Option<Committed>> {
        let committed = self.settle().await?;
        if self.rows == 0 {
            return Ok(committed);
        }
        let batch = std::mem::replace(&mut self.batch, String::with_capacity(self.shape.capacity()));
        let rows = self.rows as u64;
        self.rows = 0;
        self.last_submit = Instant::now();
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.jobs
            .send((batch, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the warehouse writer stopped"))?;
        self.in_flight = Some(InFlightBatch { outcome, rows, upto });
        Ok(committed)
    }

    /// The batch being written, if it has been committed meanwhile; never waits.
    fn poll_settled(&mut self) -> anyhow::Result<Option<Committed>> {
        let Some(batch) = self.in_flight.as_mut() else {
            return Ok(None);
        };
        match batch.outcome.try_recv() {
            Ok(outcome) => {
                outcome?;
                let batch = self.in_flight.take().expect("checked above");
                Ok(Some(Committed {
                    rows: batch.rows,
                    upto: batch.upto,
                }))
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => Ok(None),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => anyhow::bail!("the warehouse writer stopped"),
        }
    }

    /// Waits for the batch being written, if any.
    pub async fn settle(&mut self) -> anyhow::Result<Option<Committed>> {
        let Some(batch) = self.in_flight.take() else {
            return Ok(None);
        };
        batch
            .outcome
            .await
            .map_err(|_| anyhow::anyhow!("the warehouse writer stopped"))??;
        Ok(Some(Committed {
            rows: batch.rows,
            upto: batch.upto,
        }))
    }

    /// Writes everything pending and waits for it: nothing is left in flight.
    pub async fn flush_all(&mut self, upto: u64) -> anyhow::Result<Option<Committed>> {
        let first = self.send(upto).await?;
        let second = self.settle().await?;
        Ok(match (first, second) {
            (Some(a), Some(b)) => Some(merge(Some(a), b)),
            (a, b) => a.or(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{DirectSchedule, MAX_REST};

    /// The batches that try the direct COPY, when the table refuses the batches `refused` says.
    fn direct_attempts(batches: usize, refused: impl Fn(usize) -> bool) -> Vec<usize> {
        let mut schedule = DirectSchedule::new();
        let mut attempts = Vec::new();
        for batch in 0..batches {
            if schedule.try_direct() {
                attempts.push(batch);
                if refused(batch) {
                    schedule.refused();
                } else {
                    schedule.accepted();
                }
            }
        }
        attempts
    }

    #[test]
    fn the_direct_copy_rests_longer_each_refusal_and_returns_once_accepted() {
        // A fresh range: every batch goes straight in.
        assert_eq!(direct_attempts(5, |_| false), vec![0, 1, 2, 3, 4]);
        // A range that overlaps the table for ten batches: rests of 1, 2, 4, then back to every
        // batch once one goes through.
        assert_eq!(direct_attempts(14, |b| b < 10), vec![0, 2, 5, 10, 11, 12, 13]);
        // After a success, the next refusal rests one batch again, not where it left off.
        assert_eq!(direct_attempts(8, |b| b == 0 || b == 5), vec![0, 2, 3, 4, 5, 7]);
        // Refused for good: the rest doubles up to MAX_REST and stays there.
        let attempts = direct_attempts(400, |_| true);
        assert_eq!(&attempts[..7], &[0, 2, 5, 10, 19, 36, 69]);
        let gaps: Vec<usize> = attempts.windows(2).map(|w| w[1] - w[0] - 1).collect();
        assert!(gaps.iter().all(|rest| *rest as u32 <= MAX_REST));
        assert_eq!(*gaps.last().unwrap() as u32, MAX_REST);
    }
}
