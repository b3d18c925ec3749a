//! The redrive ledger: one record per redrive (filters, target, counts, checkpoint, the
//! dead letters whose republish is settled but which are not yet deleted) in the NATS KV
//! bucket `iotctl_redrives`, so `--resume`, `dlq redrive list` and `show` work from any machine.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::nats::kv;
use crate::dlq::DlqFilters;

pub const REDRIVE_BUCKET: &str = "iotctl_redrives";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedriveStatus {
    Running,
    Interrupted,
    Completed,
    Failed,
}

/// Where a dead letter the contract now accepts is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RedriveTarget {
    /// The replay stream (`replay.{original subject}`), which RisingWave's replay path counts once.
    #[default]
    Replay,
    /// The original subject, in the telemetry stream, as if the device sent it again.
    Original,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedriveCounts {
    /// Dead letters read in the range.
    pub read: u64,
    /// Selected by the filters.
    pub matched: u64,
    /// Accepted by the current contract, republished and removed from the dead-letter stream.
    pub redriven: u64,
    /// Republishes the target already held (same Nats-Msg-Id).
    pub duplicates: u64,
    /// Still refused; they stay, counted by reason in `still_failing`.
    pub still_failing: u64,
    /// Not selected by the filters (or past `--limit`).
    pub skipped: u64,
}

/// One redrive in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedriveRecord {
    pub id: String,
    pub pipeline: String,
    pub dlq_stream: String,
    pub filters: DlqFilters,
    pub target: RedriveTarget,
    /// The dead-letter stream's last sequence when the redrive started.
    pub end_sequence: u64,
    /// The last dead-letter sequence settled in order; a resume starts after it.
    pub checkpoint: u64,
    pub status: RedriveStatus,
    pub counts: RedriveCounts,
    /// Reason class → dead letters that still fail for it.
    pub still_failing: BTreeMap<String, u64>,
    /// Redriven dead letters (at or before the checkpoint) still to delete from the stream:
    /// deleted after the record that counts them is saved, so a crash loses no count.
    pub pending_deletes: Vec<u64>,
    pub limit: Option<u64>,
    pub rate_limit: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The redrive ledger: one record per redrive, keyed by its id.
pub struct RedriveLedger(kv::Ledger<RedriveRecord>);

impl RedriveLedger {
    pub async fn open(js: &jetstream::Context) -> anyhow::Result<RedriveLedger> {
        let keep = StdDuration::from_secs(30 * crate::time::DAY_SECS as u64);
        Ok(RedriveLedger(
            kv::Ledger::open(js, REDRIVE_BUCKET, keep, "the redrive ledger").await?,
        ))
    }

    pub async fn save(&self, record: &RedriveRecord) -> anyhow::Result<()> {
        self.0.save(&record.id, record).await
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<RedriveRecord>> {
        self.0.get(id).await
    }

    /// Every redrive, oldest first.
    pub async fn list(&self) -> anyhow::Result<Vec<RedriveRecord>> {
        let mut records = self.0.list().await?;
        records.sort_by_key(|record| record.started_at);
        Ok(records)
    }
}
