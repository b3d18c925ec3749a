//! RisingWave over the PostgreSQL wire protocol: read the catalog and iotctl's ledger, execute
//! object changes. No decisions: the planner in `plan::risingwave` decides.

use anyhow::{Context, bail};
use tokio_postgres::Client;

use crate::plan::alert_latency::BarrierTiming;
use crate::plan::risingwave::{CatalogSnapshot, LEDGER_TABLE};
use crate::plan::{Change, ReplaceStrategy};
use crate::quoting::sql::{ident, literal};
use crate::render::risingwave::RwKind;

pub struct RisingWave {
    client: Client,
    schema: String,
}

fn q(name: &str) -> anyhow::Result<String> {
    ident(name).map_err(anyhow::Error::msg)
}

fn kind_keyword(kind: RwKind) -> &'static str {
    match kind {
        RwKind::Schema => "SCHEMA",
        RwKind::Secret => "SECRET",
        RwKind::Table => "TABLE",
        RwKind::MaterializedView => "MATERIALIZED VIEW",
        RwKind::Sink => "SINK",
    }
}

/// The `WAIT` target of a kind that runs as a streaming job; schemas and secrets do not.
fn wait_keyword(kind: RwKind) -> Option<&'static str> {
    match kind {
        RwKind::Table => Some("TABLE"),
        RwKind::MaterializedView => Some("MATERIALIZED VIEW"),
        RwKind::Sink => Some("SINK"),
        RwKind::Schema | RwKind::Secret => None,
    }
}

impl RisingWave {
    pub async fn connect(url: &str, schema: &str) -> anyhow::Result<RisingWave> {
        Ok(RisingWave {
            client: super::postgres::connect(url, "RisingWave").await?,
            schema: schema.to_string(),
        })
    }

    fn qualified(&self, name: &str) -> anyhow::Result<String> {
        Ok(format!("{}.{}", q(&self.schema)?, q(name)?))
    }

    pub async fn observe(&self) -> anyhow::Result<CatalogSnapshot> {
        let mut snapshot = CatalogSnapshot::default();
        let schemas = self
            .client
            .query("SELECT 1 FROM rw_catalog.rw_schemas WHERE name = $1", &[&self.schema])
            .await
            .context("cannot read rw_catalog.rw_schemas")?;
        snapshot.schema_exists = !schemas.is_empty();
        for row in self
            .client
            .query("SELECT name FROM rw_catalog.rw_secrets", &[])
            .await
            .context("cannot read rw_catalog.rw_secrets")?
        {
            snapshot.secrets.insert(row.get(0));
        }
        if !snapshot.schema_exists {
            return Ok(snapshot);
        }
        let relations = self
            .client
            .query(
                "SELECT r.name, r.relation_type FROM rw_catalog.rw_relations r JOIN rw_catalog.rw_schemas s ON r.schema_id = s.id WHERE s.name = $1",
                &[&self.schema],
            )
            .await
            .context("cannot read rw_catalog.rw_relations")?;
        for row in relations {
            let name: String = row.get(0);
            let kind = match row.get::<_, String>(1).to_lowercase().as_str() {
                "table" => RwKind::Table,
                "materialized view" => RwKind::MaterializedView,
                "sink" => RwKind::Sink,
                _ => continue, // sources, views, indexes: not rendered by iotctl
            };
            if name != LEDGER_TABLE {
                snapshot.relations.insert(name, kind);
            }
        }
        let ledger_exists = self
            .client
            .query("SELECT 1 FROM rw_catalog.rw_tables t JOIN rw_catalog.rw_schemas s ON t.schema_id = s.id WHERE s.name = $1 AND t.name = $2", &[&self.schema, &LEDGER_TABLE])
            .await
            .map(|rows| !rows.is_empty())
            .unwrap_or(false);
        if ledger_exists {
            let query = format!("SELECT name, hash FROM {}", self.qualified(LEDGER_TABLE)?);
            for row in self
                .client
                .query(&query, &[])
                .await
                .context("cannot read iotctl's ledger")?
            {
                snapshot.ledger.insert(row.get(0), row.get(1));
            }
        }
        Ok(snapshot)
    }

    async fn record(&self, name: &str, kind: RwKind, hash: Option<&str>) -> anyhow::Result<()> {
        let ledger = self.qualified(LEDGER_TABLE)?;
        self.client
            .batch_execute(&format!("CREATE TABLE IF NOT EXISTS {ledger} (name VARCHAR PRIMARY KEY, kind VARCHAR, hash VARCHAR, applied_at TIMESTAMPTZ)"))
            .await
            .context("cannot create iotctl's ledger table")?;
        self.client
            .execute(&format!("DELETE FROM {ledger} WHERE name = $1"), &[&name])
            .await?;
        if let Some(hash) = hash {
            self.client
                .execute(
                    &format!("INSERT INTO {ledger} (name, kind, hash, applied_at) VALUES ($1, $2, $3, now())"),
                    &[&name, &kind.as_str(), &hash],
                )
                .await?;
        }
        self.client.batch_execute("FLUSH").await?;
        Ok(())
    }

    /// Runs DDL as a background job, follows that job (and no other pipeline's) in
    /// `rw_ddl_progress`, then waits on the object itself: `WAIT <kind> <name>` blocks on one
    /// job, where a bare `WAIT` waits for every background job of the cluster
    /// (src/frontend/src/handler/wait.rs).
    async fn run_ddl(
        &self,
        kind: RwKind,
        name: &str,
        ddl: &str,
        progress: &(dyn Fn(&str) + Sync),
    ) -> anyhow::Result<()> {
        self.client.batch_execute("SET BACKGROUND_DDL = true").await?;
        let before = self.ddl_jobs().await;
        self.client.batch_execute(ddl).await?;
        // The job this statement started: new since the statement (another pipeline's job
        // started in the same instant would only show its progress, never be waited on).
        let ours: Vec<i64> = self
            .ddl_jobs()
            .await
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        while !ours.is_empty() {
            let Ok(rows) = self
                .client
                .query(
                    "SELECT ddl_statement, progress FROM rw_catalog.rw_ddl_progress WHERE ddl_id = ANY($1)",
                    &[&ours],
                )
                .await
            else {
                break;
            };
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let statement: String = row.try_get(0).unwrap_or_default();
                let done: String = row.try_get(1).unwrap_or_default();
                progress(&format!("{}: {done}", statement.lines().next().unwrap_or_default()));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        if let Some(keyword) = wait_keyword(kind) {
            self.client
                .batch_execute(&format!("WAIT {keyword} {}", self.qualified(name)?))
                .await?;
        }
        Ok(())
    }

    /// Ids of the background jobs the cluster is running now.
    async fn ddl_jobs(&self) -> Vec<i64> {
        self.client
            .query("SELECT ddl_id FROM rw_catalog.rw_ddl_progress", &[])
            .await
            .map(|rows| rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
            .unwrap_or_default()
    }

    /// The barrier timing of the connected database: its own override
    /// (`rw_catalog.rw_databases`, NULL when unset) or the system's (`pg_catalog.pg_settings`).
    pub async fn barrier_timing(&self) -> anyhow::Result<BarrierTiming> {
        let row = self
            .client
            .query_one(
                "SELECT (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'barrier_interval_ms'), \
                 (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'checkpoint_frequency'), \
                 d.barrier_interval_ms, d.checkpoint_frequency \
                 FROM rw_catalog.rw_databases d WHERE d.name = current_database()",
                &[],
            )
            .await
            .context("cannot read the barrier interval and checkpoint frequency")?;
        let system = |i: usize| -> anyhow::Result<u64> {
            let text: Option<String> = row.try_get(i)?;
            text.as_deref()
                .unwrap_or_default()
                .parse()
                .with_context(|| format!("unexpected system parameter value {text:?}"))
        };
        let database_interval: Option<i32> = row.try_get(2)?;
        let database_frequency: Option<i64> = row.try_get(3)?;
        Ok(BarrierTiming {
            barrier_interval_ms: match database_interval {
                Some(ms) => u64::try_from(ms)?,
                None => system(0)?,
            },
            checkpoint_frequency: match database_frequency {
                Some(n) => u64::try_from(n)?,
                None => system(1)?,
            },
        })
    }

    pub async fn execute(&self, change: &Change, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
        match change {
            Change::CreateSecret { name, env } => self.create_secret(name, env).await,
            Change::CreateRelation { kind, name, ddl, hash } => {
                self.run_ddl(*kind, name, ddl, progress)
                    .await
                    .with_context(|| format!("failed to create {} `{name}`", kind.as_str()))?;
                if *kind != RwKind::Schema {
                    self.record(name, *kind, Some(hash)).await?;
                }
                Ok(())
            }
            Change::ReplaceRelation {
                kind,
                name,
                ddl,
                hash,
                strategy,
                ..
            } => {
                self.replace(*kind, name, ddl, *strategy, progress).await?;
                self.record(name, *kind, Some(hash)).await
            }
            Change::DropRelation { kind, name, .. } => {
                let statement = format!(
                    "DROP {} IF EXISTS {} CASCADE",
                    kind_keyword(*kind),
                    self.qualified(name)?
                );
                self.client
                    .batch_execute(&statement)
                    .await
                    .with_context(|| format!("failed to drop `{name}`"))?;
                self.record(name, *kind, None).await
            }
            other => bail!("not a RisingWave change: {other:?}"),
        }
    }

    async fn create_secret(&self, name: &str, env: &str) -> anyhow::Result<()> {
        let value = crate::settings::secret_value(env).with_context(|| format!("cannot create secret `{name}`"))?;
        // The value travels only in this statement; it is never printed or logged.
        let statement = format!(
            "CREATE SECRET {} WITH (backend = 'meta') AS {}",
            q(name)?,
            literal(&value).map_err(anyhow::Error::msg)?
        );
        self.client.batch_execute(&statement).await.map_err(|e| {
            let message = e
                .as_db_error()
                .map_or("server error".to_string(), |d| d.message().to_string());
            anyhow::anyhow!("failed to create secret `{name}`: {message}")
        })
    }

    /// Replaces a relation by the strategy the plan chose for it.
    async fn replace(
        &self,
        kind: RwKind,
        name: &str,
        ddl: &str,
        strategy: ReplaceStrategy,
        progress: &(dyn Fn(&str) + Sync),
    ) -> anyhow::Result<()> {
        let target = self.qualified(name)?;
        match strategy {
            ReplaceStrategy::SwapMaterializedView => {
                let staging = format!("{name}__iotctl_new");
                let staged = self.qualified(&staging)?;
                let ddl = ddl.replacen(&format!("IF NOT EXISTS {target} AS"), &format!("{staged} AS"), 1);
                if !ddl.contains(&staged) {
                    bail!("cannot stage the new definition of `{name}`");
                }
                self.run_ddl(kind, &staging, &ddl, progress)
                    .await
                    .with_context(|| format!("failed to build the new `{name}`"))?;
                self.client
                    .batch_execute(&format!("ALTER MATERIALIZED VIEW {staged} SWAP WITH {target}"))
                    .await
                    .with_context(|| format!("failed to swap `{name}`"))?;
                self.client
                    .batch_execute(&format!("DROP MATERIALIZED VIEW {staged}"))
                    .await
                    .with_context(|| format!("failed to drop the old `{name}`"))
            }
            ReplaceStrategy::ReplaceSink => {
                let ddl = ddl.replacen(
                    &format!("CREATE SINK IF NOT EXISTS {target}"),
                    &format!("REPLACE SINK {target}"),
                    1,
                );
                self.client
                    .batch_execute(&ddl)
                    .await
                    .with_context(|| format!("failed to replace sink `{name}`"))
            }
            ReplaceStrategy::DropAndCreate | ReplaceStrategy::RecreateSink => {
                self.client
                    .batch_execute(&format!("DROP {} IF EXISTS {target} CASCADE", kind_keyword(kind)))
                    .await
                    .with_context(|| format!("failed to drop `{name}`"))?;
                self.run_ddl(kind, name, ddl, progress)
                    .await
                    .with_context(|| format!("failed to recreate `{name}`"))
            }
        }
    }
}
