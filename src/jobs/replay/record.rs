//! The replay ledger: one record per replay (range, filters, counts, checkpoint, status) in
//! the NATS KV bucket `iotctl_replays`, so `--resume`, `replay list` and `replay show` work
//! from any machine.

use std::time::Duration as StdDuration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Filters;
use crate::backend::nats::kv;
use crate::time::Day;

pub const LEDGER_BUCKET: &str = "iotctl_replays";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    Running,
    Interrupted,
    Completed,
    Failed,
}

impl ReplayStatus {
    /// The status as the ledger's JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Running => "running",
            ReplayStatus::Interrupted => "interrupted",
            ReplayStatus::Completed => "completed",
            ReplayStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Source messages read in the range.
    pub read: u64,
    /// Republished into the replay stream (including ones the server already had).
    pub published: u64,
    /// Publishes the server recognised as repeats (same Nats-Msg-Id) and did not store.
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// Read but not matching `--device`.
    pub skipped: u64,
    /// Probe canaries, left out of the replay.
    #[serde(default)]
    pub canaries: u64,
    pub bytes: u64,
}

/// One replay in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub id: String,
    pub pipeline: String,
    pub source_stream: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    pub subject_filter: String,
    pub filters: Filters,
    /// The stream's last sequence when the replay started: nothing after it is replayed.
    pub end_sequence: u64,
    /// Matching messages in the range when the replay started.
    pub total: u64,
    /// The last source sequence whose outcome was acked, in order; resume starts after it.
    pub checkpoint: u64,
    pub status: ReplayStatus,
    pub counts: Counts,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub rate_limit: Option<u64>,
    /// Seconds spent running, over every run of this replay (resumes add theirs): its
    /// completion time, for the replay SLO.
    #[serde(default)]
    pub run_seconds: f64,
    #[serde(default)]
    pub target: ReplayTarget,
    /// UTC days of the events written, for `--restate`.
    #[serde(default)]
    pub first_day: Option<Day>,
    #[serde(default)]
    pub last_day: Option<Day>,
    /// Whether the daily models are to be restated over the days written (`--restate`), and
    /// whether that finished: a replay whose restatement failed can be resumed to retry it.
    #[serde(default)]
    pub restate: Option<RestateStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestateStatus {
    /// Requested; not yet finished and verified.
    Pending,
    /// The days were restated and every one matches the warehouse.
    Done,
}

/// Where a replay writes the events it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReplayTarget {
    /// The replay stream, which RisingWave's replay path counts once.
    #[default]
    Replay,
    /// The warehouse's raw-telemetry table, which the daily models read.
    Warehouse,
}

impl ReplayTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayTarget::Replay => "replay",
            ReplayTarget::Warehouse => "warehouse",
        }
    }
}

pub fn new_id(now: OffsetDateTime) -> String {
    let random = std::process::id() as u64 ^ (now.unix_timestamp_nanos() as u64).rotate_left(17);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:04x}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        random & 0xffff
    )
}

/// The replay ledger: one record per replay, keyed by its id.
pub struct Ledger(kv::Ledger<ReplayRecord>);

impl Ledger {
    pub async fn open(js: &jetstream::Context) -> anyhow::Result<Ledger> {
        let keep = StdDuration::from_secs(30 * crate::time::DAY_SECS as u64);
        Ok(Ledger(
            kv::Ledger::open(js, LEDGER_BUCKET, keep, "the replay ledger").await?,
        ))
    }

    /// The ledger when any replay ever ran; None otherwise (nothing is created).
    pub async fn existing(js: &jetstream::Context) -> Option<Ledger> {
        kv::Ledger::open_existing(js, LEDGER_BUCKET, "the replay ledger")
            .await
            .map(Ledger)
    }

    pub async fn save(&self, record: &ReplayRecord) -> anyhow::Result<()> {
        self.0.save(&record.id, record).await
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<ReplayRecord>> {
        self.0.get(id).await
    }

    /// Every replay, oldest first.
    pub async fn list(&self) -> anyhow::Result<Vec<ReplayRecord>> {
        let mut records = self.0.list().await?;
        records.sort_by_key(|record| record.started_at);
        Ok(records)
    }
}
