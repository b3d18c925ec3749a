//! Plans: typed changes that move live state toward the spec, computed by pure differs from
//! desired and observed state. Executors only ever receive a `Plan`.

pub mod alert_latency;
pub mod nats;
pub mod risingwave;
pub mod sqlmesh;
pub mod warehouse;

use serde::Serialize;

use crate::render::risingwave::RwKind;
use crate::spec::streams::StreamConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Nats,
    Warehouse,
    Risingwave,
    Sqlmesh,
}

impl System {
    pub const ALL: [System; 4] = [System::Nats, System::Warehouse, System::Risingwave, System::Sqlmesh];

    pub fn title(self) -> &'static str {
        match self {
            System::Nats => "NATS JetStream",
            System::Warehouse => "Warehouse (PostgreSQL)",
            System::Risingwave => "RisingWave",
            System::Sqlmesh => "SQLMesh",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            System::Nats => "nats",
            System::Warehouse => "warehouse",
            System::Risingwave => "risingwave",
            System::Sqlmesh => "sqlmesh",
        }
    }
}

/// One field that differs between live and desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// One step that moves live state toward the spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    CreateStream {
        name: String,
        config: StreamConfig,
    },
    UpdateStream {
        name: String,
        to: StreamConfig,
        fields: Vec<FieldChange>,
        /// What the update deletes at once (shrunk limits), if anything.
        data_loss: Option<String>,
    },
    /// A change the server refuses to make in place: delete, then create.
    ReplaceStream {
        name: String,
        to: StreamConfig,
        fields: Vec<FieldChange>,
        data_loss: String,
    },
    /// A stream iotctl created that the spec no longer has.
    DeleteStream {
        name: String,
        data_loss: String,
    },
    /// Warehouse DDL to run as one transaction.
    ApplyWarehouseDdl {
        table: String,
        statements: Vec<String>,
        summary: String,
        data_loss: Option<String>,
    },
    CreateSecret {
        name: String,
        env: String,
    },
    CreateRelation {
        kind: RwKind,
        name: String,
        ddl: String,
        hash: String,
    },
    /// A relation whose definition changed; dependents are recreated after it.
    ReplaceRelation {
        kind: RwKind,
        name: String,
        ddl: String,
        hash: String,
        strategy: ReplaceStrategy,
        dependents: Vec<String>,
        data_loss: Option<String>,
    },
    DropRelation {
        kind: RwKind,
        name: String,
        data_loss: Option<String>,
    },
    /// Deletes the durable consumer a table is about to be created with, so the new table
    /// reads everything the stream retains instead of starting where a predecessor stopped.
    /// A RisingWave change in the plan's order, executed through the NATS connection.
    ResetConsumer {
        stream: String,
        consumer: String,
        table: String,
    },
    /// Write the rendered SQLMesh project and run `sqlmesh plan --auto-apply`.
    ApplySqlmesh {
        project_dir: String,
        gateway: String,
        changed_files: Vec<String>,
        /// Whether prod exists (else this is the first plan, or a failed one to retry).
        prod: bool,
    },
    /// `sqlmesh run`: closed days not built yet.
    BuildSqlmeshDays {
        gateway: String,
        days: Vec<crate::time::Day>,
    },
    /// A restatement of built days whose warehouse rows changed after they were built.
    RestateSqlmeshDays {
        gateway: String,
        days: Vec<sqlmesh::StaleDay>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceStrategy {
    /// Create the new MV beside the old, WAIT, SWAP, drop the old: no gap for readers.
    SwapMaterializedView,
    /// `REPLACE SINK … FROM … WITH (…)`: RisingWave forces `snapshot = false`, so the new sink
    /// sends only rows that arrive after it. Only for sinks that never send history (NATS).
    ReplaceSink,
    /// Drop the sink and create it again with the default snapshot: it re-sends every row its
    /// view holds, which an upsert sink absorbs (the warehouse sinks).
    RecreateSink,
    /// Drop and recreate (connector tables: their options cannot be altered).
    DropAndCreate,
}

impl Change {
    pub fn system(&self) -> System {
        match self {
            Change::CreateStream { .. }
            | Change::UpdateStream { .. }
            | Change::ReplaceStream { .. }
            | Change::DeleteStream { .. } => System::Nats,
            Change::ApplyWarehouseDdl { .. } => System::Warehouse,
            Change::CreateSecret { .. }
            | Change::CreateRelation { .. }
            | Change::ReplaceRelation { .. }
            | Change::DropRelation { .. }
            // Part of creating a RisingWave table, in its order; the NATS client runs it.
            | Change::ResetConsumer { .. } => System::Risingwave,
            Change::ApplySqlmesh { .. } | Change::BuildSqlmeshDays { .. } | Change::RestateSqlmeshDays { .. } => {
                System::Sqlmesh
            }
        }
    }

    /// What this change destroys, if anything; such changes need `--allow-destructive`.
    pub fn data_loss(&self) -> Option<&str> {
        match self {
            Change::ReplaceStream { data_loss, .. } | Change::DeleteStream { data_loss, .. } => Some(data_loss),
            Change::UpdateStream { data_loss, .. }
            | Change::ApplyWarehouseDdl { data_loss, .. }
            | Change::ReplaceRelation { data_loss, .. }
            | Change::DropRelation { data_loss, .. } => data_loss.as_deref(),
            Change::CreateStream { .. }
            | Change::CreateSecret { .. }
            | Change::CreateRelation { .. }
            | Change::ResetConsumer { .. }
            | Change::ApplySqlmesh { .. }
            | Change::BuildSqlmeshDays { .. }
            | Change::RestateSqlmeshDays { .. } => None,
        }
    }

    pub fn is_destructive(&self) -> bool {
        self.data_loss().is_some()
    }

    /// `+`, `~`, `!` (replace with data loss) or `-`.
    pub fn symbol(&self) -> char {
        match self {
            Change::CreateStream { .. } | Change::CreateSecret { .. } | Change::CreateRelation { .. } => '+',
            Change::DeleteStream { .. } | Change::DropRelation { .. } => '-',
            Change::ReplaceStream { .. } => '!',
            Change::ReplaceRelation { data_loss: Some(_), .. } => '!',
            _ if self.is_destructive() => '!',
            _ => '~',
        }
    }

    /// One line for humans: `+ create stream X (…)`.
    pub fn describe(&self) -> String {
        let fields = |fields: &[FieldChange]| {
            fields
                .iter()
                .map(|f| format!("{}: {} → {}", f.field, f.from, f.to))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = match self {
            Change::CreateStream { name, config } => {
                format!(
                    "create stream {name} (subjects {}, max_age {}, {} storage)",
                    config.subjects.join(","),
                    config.max_age,
                    config.storage.as_str()
                )
            }
            Change::UpdateStream { name, fields: f, .. } => format!("update stream {name} ({})", fields(f)),
            Change::ReplaceStream { name, fields: f, .. } => format!("replace stream {name} ({})", fields(f)),
            Change::DeleteStream { name, .. } => format!("delete stream {name} (no longer in the spec)"),
            Change::ApplyWarehouseDdl { summary, .. } => summary.clone(),
            Change::CreateSecret { name, env } => format!("create secret {name} (from ${env})"),
            Change::CreateRelation { kind, name, .. } => format!("create {} {name}", kind_label(*kind)),
            Change::ReplaceRelation {
                kind,
                name,
                strategy,
                dependents,
                ..
            } => describe_replace(*kind, name, *strategy, dependents),
            Change::DropRelation { kind, name, .. } => {
                format!("drop {} {name} (no longer in the spec)", kind_label(*kind))
            }
            Change::ResetConsumer {
                stream,
                consumer,
                table,
            } => {
                format!("reset consumer {consumer} of stream {stream} (table {table} reads all the stream retains)")
            }
            Change::ApplySqlmesh {
                project_dir,
                gateway,
                changed_files,
                prod,
            } => describe_sqlmesh_plan(project_dir, gateway, changed_files.len(), *prod),
            Change::BuildSqlmeshDays { gateway, days } => {
                let (first, last) = sqlmesh::span(days.iter().copied()).unwrap_or_default();
                format!(
                    "build {} closed day(s) on gateway {gateway} with sqlmesh run ({first} … {last})",
                    days.len()
                )
            }
            Change::RestateSqlmeshDays { gateway, days } => format!(
                "restate {} built day(s) on gateway {gateway} whose warehouse rows changed ({})",
                days.len(),
                days.iter().map(|d| d.describe()).collect::<Vec<_>>().join("; ")
            ),
        };
        match self.data_loss() {
            Some(loss) => format!("{} {text} — data loss: {loss}", self.symbol()),
            None => format!("{} {text}", self.symbol()),
        }
    }
}

fn describe_replace(kind: RwKind, name: &str, strategy: ReplaceStrategy, dependents: &[String]) -> String {
    let how = match strategy {
        ReplaceStrategy::SwapMaterializedView => "create new, wait, swap, drop old",
        ReplaceStrategy::ReplaceSink => "REPLACE SINK, new rows only",
        ReplaceStrategy::RecreateSink => "drop and recreate, re-sending every row to upsert",
        ReplaceStrategy::DropAndCreate => "drop and recreate",
    };
    let then = match dependents {
        [] => String::new(),
        _ => format!("; then recreate {}", dependents.join(", ")),
    };
    format!("replace {} {name} (definition changed: {how}{then})", kind_label(kind))
}

fn describe_sqlmesh_plan(project_dir: &str, gateway: &str, changed_files: usize, prod: bool) -> String {
    let why = match (changed_files, prod) {
        (0, false) => "no plan of it has finished there".to_string(),
        (0, true) => "prod runs another version of the project".to_string(),
        (n, _) => format!("{n} file(s) changed"),
    };
    format!("write {project_dir} and run sqlmesh plan on gateway {gateway} ({why})")
}

fn kind_label(kind: RwKind) -> &'static str {
    match kind {
        RwKind::Schema => "schema",
        RwKind::Secret => "secret",
        RwKind::Table => "table",
        RwKind::MaterializedView => "materialized view",
        RwKind::Sink => "sink",
    }
}

/// A system left out of the plan, and why (not configured, `--only`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub system: System,
    pub reason: String,
}

/// Something that blocks the whole plan (e.g. a subject overlap with a stream iotctl does
/// not manage); nothing runs while any exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub system: System,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    pub conflicts: Vec<Conflict>,
    /// Things that changed nothing but an operator should know (e.g. "in sync: 4 streams").
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub destructive: usize,
}

impl Plan {
    /// Nothing to do. A SQLMesh plan whose files are written but never finished counts: it is
    /// what a failed apply leaves behind.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn destructive(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.is_destructive()).collect()
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.symbol() {
                '+' => summary.create += 1,
                '-' => summary.delete += 1,
                '!' if matches!(change, Change::UpdateStream { .. } | Change::ApplyWarehouseDdl { .. }) => {
                    summary.update += 1
                }
                '!' => summary.replace += 1,
                _ => summary.update += 1,
            }
            if change.is_destructive() {
                summary.destructive += 1;
            }
        }
        summary
    }

    /// The plan as people read it: grouped by system, one line per change, then a summary.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for conflict in &self.conflicts {
            out.push_str(&format!("conflict ({}): {}\n", conflict.system.key(), conflict.message));
        }
        for system in System::ALL {
            let changes: Vec<&Change> = self.changes.iter().filter(|c| c.system() == system).collect();
            if let Some(skipped) = self.skipped.iter().find(|s| s.system == system) {
                out.push_str(&format!("{}: skipped ({})\n", system.title(), skipped.reason));
                continue;
            }
            if changes.is_empty() {
                out.push_str(&format!("{}: no changes\n", system.title()));
                continue;
            }
            out.push_str(&format!("{}:\n", system.title()));
            for change in changes {
                out.push_str(&format!("  {}\n", change.describe()));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        let s = self.summary();
        out.push_str(&format!(
            "Plan: {} to create, {} to update, {} to replace, {} to delete ({} destructive)\n",
            s.create, s.update, s.replace, s.delete, s.destructive
        ));
        out
    }
}
