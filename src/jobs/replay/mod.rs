//! Backfill replays: read a time range of the telemetry stream in order, check each event
//! against the contract, republish valid ones under the replay root (with a `Nats-Msg-Id`
//! derived from source stream and sequence, so a repeat stores nothing) or load them into the
//! warehouse, and send invalid ones to the dead-letter stream with their reason. The last
//! source sequence settled in order is checkpointed to the NATS KV ledger at least twice a
//! second; `--resume` continues there.

mod record;

use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::nats::ordered_read::Delivery;
use crate::backend::nats::publish_window::{Publish, PublishWindow, Settled};
use crate::backend::nats::source_read::{ReadRetries, SourceRead, count_from};
use crate::contract::classify::{Verdict, classify};
use crate::contract::fast::FastContract;
use crate::contract::flat::EventFields;
use crate::contract::payload::PayloadValidator;
use crate::dlq::letter;
use crate::spec::Spec;
use crate::spec::duration::Duration;
use crate::spec::subjects::{TelemetrySubject, dead_letter_subject, replay_subject};
use crate::time::Day;
pub use record::{Counts, LEDGER_BUCKET, Ledger, ReplayRecord, ReplayStatus, ReplayTarget, RestateStatus, new_id};

/// In-flight publishes; kept below async-nats' default max_ack_inflight (5000).
pub const WINDOW: usize = 2048;

/// The filters a replay selects events with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    pub site: Option<String>,
    pub device_type: Option<String>,
    pub metric: Option<String>,
    /// Matched against the payload's `device_id` (it is not in the subject).
    pub device: Option<String>,
}

impl Filters {
    /// The subject filter on the telemetry stream (`TelemetrySubject::filter`).
    pub fn subject(&self, layout: &TelemetrySubject) -> String {
        layout.filter(
            self.site.as_deref(),
            self.device_type.as_deref(),
            self.metric.as_deref(),
        )
    }
}

/// The dedupe id of a source message: the same event replayed twice stores once.
pub fn message_id(stream: &str, sequence: u64) -> String {
    format!("{stream}:{sequence}")
}

/// Where valid events go.
pub enum Target {
    /// Republished into the replay stream.
    Stream,
    /// Upserted into the warehouse's raw table.
    Warehouse(crate::backend::warehouse_load::WarehouseLoader),
}

/// What a dry run or a preflight learns about the range.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub subject_filter: String,
    pub messages: u64,
    pub estimated_bytes: u64,
    pub start_sequence: u64,
    pub end_sequence: u64,
    /// How much of the requested range the stream no longer holds.
    pub missing: Option<String>,
    pub oldest: Option<String>,
}

/// Resolves the range against the telemetry stream.
pub async fn preflight(stream: &mut stream::Stream, filter: &str, since: OffsetDateTime) -> anyhow::Result<Preflight> {
    let info = stream.info().await.context("cannot read the telemetry stream")?.clone();
    let state = &info.state;
    let (messages, start_sequence) = count_from(
        stream,
        filter,
        consumer::DeliverPolicy::ByStartTime { start_time: since },
    )
    .await?;
    let average = state.bytes.checked_div(state.messages).unwrap_or(0);
    let oldest = (state.messages > 0).then_some(state.first_timestamp);
    // Only history the stream has dropped is missing; a young stream simply has less of it.
    let dropped_history = state.first_sequence > 1;
    let missing = oldest
        .filter(|first| dropped_history && *first > since)
        .map(|first| Duration::from_secs((first - since).whole_seconds().max(0) as u64).to_string());
    Ok(Preflight {
        subject_filter: filter.to_string(),
        messages,
        estimated_bytes: messages * average,
        start_sequence,
        end_sequence: state.last_sequence,
        missing,
        oldest: oldest.map(crate::time::rfc3339),
    })
}

/// What became of one source message; settled in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Valid, republished under the replay root.
    Republished,
    /// Invalid, published to the dead-letter stream with its reason.
    DeadLettered,
    /// Valid, queued for the warehouse batch (counted when the batch commits).
    Loaded,
    /// Not selected by `--device`.
    Skipped,
    /// A probe's canary: it paged when it was live, and a replay counts it nowhere.
    Canary,
}

/// A source message's place in the publish window.
struct Entry {
    sequence: u64,
    /// Payload size; the message counts as read once settled, in step with the checkpoint.
    bytes: u64,
    disposition: Disposition,
}

/// How a run ended (the record's status says the same, for the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every message of the range was settled.
    Completed,
    /// Stopped (Ctrl-C) with the checkpoint saved; `--resume` goes on from it.
    Interrupted,
}

/// Progress callbacks; the command decides how to show them.
pub trait Observer {
    fn progress(&mut self, record: &ReplayRecord, rate: f64);
}

/// A replay job: where it reads and writes, and how fast it may go.
pub struct Replay<'a> {
    pub js: &'a jetstream::Context,
    pub spec: &'a Spec,
    pub ledger: &'a Ledger,
    pub rate_limit: Option<u64>,
}

impl Replay<'_> {
    /// Runs (or resumes) `record` until the range is done, `stop` resolves, or an error. The
    /// record is updated in place and checkpointed to the ledger.
    pub async fn run(
        &self,
        record: &mut ReplayRecord,
        target: &mut Target,
        observer: &mut dyn Observer,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<RunOutcome> {
        let stream = self
            .js
            .get_stream(&record.source_stream)
            .await
            .with_context(|| format!("no telemetry stream `{}`", record.source_stream))?;
        let start = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: record.checkpoint + 1,
        };
        // A fresh replay was counted by its preflight; a resumed one counts what is left.
        let remaining = if record.counts.read == 0 && record.status == ReplayStatus::Running {
            record.total
        } else {
            count_from(&stream, &record.subject_filter, start).await?.0
        };
        record.status = ReplayStatus::Running;
        self.ledger.save(record).await?;
        let mut state = RunState::new(self, record, target, observer)?;
        let interrupted = if remaining > 0 {
            let paced = !state.to_warehouse();
            let read = SourceRead::start(self.js, &stream, &state.record.subject_filter, start, paced)
                .await
                .context("cannot start reading the telemetry stream")?;
            state.read_range(read, remaining, stop).await?
        } else {
            false
        };
        state.finish(interrupted).await
    }
}

/// One run's moving parts.
struct RunState<'r, 'j> {
    job: &'r Replay<'j>,
    record: &'r mut ReplayRecord,
    target: &'r mut Target,
    observer: &'r mut dyn Observer,
    validator: PayloadValidator,
    fast: FastContract,
    window: PublishWindow<Entry>,
    days: DaysCovered,
    started: Instant,
    /// What earlier runs of a resumed replay spent.
    earlier_runs_seconds: f64,
    last_save: Instant,
    handled: u64,
    /// In warehouse mode the checkpoint moves only when a batch is committed.
    last_read: u64,
}

impl<'r, 'j> RunState<'r, 'j> {
    fn new(
        job: &'r Replay<'j>,
        record: &'r mut ReplayRecord,
        target: &'r mut Target,
        observer: &'r mut dyn Observer,
    ) -> anyhow::Result<Self> {
        Ok(RunState {
            validator: PayloadValidator::for_spec(job.spec)?,
            fast: FastContract::for_spec(job.spec),
            window: PublishWindow::new(job.js.clone(), WINDOW),
            days: DaysCovered::of(record),
            started: Instant::now(),
            earlier_runs_seconds: record.run_seconds,
            last_save: Instant::now(),
            handled: 0,
            last_read: record.checkpoint,
            job,
            record,
            target,
            observer,
        })
    }

    fn to_warehouse(&self) -> bool {
        matches!(self.target, Target::Warehouse(_))
    }

    /// Reads until the range ends or `stop` resolves; returns whether it was stopped.
    async fn read_range(
        &mut self,
        mut read: SourceRead,
        remaining: u64,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<bool> {
        tokio::pin!(stop);
        let until_nanos = self.record.until.map(OffsetDateTime::unix_timestamp_nanos);
        let mut retries = ReadRetries::new(StdDuration::from_secs(120));
        let interrupted = loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => break true,
                next = read.next() => next,
            };
            let message = match next {
                Ok(Some(message)) => message,
                Ok(None) => break false,
                Err(e) => {
                    retries.failed(e).await?;
                    continue;
                }
            };
            retries.succeeded();
            let (sequence, pending) = (message.stream_sequence, message.pending);
            if sequence > self.record.end_sequence || until_nanos.is_some_and(|u| message.published_nanos > u) {
                break false;
            }
            self.handle(&message).await?;
            self.pace().await;
            if pending == 0 || self.handled >= remaining || sequence >= self.record.end_sequence {
                break false;
            }
        };
        read.finish().await;
        Ok(interrupted)
    }

    /// Classifies one message, sends it on its way, and checkpoints when due.
    async fn handle(&mut self, message: &Delivery) -> anyhow::Result<()> {
        let original = message.subject.as_str();
        let verdict = classify(
            &self.fast,
            &self.validator,
            (original, (message.published_nanos / 1_000_000) as i64),
            &message.payload,
            self.record.filters.device.as_deref(),
        );
        let sequence = message.stream_sequence;
        self.last_read = sequence;
        let (disposition, publish) = match verdict {
            Verdict::Valid(event) => match &mut *self.target {
                Target::Warehouse(loader) => {
                    self.days.note(&event, self.record);
                    loader.push(&event);
                    (Disposition::Loaded, None)
                }
                Target::Stream => (Disposition::Republished, Some(self.republish(message))),
            },
            Verdict::Invalid(reason) => (Disposition::DeadLettered, Some(self.dead_letter(message, &reason))),
            Verdict::NotSelected => (Disposition::Skipped, None),
            Verdict::Canary => (Disposition::Canary, None),
        };
        let entry = Entry {
            sequence,
            bytes: message.payload.len() as u64,
            disposition,
        };
        self.window.push(entry, publish).await;
        self.handled += 1;
        while self.window.is_full() {
            self.settle_front(!self.to_warehouse()).await?;
        }
        let batch_ready = matches!(&*self.target, Target::Warehouse(loader) if loader.batch_ready());
        if batch_ready || self.last_save.elapsed() >= StdDuration::from_millis(500) {
            self.checkpoint().await?;
        }
        Ok(())
    }

    fn republish(&self, message: &Delivery) -> Publish {
        // No extra headers on the hot path: the Msg-Id already names the source.
        Publish {
            subject: replay_subject(message.subject.as_str()),
            payload: message.payload.clone(),
            headers: HeaderMap::new(),
            message_id: message_id(&self.record.source_stream, message.stream_sequence),
        }
    }

    fn dead_letter(&self, message: &Delivery, reason: &str) -> Publish {
        let original = message.subject.as_str();
        let mut headers = HeaderMap::new();
        headers.insert(letter::HEADER_SUBJECT, original);
        headers.insert(letter::HEADER_SEQUENCE, message.stream_sequence.to_string().as_str());
        headers.insert(letter::HEADER_PUBLISHED, message.published_nanos.to_string().as_str());
        headers.insert(letter::HEADER_REASON, reason);
        headers.insert(letter::HEADER_REPLAY, self.record.id.as_str());
        // A redriven event that fails again keeps its count, so it cannot cycle forever.
        if let Some(count) = message.headers.as_ref().and_then(|h| h.get(letter::HEADER_REDRIVES)) {
            headers.insert(letter::HEADER_REDRIVES, count.as_str());
        }
        Publish {
            subject: dead_letter_subject(original),
            payload: message.payload.clone(),
            headers,
            message_id: format!(
                "dlq:{}",
                message_id(&self.record.source_stream, message.stream_sequence)
            ),
        }
    }

    /// Settles the oldest entry and counts it; `advance` moves the checkpoint past it.
    async fn settle_front(&mut self, advance: bool) -> anyhow::Result<()> {
        let Settled { tag: entry, duplicate } = self.window.settle_front().await?;
        let counts = &mut self.record.counts;
        counts.read += 1;
        counts.bytes += entry.bytes;
        counts.duplicates += u64::from(duplicate == Some(true));
        match entry.disposition {
            Disposition::Republished => counts.published += 1,
            Disposition::DeadLettered => counts.dead_lettered += 1,
            Disposition::Skipped => counts.skipped += 1,
            Disposition::Canary => counts.canaries += 1,
            Disposition::Loaded => {}
        }
        if advance {
            self.record.checkpoint = self.record.checkpoint.max(entry.sequence);
        }
        Ok(())
    }

    /// Saves progress to the ledger. The checkpoint already stops before the first unsettled
    /// publish, so the window stays full while it is saved; a warehouse batch may only commit
    /// once the dead letters it passes over are acked, so those are drained first.
    async fn checkpoint(&mut self) -> anyhow::Result<()> {
        while self.to_warehouse() && !self.window.is_empty() {
            self.settle_front(false).await?;
        }
        commit_batch(self.target, self.record, self.last_read, false).await?;
        self.stamp();
        self.job.ledger.save(self.record).await?;
        self.report();
        self.last_save = Instant::now();
        Ok(())
    }

    /// The record's clock: when it was last saved, and the time spent running over every run.
    fn stamp(&mut self) {
        self.record.updated_at = OffsetDateTime::now_utc();
        self.record.run_seconds = self.earlier_runs_seconds + self.started.elapsed().as_secs_f64();
    }

    fn report(&mut self) {
        let rate = self.record.counts.read as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.observer.progress(self.record, rate);
    }

    /// Holds the replay to `--rate`.
    async fn pace(&self) {
        if let Some(limit) = self.job.rate_limit {
            let due = StdDuration::from_secs_f64(self.handled as f64 / limit.max(1) as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Settles every outcome in order, commits the last batch and saves the final record.
    async fn finish(mut self, interrupted: bool) -> anyhow::Result<RunOutcome> {
        while !self.window.is_empty() {
            self.settle_front(!self.to_warehouse()).await?;
        }
        commit_batch(self.target, self.record, self.last_read, true).await?;
        self.stamp();
        let (status, outcome) = if interrupted {
            (ReplayStatus::Interrupted, RunOutcome::Interrupted)
        } else {
            (ReplayStatus::Completed, RunOutcome::Completed)
        };
        self.record.status = status;
        self.job.ledger.save(self.record).await?;
        self.report();
        Ok(outcome)
    }
}

/// Hands the pending warehouse batch (everything read up to `last_read`) to the writer; the
/// checkpoint moves past a batch only once it is committed. `wait` settles everything.
async fn commit_batch(
    target: &mut Target,
    record: &mut ReplayRecord,
    last_read: u64,
    wait: bool,
) -> anyhow::Result<()> {
    if let Target::Warehouse(loader) = target {
        let committed = if wait {
            loader.flush_all(last_read).await?
        } else {
            loader.submit(last_read).await?
        };
        if let Some(batch) = committed {
            record.counts.published += batch.rows;
            record.checkpoint = record.checkpoint.max(batch.upto);
        }
    }
    Ok(())
}

/// The UTC days a warehouse load covers: one timestamp parse per event.
struct DaysCovered(Option<(Day, Day)>);

impl DaysCovered {
    /// Starts from what the record already covers (a resumed replay).
    fn of(record: &ReplayRecord) -> DaysCovered {
        DaysCovered(record.first_day.zip(record.last_day))
    }

    fn note(&mut self, event: &impl EventFields, record: &mut ReplayRecord) {
        let Some(ms) = event
            .field("ts")
            .and_then(|ts| ts.as_str().and_then(crate::time::parse_rfc3339_ms))
        else {
            return;
        };
        let day = Day::of_ms(ms);
        let (first, last) = self.0.map_or((day, day), |(f, l)| (f.min(day), l.max(day)));
        if self.0 != Some((first, last)) {
            self.0 = Some((first, last));
            record.first_day = Some(first);
            record.last_day = Some(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_build_subjects_and_ids() {
        let filters = Filters {
            site: Some("berlin".into()),
            metric: Some("temp".into()),
            ..Default::default()
        };
        assert_eq!(
            filters.subject(&TelemetrySubject::with_prefix("iot")),
            "iot.berlin.*.temp"
        );
        assert_eq!(
            Filters::default().subject(&TelemetrySubject::with_prefix("fleet.eu")),
            "fleet.eu.>"
        );
        let device_only = Filters {
            device: Some("d1".into()),
            ..Default::default()
        };
        assert_eq!(device_only.subject(&TelemetrySubject::with_prefix("iot")), "iot.>");
        assert_eq!(message_id("T", 42), "T:42");
    }
}
