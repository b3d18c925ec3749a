//! The engine behind `plan`, `apply` and `status`: connect to the systems a run covers,
//! observe each, diff against the rendering into one typed plan, and execute a change on the
//! system it belongs to. Commands decide what to print and whether to go on.

pub mod sqlmesh_steps;

use crate::backend::nats::Nats;
use crate::backend::risingwave::RisingWave;
use crate::backend::warehouse::Warehouse;
use crate::plan::{self, Change, Plan, Skipped, System};
use crate::render::{Rendering, render_stream_daily_table, render_warehouse, templates::Templates};
use crate::settings::{Settings, SqlmeshSettings};
use crate::spec::Spec;
use crate::time::unix_now;

/// The systems a run covers: all of them, or those `--only` names.
#[derive(Debug, Clone, Default)]
pub struct Selection(Vec<System>);

impl Selection {
    pub fn only(systems: impl IntoIterator<Item = System>) -> Selection {
        Selection(systems.into_iter().collect())
    }

    pub fn includes(&self, system: System) -> bool {
        self.0.is_empty() || self.0.contains(&system)
    }
}

/// Connections to the systems a plan covers; `None` where skipped.
pub struct Live {
    pub nats: Nats,
    pub warehouse: Option<Warehouse>,
    pub risingwave: Option<RisingWave>,
    pub sqlmesh: Option<SqlmeshSettings>,
    selection: Selection,
}

impl Live {
    /// Connects to what is configured and selected; the rest is listed in `plan` as skipped.
    /// NATS is always connected: it also holds the apply lock.
    pub async fn connect(
        spec: &Spec,
        settings: &Settings,
        selection: Selection,
        plan: &mut Plan,
    ) -> anyhow::Result<Live> {
        let mut skip = |system, reason: String| plan.skipped.push(Skipped { system, reason });
        let nats = Nats::connect(&settings.nats).await?;
        let not_selected = || "not selected by --only".to_string();
        if !selection.includes(System::Nats) {
            skip(System::Nats, not_selected());
        }
        let warehouse = match (&settings.warehouse_url, selection.includes(System::Warehouse)) {
            (_, false) => {
                skip(System::Warehouse, not_selected());
                None
            }
            (None, true) => {
                let reason = "no warehouse configured: set --warehouse-url, IOTCTL_WAREHOUSE_URL or $";
                skip(System::Warehouse, format!("{reason}{}", spec.warehouse.password_env));
                None
            }
            (Some(url), true) => Some(Warehouse::connect(url).await?),
        };
        let risingwave = match (&settings.risingwave_url, selection.includes(System::Risingwave)) {
            (_, false) => {
                skip(System::Risingwave, not_selected());
                None
            }
            (None, true) => {
                let reason = "no RisingWave configured: set --risingwave-url or $";
                skip(System::Risingwave, format!("{reason}{}", spec.risingwave.url_env));
                None
            }
            (Some(url), true) => Some(RisingWave::connect(url, spec.risingwave.schema.as_str()).await?),
        };
        let sqlmesh = match (&settings.sqlmesh, selection.includes(System::Sqlmesh)) {
            (_, false) => {
                skip(System::Sqlmesh, not_selected());
                None
            }
            (None, true) => {
                skip(
                    System::Sqlmesh,
                    "no project directory: set --sqlmesh-dir or IOTCTL_SQLMESH_DIR".into(),
                );
                None
            }
            (Some(s), true) => Some(s.clone()),
        };
        Ok(Live {
            nats,
            warehouse,
            risingwave,
            sqlmesh,
            selection,
        })
    }

    /// Observes every connected system and diffs it against the rendering.
    pub async fn observe_and_diff(&self, spec: &Spec, rendering: &Rendering, plan: &mut Plan) -> anyhow::Result<()> {
        if self.selection.includes(System::Nats) {
            let observed = self.nats.observe().await?;
            let (changes, conflicts) =
                plan::nats::diff(spec.pipeline.name.as_str(), &spec.streams(), &observed, unix_now());
            plan.changes.extend(changes);
            plan.conflicts.extend(conflicts);
        }
        if let Some(warehouse) = &self.warehouse {
            plan.changes.extend(warehouse_changes(spec, warehouse).await?);
        }
        if let Some(risingwave) = &self.risingwave {
            let snapshot = risingwave.observe().await?;
            plan.changes
                .extend(plan::risingwave::diff(&rendering.risingwave, &snapshot));
            let timing = risingwave.barrier_timing().await?;
            let finding = plan::alert_latency::assess(timing, spec.slo.alert_latency_p99);
            plan.notes.push(finding.message().to_string());
        }
        if let Some(settings) = &self.sqlmesh {
            plan.changes
                .extend(sqlmesh_steps::diff(spec, rendering, settings).await?);
        }
        Ok(())
    }

    /// Executes one change on the system it belongs to. `report` hears RisingWave's progress
    /// on a long statement; `tool_line` hears SQLMesh's output.
    pub async fn execute(
        &mut self,
        change: &Change,
        spec: &Spec,
        rendering: &Rendering,
        report: &(dyn Fn(&str) + Sync),
        tool_line: impl FnMut(&str),
    ) -> anyhow::Result<()> {
        let pipeline = spec.pipeline.name.as_str();
        match change.system() {
            System::Nats => self.nats.execute(change, pipeline).await,
            // A RisingWave source's consumer is reset on the NATS side.
            System::Risingwave if matches!(change, Change::ResetConsumer { .. }) => {
                self.nats.execute(change, pipeline).await
            }
            System::Warehouse => self.warehouse.as_mut().expect("connected").execute(change).await,
            System::Risingwave => {
                self.risingwave
                    .as_ref()
                    .expect("connected")
                    .execute(change, report)
                    .await
            }
            System::Sqlmesh => {
                let settings = self.sqlmesh.as_ref().expect("configured");
                sqlmesh_steps::execute(change, spec, rendering, settings, tool_line).await
            }
        }
    }
}

/// The warehouse's raw table, and the stream's daily table where the sink writes one.
async fn warehouse_changes(spec: &Spec, warehouse: &Warehouse) -> anyhow::Result<Vec<Change>> {
    let schema = spec.warehouse.schema.as_str();
    let observed = warehouse.observe(schema, spec.warehouse.raw_table.as_str()).await?;
    let ddl = render_warehouse(spec, &Templates::embedded())?.content;
    let mut changes = plan::warehouse::diff(spec, observed.as_ref(), &ddl);
    if let Some(stream_table) = render_stream_daily_table(spec, &Templates::embedded())? {
        let exists = warehouse
            .observe(schema, crate::render::STREAM_DAILY_TABLE)
            .await?
            .is_some();
        changes.extend(plan::warehouse::create_fixed_table(spec, exists, &stream_table.content));
    }
    Ok(changes)
}
