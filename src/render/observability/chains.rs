//! The pipeline as operators see it: its SLOs as numbers, and each stream's chain from
//! subjects to the warehouse (stream → RisingWave consumer → table → views → sinks), read off
//! the rendered RisingWave objects so the dashboard and runbooks name what `apply` creates.

use std::collections::BTreeSet;

use crate::render::risingwave::{RwKind, RwObject};
use crate::spec::Spec;
use crate::spec::streams::StreamRole;

/// One stream and what reads it.
#[derive(Debug, Clone)]
pub struct Chain {
    pub role: StreamRole,
    pub stream: String,
    pub subjects: Vec<String>,
    /// RisingWave's durable consumer and the table it fills (streams RisingWave reads).
    pub consumer: Option<String>,
    pub table: Option<String>,
    /// Views and sinks downstream of the table, in creation order.
    pub views: Vec<String>,
    pub sinks: Vec<String>,
}

/// What the observability renderers need of a spec.
pub struct Pipeline {
    pub name: String,
    pub latency_slo: String,
    pub latency_slo_secs: f64,
    pub max_drop_rate: f64,
    pub retention: String,
    pub retention_secs: u64,
    pub runbook_base_url: Option<String>,
    pub warehouse_table: String,
    pub chains: Vec<Chain>,
    /// Whether `iotctl probe` has a canary that pages; without one, no probe alert or panel.
    pub probed: bool,
}

impl Pipeline {
    pub fn of(spec: &Spec, objects: &[RwObject]) -> Pipeline {
        Pipeline {
            name: spec.pipeline.name.to_string(),
            latency_slo: spec.slo.alert_latency_p99.to_string(),
            latency_slo_secs: spec.slo.alert_latency_p99.as_secs_f64(),
            max_drop_rate: spec.slo.max_drop_rate,
            retention: spec.slo.replay_retention.to_string(),
            retention_secs: spec.slo.replay_retention.as_millis() / 1000,
            runbook_base_url: spec.slo.runbook_base_url.clone(),
            warehouse_table: format!("{}.{}", spec.warehouse.schema, spec.warehouse.raw_table),
            chains: StreamRole::ALL.iter().map(|role| chain(spec, objects, *role)).collect(),
            probed: crate::spec::event::canaries_can_page(spec),
        }
    }

    pub fn chain(&self, role: StreamRole) -> &Chain {
        self.chains.iter().find(|c| c.role == role).expect("a chain per role")
    }

    /// The stream of a role, by the role's spec key (`telemetry`, `dead_letter`).
    pub fn stream_of(&self, key: &str) -> String {
        self.chains
            .iter()
            .find(|c| c.role.key() == key)
            .map(|c| c.stream.clone())
            .unwrap_or_default()
    }

    /// RisingWave's durable consumers, the ingestion one first.
    pub fn consumers(&self) -> Vec<String> {
        self.chains.iter().filter_map(|c| c.consumer.clone()).collect()
    }

    /// An iotctl command line as a runbook writes it: the subcommand, the spec, the flags.
    pub fn command(&self, args: &str) -> String {
        let split = args.find(" -").unwrap_or(args.len());
        format!("iotctl {} -f \"$SPEC\"{}", &args[..split], &args[split..])
    }

    /// Where an alert's runbook is read.
    pub fn runbook_url(&self, alert: &str) -> String {
        match &self.runbook_base_url {
            Some(base) => format!("{}/{alert}.md", base.trim_end_matches('/')),
            None => format!("observability/runbooks/{alert}.md"),
        }
    }
}

fn chain(spec: &Spec, objects: &[RwObject], role: StreamRole) -> Chain {
    let stream = spec.stream(role);
    let table = objects.iter().find(|o| {
        o.nats_consumer
            .as_ref()
            .is_some_and(|c| c.stream == stream.name.as_str())
    });
    let downstream = table.map(|t| descendants(objects, &t.name)).unwrap_or_default();
    let named = |kind: RwKind| -> Vec<String> {
        objects
            .iter()
            .filter(|o| o.kind == kind && downstream.contains(&o.name))
            .map(|o| o.name.clone())
            .collect()
    };
    Chain {
        role,
        stream: stream.name.to_string(),
        subjects: stream.subjects.clone(),
        consumer: table.and_then(|t| t.nats_consumer.as_ref()).map(|c| c.durable.clone()),
        table: table.map(|t| t.name.clone()),
        views: named(RwKind::MaterializedView),
        sinks: named(RwKind::Sink),
    }
}

/// Every object that reads `root`, directly or through others.
fn descendants(objects: &[RwObject], root: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::from([root.to_string()]);
    // Objects come in creation order: one pass sees every reader after what it reads.
    for object in objects {
        if object.depends_on.iter().any(|d| found.contains(d)) {
            found.insert(object.name.clone());
        }
    }
    found.remove(root);
    found
}
