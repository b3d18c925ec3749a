//! JetStream stream configs both ways: iotctl's desired config as the server's, and the
//! server's as iotctl's, with server-filled defaults folded in.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use async_nats::jetstream::stream;

use crate::plan::nats::{ObservedStream, Retention, StreamState, managed_metadata};
use crate::spec::duration::Duration;
use crate::spec::model::{Compression, Discard, Storage};
use crate::spec::names::StreamName;
use crate::spec::streams::{StreamConfig, StreamRole};

/// The server config for a desired stream, with iotctl's metadata.
pub fn server_config(config: &StreamConfig, pipeline: &str) -> stream::Config {
    stream::Config {
        name: config.name.to_string(),
        description: config.description.clone(),
        subjects: config.subjects.clone(),
        retention: stream::RetentionPolicy::Limits,
        max_age: StdDuration::from_millis(config.max_age.as_millis()),
        max_bytes: config.max_bytes,
        max_messages: config.max_msgs,
        discard: match config.discard {
            Discard::Old => stream::DiscardPolicy::Old,
            Discard::New => stream::DiscardPolicy::New,
        },
        storage: match config.storage {
            Storage::File => stream::StorageType::File,
            Storage::Memory => stream::StorageType::Memory,
        },
        num_replicas: usize::from(config.replicas),
        duplicate_window: StdDuration::from_millis(config.duplicate_window.as_millis()),
        compression: Some(match config.compression {
            Compression::None => stream::Compression::None,
            Compression::S2 => stream::Compression::S2,
        }),
        metadata: managed_metadata(pipeline, config).into_iter().collect(),
        ..Default::default()
    }
}

/// Folds server-filled defaults into the fields iotctl manages.
pub fn observed_from_info(info: stream::Info) -> ObservedStream {
    let c = info.config;
    let metadata: BTreeMap<String, String> = c
        .metadata
        .into_iter()
        .filter(|(k, _)| !k.starts_with("_nats"))
        .collect();
    let role = match metadata.get(crate::plan::nats::META_ROLE).map(String::as_str) {
        Some("replay") => StreamRole::Replay,
        Some("dead_letter") => StreamRole::DeadLetter,
        Some("alerts") => StreamRole::Alerts,
        _ => StreamRole::Telemetry,
    };
    let limit = |v: i64| if v <= 0 { -1 } else { v };
    let timestamp = |t: time::OffsetDateTime| (t.unix_timestamp() > 0).then_some(t.unix_timestamp());
    ObservedStream {
        config: StreamConfig {
            role,
            name: StreamName::new(c.name),
            description: c.description.filter(|d| !d.is_empty()),
            subjects: c.subjects,
            max_age: Duration::from_millis(c.max_age.as_millis() as u64),
            max_bytes: limit(c.max_bytes),
            max_msgs: limit(c.max_messages),
            discard: match c.discard {
                stream::DiscardPolicy::New => Discard::New,
                _ => Discard::Old,
            },
            storage: match c.storage {
                stream::StorageType::Memory => Storage::Memory,
                _ => Storage::File,
            },
            replicas: c.num_replicas.max(1) as u8,
            duplicate_window: if c.duplicate_window.is_zero() {
                Duration::from_secs(120)
            } else {
                Duration::from_millis(c.duplicate_window.as_millis() as u64)
            },
            compression: match c.compression {
                Some(stream::Compression::S2) => Compression::S2,
                _ => Compression::None,
            },
        },
        retention: match c.retention {
            stream::RetentionPolicy::Interest => Retention::Interest,
            stream::RetentionPolicy::WorkQueue => Retention::WorkQueue,
            _ => Retention::Limits,
        },
        metadata,
        state: StreamState {
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_timestamp: if info.state.messages > 0 {
                timestamp(info.state.first_timestamp)
            } else {
                None
            },
            last_timestamp: if info.state.messages > 0 {
                timestamp(info.state.last_timestamp)
            } else {
                None
            },
            consumers: info.state.consumer_count,
            last_sequence: info.state.last_sequence,
        },
    }
}

/// JetStream reserves `max_bytes` up front; say what to do when the server cannot.
pub(super) fn storage_hint<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    let text = error.to_string();
    let error = anyhow::Error::new(error);
    if text.contains("10047") || text.contains("insufficient storage") {
        error.context("the server cannot reserve the stream's max_bytes: lower max_bytes in the spec or raise the server's JetStream max_store")
    } else {
        error
    }
}
