//! The PostgreSQL warehouse: observe the raw-telemetry table, run its DDL. No decisions.

use anyhow::{Context, bail};
use tokio_postgres::Client;

use crate::plan::Change;
use crate::plan::warehouse::{ObservedColumn, ObservedTable};

pub struct Warehouse {
    client: Client,
}

impl Warehouse {
    pub async fn connect(url: &str) -> anyhow::Result<Warehouse> {
        Ok(Warehouse {
            client: super::postgres::connect(url, "the warehouse").await?,
        })
    }

    pub async fn observe(&self, schema: &str, table: &str) -> anyhow::Result<Option<ObservedTable>> {
        let rows = self
            .client
            .query(
                "SELECT column_name, data_type, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .await
            .context("cannot read the warehouse catalog")?;
        if rows.is_empty() {
            return Ok(None);
        }
        let columns = rows
            .iter()
            .map(|r| ObservedColumn {
                name: r.get(0),
                data_type: r.get(1),
                not_null: r.get(2),
            })
            .collect();
        let key_rows = self
            .client
            .query(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND i.indisprimary \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&schema, &table],
            )
            .await
            .context("cannot read the warehouse primary key")?;
        let rows_estimate: i64 = self
            .client
            .query_one("SELECT COALESCE(reltuples, 0)::bigint FROM pg_class WHERE oid = (quote_ident($1) || '.' || quote_ident($2))::regclass", &[&schema, &table])
            .await
            .map(|r| r.get::<_, i64>(0).max(0))
            .unwrap_or(0);
        Ok(Some(ObservedTable {
            columns,
            primary_key: key_rows.iter().map(|r| r.get(0)).collect(),
            rows: rows_estimate,
        }))
    }

    /// Runs the change's statements in one transaction: all or nothing.
    pub async fn execute(&mut self, change: &Change) -> anyhow::Result<()> {
        let Change::ApplyWarehouseDdl { table, statements, .. } = change else {
            bail!("not a warehouse change: {change:?}")
        };
        let transaction = self.client.transaction().await?;
        for statement in statements {
            transaction
                .batch_execute(statement)
                .await
                .with_context(|| format!("failed to change warehouse table `{table}`"))?;
        }
        transaction
            .commit()
            .await
            .with_context(|| format!("failed to commit changes to `{table}`"))?;
        Ok(())
    }
}
