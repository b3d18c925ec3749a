//! Diffing RisingWave objects. RisingWave re-prints stored definitions, so objects are compared
//! by the hash of the DDL iotctl rendered, recorded in an iotctl-owned table when applied.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Change, ReplaceStrategy};
use crate::render::manifest::sha256_hex;
use crate::render::risingwave::{RwKind, RwObject};

/// The table in the pipeline's schema where iotctl records what it applied.
pub const LEDGER_TABLE: &str = "iotctl_objects";

/// What the catalog (`rw_catalog`) and iotctl's ledger say about the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogSnapshot {
    pub schema_exists: bool,
    /// Relations in the schema: name → kind (tables, materialized views, sinks, sources…).
    pub relations: BTreeMap<String, RwKind>,
    pub secrets: BTreeSet<String>,
    /// name → hash recorded when iotctl applied it.
    pub ledger: BTreeMap<String, String>,
}

pub fn ddl_hash(ddl: &str) -> String {
    sha256_hex(ddl.as_bytes())[..16].to_string()
}

/// Everything that transitively reads from `name`, in the desired (apply) order.
fn dependents_of(name: &str, desired: &[RwObject]) -> Vec<String> {
    let mut affected: BTreeSet<&str> = BTreeSet::from([name]);
    let mut ordered = Vec::new();
    for object in desired {
        if object.depends_on.iter().any(|d| affected.contains(d.as_str())) && !affected.contains(object.name.as_str()) {
            affected.insert(&object.name);
            ordered.push(object.name.clone());
        }
    }
    ordered
}

/// How a changed object is replaced, and what that destroys.
fn replace_strategy(object: &RwObject, dependents: &[String]) -> (ReplaceStrategy, Option<String>) {
    match object.kind {
        RwKind::MaterializedView if dependents.is_empty() => (ReplaceStrategy::SwapMaterializedView, None),
        RwKind::MaterializedView => (
            ReplaceStrategy::DropAndCreate,
            Some(format!(
                "drops {} and {} dependent object(s) while they are rebuilt",
                object.name,
                dependents.len()
            )),
        ),
        // REPLACE SINK never sends the rows a view already holds
        // (src/frontend/src/handler/create_sink.rs forces snapshot = false): right for a sink
        // rendered that way, a loss for one that must deliver every row to a new target.
        RwKind::Sink if object.ddl.contains("snapshot = 'false'") => (ReplaceStrategy::ReplaceSink, None),
        RwKind::Sink => (ReplaceStrategy::RecreateSink, None),
        _ => (
            ReplaceStrategy::DropAndCreate,
            Some(format!(
                "connector options cannot be altered: drops table {} and its rows, and {} dependent object(s); they refill from what the stream retains",
                object.name,
                dependents.len()
            )),
        ),
    }
}

/// Objects iotctl applied that the spec no longer has, dropped dependents first.
fn removed(desired: &[RwObject], snapshot: &CatalogSnapshot) -> Vec<Change> {
    let desired_names: BTreeSet<&str> = desired.iter().map(|o| o.name.as_str()).collect();
    let mut drops: Vec<(&String, &RwKind)> = snapshot
        .relations
        .iter()
        .filter(|(name, _)| snapshot.ledger.contains_key(*name) && !desired_names.contains(name.as_str()))
        .collect();
    drops.sort_by_key(|(_, kind)| std::cmp::Reverse(**kind));
    drops
        .into_iter()
        .map(|(name, kind)| {
            let data_loss = match kind {
                RwKind::Table => format!("drops table {name} and its rows"),
                RwKind::MaterializedView => format!("drops materialized view {name} and its state"),
                RwKind::Sink => format!("stops sink {name}"),
                _ => format!("drops {name}"),
            };
            Change::DropRelation {
                kind: *kind,
                name: name.clone(),
                data_loss: Some(data_loss),
            }
        })
        .collect()
}

pub fn diff(desired: &[RwObject], snapshot: &CatalogSnapshot) -> Vec<Change> {
    let mut changes = removed(desired, snapshot);
    // Objects recreated because something they read from is recreated.
    let mut recreated: BTreeSet<String> = BTreeSet::new();

    for object in desired {
        let hash = ddl_hash(&object.ddl);
        let create = || Change::CreateRelation {
            kind: object.kind,
            name: object.name.clone(),
            ddl: object.ddl.clone(),
            hash: hash.clone(),
        };
        match object.kind {
            RwKind::Schema => {
                if !snapshot.schema_exists {
                    changes.push(create());
                }
                continue;
            }
            RwKind::Secret => {
                if !snapshot.secrets.contains(&object.name) {
                    changes.push(Change::CreateSecret {
                        name: object.name.clone(),
                        env: object.secret_env.clone().unwrap_or_default(),
                    });
                }
                continue;
            }
            _ => {}
        }
        // A table reading NATS starts with a fresh consumer whenever it is created.
        let reset = || {
            object.nats_consumer.as_ref().map(|c| Change::ResetConsumer {
                stream: c.stream.clone(),
                consumer: c.durable.clone(),
                table: object.name.clone(),
            })
        };
        if recreated.contains(&object.name) {
            // Dropped with its upstream (CASCADE); create it again.
            changes.extend(reset());
            changes.push(create());
            continue;
        }
        let Some(live_kind) = snapshot.relations.get(&object.name) else {
            changes.extend(reset());
            changes.push(create());
            continue;
        };
        if snapshot.ledger.get(&object.name) == Some(&hash) && *live_kind == object.kind {
            continue;
        }
        let dependents = dependents_of(&object.name, desired);
        let (strategy, data_loss) = replace_strategy(object, &dependents);
        if strategy == ReplaceStrategy::DropAndCreate {
            recreated.extend(dependents.iter().cloned());
        }
        if object.nats_consumer.is_some() {
            // Dropped, its consumer reset, created again: the reset must fall in between.
            changes.push(Change::DropRelation {
                kind: object.kind,
                name: object.name.clone(),
                data_loss,
            });
            changes.extend(reset());
            changes.push(create());
            continue;
        }
        changes.push(Change::ReplaceRelation {
            kind: object.kind,
            name: object.name.clone(),
            ddl: object.ddl.clone(),
            hash,
            strategy,
            dependents,
            data_loss,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: RwKind, name: &str, depends_on: &[&str], ddl: &str) -> RwObject {
        RwObject {
            kind,
            name: name.into(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            ddl: ddl.into(),
            secret_env: None,
            nats_consumer: None,
            state: crate::render::risingwave::StateBound::Stateless("test"),
        }
    }

    fn desired() -> Vec<RwObject> {
        vec![
            object(RwKind::Schema, "iot", &[], "CREATE SCHEMA iot;"),
            object(RwKind::Table, "telemetry", &["iot"], "CREATE TABLE t;"),
            object(RwKind::MaterializedView, "valid", &["telemetry"], "CREATE MV valid;"),
            object(RwKind::MaterializedView, "agg", &["valid"], "CREATE MV agg;"),
            object(RwKind::Sink, "to_nats", &["agg"], "CREATE SINK s;"),
        ]
    }

    /// The catalog after a clean apply of `objects`.
    fn applied(objects: &[RwObject]) -> CatalogSnapshot {
        let mut snapshot = CatalogSnapshot {
            schema_exists: true,
            ..Default::default()
        };
        for o in objects
            .iter()
            .filter(|o| !matches!(o.kind, RwKind::Schema | RwKind::Secret))
        {
            snapshot.relations.insert(o.name.clone(), o.kind);
            snapshot.ledger.insert(o.name.clone(), ddl_hash(&o.ddl));
        }
        snapshot
    }

    #[test]
    fn empty_catalog_creates_everything_in_order() {
        let changes = diff(&desired(), &CatalogSnapshot::default());
        let names: Vec<String> = changes.iter().map(|c| c.describe()).collect();
        assert_eq!(
            names,
            [
                "+ create schema iot",
                "+ create table telemetry",
                "+ create materialized view valid",
                "+ create materialized view agg",
                "+ create sink to_nats"
            ]
        );
    }

    /// `desired()` with its table reading NATS through a durable consumer, as rendered.
    fn desired_from_nats() -> Vec<RwObject> {
        let mut objects = desired();
        objects[1].nats_consumer = Some(crate::render::risingwave::NatsConsumer {
            stream: "TELEMETRY".into(),
            durable: "rw".into(),
        });
        objects
    }

    #[test]
    fn a_table_reading_nats_is_created_after_its_consumer_is_reset() {
        let changes = diff(&desired_from_nats(), &CatalogSnapshot::default());
        let described: Vec<String> = changes.iter().take(3).map(|c| c.describe()).collect();
        assert_eq!(
            described,
            [
                "+ create schema iot",
                "~ reset consumer rw of stream TELEMETRY (table telemetry reads all the stream retains)",
                "+ create table telemetry",
            ]
        );
        assert_eq!(changes[1].system(), super::super::System::Risingwave);
        assert!(!changes[1].is_destructive());
        // In sync: nothing is reset.
        assert!(diff(&desired_from_nats(), &applied(&desired_from_nats())).is_empty());
    }

    #[test]
    fn a_changed_table_reading_nats_is_dropped_reset_and_created_with_its_dependents() {
        let live = applied(&desired_from_nats());
        let mut want = desired_from_nats();
        want[1].ddl = "CREATE TABLE t2;".into();
        let changes = diff(&want, &live);
        assert!(
            matches!(&changes[0], Change::DropRelation { name, data_loss: Some(loss), .. } if name == "telemetry" && loss.contains("refill")),
            "{changes:#?}"
        );
        assert!(matches!(&changes[1], Change::ResetConsumer { consumer, .. } if consumer == "rw"));
        let created: Vec<&str> = changes[2..]
            .iter()
            .map(|c| match c {
                Change::CreateRelation { name, .. } => name.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(created, ["telemetry", "valid", "agg", "to_nats"]);
    }

    #[test]
    fn applied_catalog_is_in_sync() {
        assert!(diff(&desired(), &applied(&desired())).is_empty());
    }

    #[test]
    fn leaf_view_change_swaps_without_data_loss() {
        let live = applied(&desired());
        let mut want = desired();
        want[3].ddl = "CREATE MV agg2;".into();
        let changes = diff(&want, &live);
        // agg has a dependent sink: drop and recreate, then the sink again.
        assert!(
            matches!(&changes[0], Change::ReplaceRelation { name, strategy: ReplaceStrategy::DropAndCreate, dependents, .. } if name == "agg" && dependents == &["to_nats"])
        );
        assert!(matches!(&changes[1], Change::CreateRelation { name, .. } if name == "to_nats"));
        let mut want = desired();
        want.pop();
        want[3].ddl = "CREATE MV agg2;".into();
        let live = applied(&desired()[..4]);
        let changes = diff(&want, &live);
        assert!(matches!(
            &changes[..],
            [Change::ReplaceRelation {
                strategy: ReplaceStrategy::SwapMaterializedView,
                data_loss: None,
                ..
            }]
        ));
    }

    #[test]
    fn a_sink_that_sends_only_new_rows_is_replaced_one_that_sends_every_row_is_recreated() {
        let live = applied(&desired());
        let mut want = desired();
        want[4].ddl = "CREATE SINK s2 WITH (snapshot = 'false');".into();
        assert!(matches!(
            &diff(&want, &live)[..],
            [Change::ReplaceRelation {
                strategy: ReplaceStrategy::ReplaceSink,
                data_loss: None,
                ..
            }]
        ));
        // A warehouse sink changed its target: REPLACE SINK would never send the existing rows.
        want[4].ddl = "CREATE SINK s2 WITH (connector = 'postgres', table = 'other');".into();
        assert!(matches!(
            &diff(&want, &live)[..],
            [Change::ReplaceRelation {
                strategy: ReplaceStrategy::RecreateSink,
                data_loss: None,
                ..
            }]
        ));
    }

    #[test]
    fn connector_table_change_is_destructive_and_recreates_dependents() {
        let live = applied(&desired());
        let mut want = desired();
        want[1].ddl = "CREATE TABLE t2;".into();
        let changes = diff(&want, &live);
        assert!(changes[0].is_destructive());
        let recreated: Vec<&str> = changes[1..]
            .iter()
            .map(|c| match c {
                Change::CreateRelation { name, .. } => name.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(recreated, ["valid", "agg", "to_nats"]);
    }

    #[test]
    fn objects_removed_from_the_spec_are_dropped_destructively_unless_not_ours() {
        let mut live = applied(&desired());
        live.relations.insert("hand_made_view".into(), RwKind::MaterializedView);
        let want = desired()[..4].to_vec();
        let changes = diff(&want, &live);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(matches!(&changes[0], Change::DropRelation { name, .. } if name == "to_nats"));
        assert!(changes[0].is_destructive());
    }
}
