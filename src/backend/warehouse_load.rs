//! Bulk loading telemetry into the warehouse's raw table, upserting on the event identity so
//! loading the same events twice changes nothing. PostgreSQL: COPY into a staging table, then
//! upsert in one transaction (unchanged rows are not even rewritten). The embedded DuckDB:
//! CSV batches upserted by the DuckDB helper.

use anyhow::Context;
use bytes::Bytes;
use futures::SinkExt;
use serde_json::Value;
use tokio_postgres::Client;

use super::duckdb::{DuckDb, DuckDbLoader};
use crate::render::contract_fields::{EventField, event_fields, identity_columns};
use crate::render::quoting::ident;
use crate::spec::Spec;
use crate::spec::model::FieldType;

/// A batch handed to the PostgreSQL writer task, and where its outcome goes.
type WriteJob = (String, tokio::sync::oneshot::Sender<anyhow::Result<u64>>);

enum LoadSink {
    /// A writer task owns the connection, so the next batch fills while this one is written.
    Postgres {
        jobs: tokio::sync::mpsc::Sender<WriteJob>,
        writer: tokio::task::JoinHandle<()>,
    },
    Duckdb(DuckDbLoader),
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

async fn write_batch(client: &mut Client, copy: &str, upsert: &str, batch: String) -> anyhow::Result<u64> {
    let transaction = client.transaction().await?;
    transaction.batch_execute("TRUNCATE iotctl_staging").await?;
    let sink = transaction
        .copy_in::<_, Bytes>(copy)
        .await
        .context("cannot start COPY into the warehouse")?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from(batch))
        .await
        .context("COPY into the warehouse failed")?;
    sink.finish().await.context("COPY into the warehouse failed")?;
    let changed = transaction
        .execute(upsert, &[])
        .await
        .context("upsert into the warehouse failed")?;
    transaction.commit().await.context("cannot commit the warehouse load")?;
    Ok(changed)
}

pub struct WarehouseLoader {
    sink: LoadSink,
    in_flight: Option<InFlightBatch>,
    fields: Vec<EventField>,
    /// COPY text (PostgreSQL) or CSV (DuckDB) of the pending batch.
    batch: String,
    pub rows: usize,
}

/// One value as CSV for DuckDB: strings always quoted, NULL as an empty field (the contract
/// never allows an empty string, so the two cannot be confused).
fn csv_text(value: Option<&Value>, out: &mut String) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        }
        Some(other) => out.push_str(&other.to_string()),
    }
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

fn q(name: &str) -> String {
    ident(name).unwrap_or_else(|_| format!("\"{name}\""))
}

/// One value in COPY text format: `\N` for NULL, backslash escapes for the rest.
fn copy_text(value: Option<&Value>, field_type: FieldType, out: &mut String) {
    let text = match value {
        None | Some(Value::Null) => {
            out.push_str("\\N");
            return;
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => match field_type {
            // Integers arrive as JSON numbers; keep their exact text.
            FieldType::Integer | FieldType::Float => n.to_string(),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    };
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
        let copy = format!("COPY iotctl_staging ({list}) FROM STDIN");
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
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<WriteJob>(1);
        let writer = tokio::spawn(async move {
            let mut client = client;
            while let Some((batch, reply)) = queue.recv().await {
                let _ = reply.send(write_batch(&mut client, &copy, &upsert, batch).await);
            }
        });
        Ok(WarehouseLoader {
            sink: LoadSink::Postgres { jobs, writer },
            in_flight: None,
            fields,
            batch: String::with_capacity(1 << 20),
            rows: 0,
        })
    }

    /// A loader into the embedded DuckDB warehouse; creates the table from the rendered DDL.
    pub async fn connect_duckdb(duckdb: &DuckDb, spec: &Spec) -> anyhow::Result<WarehouseLoader> {
        let templates = crate::render::templates::Templates::embedded();
        let ddl = crate::render::render_warehouse_ddl(spec, &templates)?;
        let table = format!(
            "{}.{}",
            q(spec.warehouse.schema.as_str()),
            q(spec.warehouse.raw_table.as_str())
        );
        let keys: Vec<String> = identity_columns(spec).iter().map(|c| q(c)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let loader = duckdb.loader(&ddl, &table, &keys).await?;
        Ok(WarehouseLoader {
            sink: LoadSink::Duckdb(loader),
            in_flight: None,
            fields: event_fields(spec),
            batch: String::with_capacity(1 << 20),
            rows: 0,
        })
    }

    /// Ends the load; DuckDB's file is released for SQLMesh.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.sink {
            LoadSink::Postgres { jobs, writer } => {
                drop(jobs);
                writer.await.context("the warehouse writer failed")?;
                Ok(())
            }
            LoadSink::Duckdb(loader) => loader.close().await,
        }
    }

    /// Adds one validated event to the pending batch.
    pub fn push(&mut self, event: &Value) {
        let duckdb = matches!(self.sink, LoadSink::Duckdb(_));
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                self.batch.push(if duckdb { ',' } else { '\t' });
            }
            if duckdb {
                csv_text(event.get(&field.name), &mut self.batch);
            } else {
                copy_text(event.get(&field.name), field.field_type, &mut self.batch);
            }
        }
        self.batch.push('\n');
        self.rows += 1;
    }

    /// Hands the pending batch (covering the source up to `upto`) to the writer and returns
    /// the batch before it once that one is committed: PostgreSQL writes one batch while the
    /// next one fills. DuckDB writes at once. `None` when nothing was committed.
    pub async fn submit(&mut self, upto: u64) -> anyhow::Result<Option<Committed>> {
        let committed = self.settle().await?;
        if self.rows == 0 {
            return Ok(committed);
        }
        let batch = std::mem::take(&mut self.batch);
        let rows = self.rows as u64;
        self.rows = 0;
        match &mut self.sink {
            LoadSink::Duckdb(loader) => {
                loader.load_csv(&batch).await?;
                Ok(Some(merge(committed, Committed { rows, upto })))
            }
            LoadSink::Postgres { jobs, .. } => {
                let (reply, outcome) = tokio::sync::oneshot::channel();
                jobs.send((batch, reply))
                    .await
                    .map_err(|_| anyhow::anyhow!("the warehouse writer stopped"))?;
                self.in_flight = Some(InFlightBatch { outcome, rows, upto });
                Ok(committed)
            }
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
        let first = self.submit(upto).await?;
        let second = self.settle().await?;
        Ok(match (first, second) {
            (Some(a), Some(b)) => Some(merge(Some(a), b)),
            (a, b) => a.or(b),
        })
    }
}
