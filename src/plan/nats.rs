//! Diffing JetStream streams: desired configs from the spec against what the server holds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Change, Conflict, FieldChange, System};
use crate::render::manifest::sha256_hex;
use crate::spec::duration::Duration;
use crate::spec::streams::StreamConfig;
use crate::spec::subjects::subjects_overlap;

/// Metadata keys marking a stream as iotctl's.
pub const META_PIPELINE: &str = "iotctl.pipeline";
pub const META_ROLE: &str = "iotctl.role";
pub const META_CONFIG_HASH: &str = "iotctl.config_hash";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    Limits,
    Interest,
    WorkQueue,
}

/// What the stream holds, for data-loss estimates and `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    /// Unix seconds of the oldest message, when there is one.
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
    pub consumers: usize,
    /// Every message the stream ever stored: its increase is the arrival count.
    pub last_sequence: u64,
}

/// A stream as the server reports it, normalised to the fields iotctl manages (server-filled
/// defaults folded in, so they never show as drift).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedStream {
    pub config: StreamConfig,
    pub retention: Retention,
    pub metadata: BTreeMap<String, String>,
    pub state: StreamState,
}

impl ObservedStream {
    pub fn managed_by(&self) -> Option<&str> {
        self.metadata.get(META_PIPELINE).map(String::as_str)
    }
}

/// The hash recorded in a stream's metadata: of the config iotctl gave it.
pub fn config_hash(config: &StreamConfig) -> String {
    sha256_hex(serde_json::to_string(config).unwrap_or_default().as_bytes())[..16].to_string()
}

/// Metadata iotctl sets on a stream it manages.
pub fn managed_metadata(pipeline: &str, config: &StreamConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        (META_PIPELINE.to_string(), pipeline.to_string()),
        (
            META_ROLE.to_string(),
            serde_json::to_value(config.role)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        ),
        (META_CONFIG_HASH.to_string(), config_hash(config)),
    ])
}

fn limit(value: i64) -> String {
    if value < 0 {
        "unlimited".into()
    } else {
        value.to_string()
    }
}

fn field_changes(from: &ObservedStream, to: &StreamConfig) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut push = |field: &str, from: String, to: String| {
        if from != to {
            changes.push(FieldChange {
                field: field.into(),
                from,
                to,
            });
        }
    };
    let sorted = |s: &[String]| {
        let mut v = s.to_vec();
        v.sort();
        v.join(",")
    };
    let observed = &from.config;
    push("subjects", sorted(&observed.subjects), sorted(&to.subjects));
    push("max_age", observed.max_age.to_string(), to.max_age.to_string());
    push("max_bytes", limit(observed.max_bytes), limit(to.max_bytes));
    push("max_msgs", limit(observed.max_msgs), limit(to.max_msgs));
    push("discard", observed.discard.as_str().into(), to.discard.as_str().into());
    push("storage", observed.storage.as_str().into(), to.storage.as_str().into());
    push("replicas", observed.replicas.to_string(), to.replicas.to_string());
    push(
        "duplicate_window",
        observed.duplicate_window.to_string(),
        to.duplicate_window.to_string(),
    );
    push(
        "compression",
        observed.compression.as_str().into(),
        to.compression.as_str().into(),
    );
    push(
        "description",
        observed.description.clone().unwrap_or_default(),
        to.description.clone().unwrap_or_default(),
    );
    push(
        "retention",
        format!("{:?}", from.retention).to_lowercase(),
        "limits".into(),
    );
    changes
}

fn held(state: &StreamState) -> String {
    format!("{} messages ({} bytes)", state.messages, state.bytes)
}

/// What an in-place update deletes at once: limits shrunk below what the stream holds.
fn shrink_loss(observed: &ObservedStream, to: &StreamConfig, now: i64) -> Option<String> {
    let state = &observed.state;
    let mut losses = Vec::new();
    if state.messages > 0
        && let Some(first) = state.first_timestamp
    {
        let oldest_age = Duration::from_secs(now.saturating_sub(first).max(0) as u64);
        if !to.max_age.is_zero() && oldest_age > to.max_age {
            losses.push(format!(
                "messages older than {} (the oldest is {oldest_age} old)",
                to.max_age
            ));
        }
    }
    if to.max_bytes >= 0 && state.bytes > to.max_bytes as u64 {
        losses.push(format!(
            "{} of {} bytes over the new max_bytes",
            state.bytes - to.max_bytes as u64,
            state.bytes
        ));
    }
    if to.max_msgs >= 0 && state.messages > to.max_msgs as u64 {
        losses.push(format!(
            "{} of {} messages over the new max_msgs",
            state.messages - to.max_msgs as u64,
            state.messages
        ));
    }
    (!losses.is_empty()).then(|| losses.join("; "))
}

/// Changes that make `observed` match `desired` for `pipeline`, plus conflicts that block.
/// `now` is Unix seconds, for retention-shrink estimates.
pub fn diff(
    pipeline: &str,
    desired: &[StreamConfig],
    observed: &[ObservedStream],
    now: i64,
) -> (Vec<Change>, Vec<Conflict>) {
    let by_name: BTreeMap<&str, &ObservedStream> = observed.iter().map(|o| (o.config.name.as_str(), o)).collect();
    let desired_names: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let conflict = |message: String| Conflict {
        system: System::Nats,
        message,
    };

    // Deletions first: they free subjects that new streams may need.
    for stream in observed {
        if stream.managed_by() == Some(pipeline) && !desired_names.contains(stream.config.name.as_str()) {
            changes.push(Change::DeleteStream {
                name: stream.config.name.to_string(),
                data_loss: format!("deletes the stream and its {}", held(&stream.state)),
            });
        }
    }
    let mut replaces = Vec::new();
    let mut updates = Vec::new();
    let mut creates = Vec::new();
    for want in desired {
        let name = want.name.as_str();
        match by_name.get(name) {
            None => creates.push(Change::CreateStream { name: name.to_string(), config: want.clone() }),
            Some(have) => match have.managed_by() {
                Some(owner) if owner == pipeline => {
                    let mut fields = field_changes(have, want);
                    let refused_in_place = have.config.storage != want.storage || have.retention == Retention::WorkQueue;
                    if refused_in_place {
                        replaces.push(Change::ReplaceStream {
                            name: name.to_string(),
                            to: want.clone(),
                            fields,
                            data_loss: format!("the server cannot change this in place: deletes the stream and its {}", held(&have.state)),
                        });
                        continue;
                    }
                    if fields.is_empty() && have.metadata.get(META_CONFIG_HASH) != Some(&config_hash(want)) {
                        fields.push(FieldChange { field: "metadata".into(), from: "edited".into(), to: "iotctl's".into() });
                    }
                    if !fields.is_empty() {
                        updates.push(Change::UpdateStream { name: name.to_string(), to: want.clone(), fields, data_loss: shrink_loss(have, want, now) });
                    }
                }
                Some(owner) => conflicts.push(conflict(format!("stream {name} belongs to pipeline `{owner}`; rename this pipeline's stream in the spec"))),
                None => conflicts.push(conflict(format!("stream {name} exists but iotctl does not manage it; iotctl never touches it: rename the stream in the spec or remove it by hand"))),
            },
        }
    }
    // Subjects must not overlap streams iotctl will not touch.
    for want in desired {
        for other in observed {
            let ours = other.managed_by() == Some(pipeline);
            if other.config.name.as_str() == want.name.as_str() || ours {
                continue;
            }
            for a in &want.subjects {
                if let Some(b) = other.config.subjects.iter().find(|b| subjects_overlap(a, b)) {
                    conflicts.push(conflict(format!(
                        "subject `{a}` of stream {} overlaps `{b}` of existing stream {}, which iotctl does not manage",
                        want.name, other.config.name
                    )));
                }
            }
        }
    }
    changes.extend(replaces);
    changes.extend(updates);
    changes.extend(creates);
    (changes, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{Compression, Discard, Storage};
    use crate::spec::names::StreamName;
    use crate::spec::streams::StreamRole;

    fn config(name: &str, subject: &str) -> StreamConfig {
        StreamConfig {
            role: StreamRole::Telemetry,
            name: StreamName::new(name),
            description: None,
            subjects: vec![subject.into()],
            max_age: Duration::from_days(7),
            max_bytes: -1,
            max_msgs: -1,
            discard: Discard::Old,
            storage: Storage::File,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            compression: Compression::S2,
        }
    }

    fn observed(config: StreamConfig, pipeline: Option<&str>, state: StreamState) -> ObservedStream {
        let metadata = match pipeline {
            Some(p) => managed_metadata(p, &config),
            None => BTreeMap::new(),
        };
        ObservedStream {
            config,
            retention: Retention::Limits,
            metadata,
            state,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn in_sync_is_empty() {
        let want = config("T", "iot.>");
        let (changes, conflicts) = diff(
            "p",
            std::slice::from_ref(&want),
            &[observed(want.clone(), Some("p"), StreamState::default())],
            NOW,
        );
        assert!(changes.is_empty() && conflicts.is_empty(), "{changes:?}");
    }

    #[test]
    fn missing_stream_is_created() {
        let (changes, _) = diff("p", &[config("T", "iot.>")], &[], NOW);
        assert!(matches!(&changes[..], [Change::CreateStream { name, .. }] if name == "T"));
    }

    #[test]
    fn edited_field_is_an_update() {
        let want = config("T", "iot.>");
        let mut live = want.clone();
        live.max_age = Duration::from_days(1);
        let (changes, _) = diff(
            "p",
            std::slice::from_ref(&want),
            &[observed(live, Some("p"), StreamState::default())],
            NOW,
        );
        let [
            Change::UpdateStream {
                fields,
                data_loss: None,
                ..
            },
        ] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(
            fields[0],
            FieldChange {
                field: "max_age".into(),
                from: "1d".into(),
                to: "7d".into()
            }
        );
    }

    #[test]
    fn shrinking_retention_below_held_data_is_destructive() {
        let mut want = config("T", "iot.>");
        want.max_age = Duration::from_secs(3600);
        want.max_msgs = 10;
        let live = config("T", "iot.>");
        let state = StreamState {
            messages: 50,
            bytes: 5000,
            first_timestamp: Some(NOW - 7200),
            last_timestamp: Some(NOW),
            consumers: 0,
            last_sequence: 50,
        };
        let (changes, _) = diff("p", &[want], &[observed(live, Some("p"), state)], NOW);
        let loss = changes[0].data_loss().expect("destructive");
        assert!(
            loss.contains("older than 1h") && loss.contains("40 of 50 messages"),
            "{loss}"
        );
    }

    #[test]
    fn storage_change_is_a_destructive_replace() {
        let mut want = config("T", "iot.>");
        want.storage = Storage::Memory;
        let (changes, _) = diff(
            "p",
            &[want],
            &[observed(config("T", "iot.>"), Some("p"), StreamState::default())],
            NOW,
        );
        assert!(matches!(&changes[..], [Change::ReplaceStream { .. }]));
        assert!(changes[0].is_destructive());
    }

    #[test]
    fn managed_streams_missing_from_the_spec_are_deleted_and_others_untouched() {
        let live = vec![
            observed(
                config("OLD", "old.>"),
                Some("p"),
                StreamState {
                    messages: 3,
                    ..Default::default()
                },
            ),
            observed(config("FOREIGN", "foreign.>"), None, StreamState::default()),
            observed(config("OTHER_PIPELINE", "other.>"), Some("q"), StreamState::default()),
        ];
        let (changes, conflicts) = diff("p", &[], &live, NOW);
        assert!(conflicts.is_empty());
        assert!(
            matches!(&changes[..], [Change::DeleteStream { name, .. }] if name == "OLD"),
            "{changes:?}"
        );
        assert!(changes[0].is_destructive());
    }

    #[test]
    fn overlap_with_an_unmanaged_stream_is_a_conflict() {
        let live = vec![observed(config("LEGACY", "iot.berlin.>"), None, StreamState::default())];
        let (_, conflicts) = diff("p", &[config("T", "iot.>")], &live, NOW);
        assert_eq!(conflicts.len(), 1);
        assert!(conflicts[0].message.contains("LEGACY"));
    }

    #[test]
    fn a_same_named_unmanaged_stream_is_never_adopted() {
        let live = vec![observed(config("T", "iot.>"), None, StreamState::default())];
        let (changes, conflicts) = diff("p", &[config("T", "iot.>")], &live, NOW);
        assert!(changes.is_empty());
        assert!(conflicts[0].message.contains("does not manage"));
    }

    /// The dead-letter stream keeps every dead letter until its age limit: one a work queue
    /// would hand out once and delete is planned as a destructive replace, never an edit.
    #[test]
    fn a_work_queue_dead_letter_stream_is_replaced_only_destructively() {
        let mut want = config("DLQ", "dlq.iot.>");
        want.role = StreamRole::DeadLetter;
        let mut live = observed(
            want.clone(),
            Some("p"),
            StreamState {
                messages: 5,
                ..StreamState::default()
            },
        );
        live.retention = Retention::WorkQueue;
        let (changes, _) = diff("p", &[want], &[live], NOW);
        assert!(
            matches!(changes.as_slice(), [Change::ReplaceStream { .. }]),
            "{changes:?}"
        );
        assert!(changes[0].is_destructive());
    }
}
