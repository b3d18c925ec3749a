//! The four JetStream streams a pipeline owns, with the defaults of each role filled in.

use serde::Serialize;

use super::duration::Duration;
use super::model::{Compression, Discard, Spec, Storage, StreamSpec};
use super::names::StreamName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRole {
    Telemetry,
    Replay,
    DeadLetter,
    Alerts,
}

impl StreamRole {
    pub const ALL: [StreamRole; 4] = [
        StreamRole::Telemetry,
        StreamRole::Replay,
        StreamRole::DeadLetter,
        StreamRole::Alerts,
    ];

    /// The spec key of this role under `nats.streams`.
    pub fn key(self) -> &'static str {
        match self {
            StreamRole::Telemetry => "telemetry",
            StreamRole::Replay => "replay",
            StreamRole::DeadLetter => "dead_letter",
            StreamRole::Alerts => "alerts",
        }
    }

    /// Subject root in front of the telemetry prefix; telemetry itself has none. Each role
    /// has its own root because NATS refuses streams whose subjects overlap.
    pub fn root(self) -> Option<&'static str> {
        match self {
            StreamRole::Telemetry => None,
            StreamRole::Replay => Some("replay"),
            StreamRole::DeadLetter => Some("dlq"),
            StreamRole::Alerts => Some("alerts"),
        }
    }

    fn default_max_age(self) -> Duration {
        match self {
            StreamRole::Telemetry => Duration::from_days(7),
            StreamRole::Replay => Duration::from_days(2),
            StreamRole::DeadLetter => Duration::from_days(14),
            StreamRole::Alerts => Duration::from_days(7),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            StreamRole::Telemetry => "TELEMETRY",
            StreamRole::Replay => "REPLAY",
            StreamRole::DeadLetter => "DLQ",
            StreamRole::Alerts => "ALERTS",
        }
    }
}

/// A stream's desired configuration: every field iotctl manages, nothing the server fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamConfig {
    pub role: StreamRole,
    pub name: StreamName,
    pub description: Option<String>,
    pub subjects: Vec<String>,
    pub max_age: Duration,
    /// -1 means unlimited, as in JetStream.
    pub max_bytes: i64,
    pub max_msgs: i64,
    pub discard: Discard,
    pub storage: Storage,
    pub replicas: u8,
    pub duplicate_window: Duration,
    pub compression: Compression,
}

impl Spec {
    pub fn stream_spec(&self, role: StreamRole) -> &StreamSpec {
        let streams = &self.nats.streams;
        match role {
            StreamRole::Telemetry => &streams.telemetry,
            StreamRole::Replay => &streams.replay,
            StreamRole::DeadLetter => &streams.dead_letter,
            StreamRole::Alerts => &streams.alerts,
        }
    }

    pub fn stream(&self, role: StreamRole) -> StreamConfig {
        let spec = self.stream_spec(role);
        let default_name = format!("{}_{}", self.pipeline.name.as_str().to_uppercase(), role.suffix());
        StreamConfig {
            role,
            name: spec.name.clone().unwrap_or_else(|| StreamName::new(default_name)),
            description: spec.description.clone(),
            subjects: spec
                .subjects
                .clone()
                .unwrap_or_else(|| vec![format!("{}.>", self.subject_root(role))]),
            max_age: spec.max_age.unwrap_or(role.default_max_age()),
            max_bytes: spec.max_bytes.unwrap_or(-1),
            max_msgs: spec.max_msgs.unwrap_or(-1),
            discard: spec.discard.unwrap_or(Discard::Old),
            storage: spec.storage.unwrap_or(Storage::File),
            replicas: spec.replicas.unwrap_or(1),
            duplicate_window: spec.duplicate_window.unwrap_or(Duration::from_secs(120)),
            compression: spec.compression.unwrap_or(Compression::S2),
        }
    }

    pub fn streams(&self) -> Vec<StreamConfig> {
        StreamRole::ALL.iter().map(|role| self.stream(*role)).collect()
    }
}
