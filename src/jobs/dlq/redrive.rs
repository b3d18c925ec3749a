//! `dlq redrive`: reads the dead-letter stream in order, checks each selected dead letter
//! against the current contract, republishes the ones it now accepts (with a `Nats-Msg-Id`
//! from the dead letter's identity and a redrive count) and removes them from the dead-letter
//! stream once their republish is acked and counted; the rest stay, counted by their reason
//! today. Checkpointed to the redrive ledger like a replay; `--resume` goes on after SIGKILL.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use serde::Serialize;
use time::OffsetDateTime;

use super::{RedriveLedger, RedriveRecord, RedriveStatus, RedriveTarget, dead_letter_stream, parse_delivery};
use crate::backend::nats::Nats;
use crate::backend::nats::ordered_read::{self, OrderedRead};
use crate::backend::nats::publish_window::{Publish, PublishWindow, Settled};
use crate::backend::nats::source_read::ReadRetries;
use crate::contract::classify::{Verdict, classify};
use crate::contract::fast::FastContract;
use crate::contract::payload::PayloadValidator;
use crate::dlq::DlqFilters;
use crate::dlq::letter::{self, DeadLetter, MAX_REDRIVES};
use crate::spec::Spec;
use crate::spec::streams::StreamRole;
use crate::spec::subjects::{TelemetrySubject, replay_subject};

/// Publishes in flight, as for a replay.
const WINDOW: usize = 2048;

/// What the current contract says of one dead letter.
pub enum Decision {
    /// Accepted now: republish it.
    Redrive(Publish),
    /// Still refused, for this reason (a reason class).
    Stays(String),
}

/// The checks of one dead letter, shared by the dry run and the run.
pub struct Judge {
    fast: FastContract,
    validator: PayloadValidator,
    telemetry_stream: String,
    dlq_stream: String,
    target: RedriveTarget,
}

impl Judge {
    pub fn new(spec: &Spec, target: RedriveTarget) -> anyhow::Result<Judge> {
        Ok(Judge {
            fast: FastContract::for_spec(spec),
            validator: PayloadValidator::for_spec(spec)?,
            telemetry_stream: spec.stream(StreamRole::Telemetry).name.to_string(),
            dlq_stream: spec.stream(StreamRole::DeadLetter).name.to_string(),
            target,
        })
    }

    pub fn layout(&self) -> &TelemetrySubject {
        self.fast.subjects()
    }

    pub fn decide(&self, letter: &DeadLetter) -> Decision {
        if letter.redrive_count >= MAX_REDRIVES {
            return Decision::Stays(format!("redriven {MAX_REDRIVES} times already"));
        }
        let Some(subject) = letter.original_subject.as_deref() else {
            return Decision::Stays("no original subject".into());
        };
        // The clock-skew check's reference is when the event first arrived, not now.
        let received_ms = letter.original_published_ms.unwrap_or(letter.stored_ms);
        match classify(
            &self.fast,
            &self.validator,
            (subject, received_ms),
            &letter.payload,
            None,
        ) {
            // A canary redriven is left out of every count downstream, as a live one is.
            Verdict::Valid(_) | Verdict::Canary => Decision::Redrive(self.publish(letter, subject)),
            Verdict::Invalid(reason) => Decision::Stays(letter::reason_class(&reason)),
            Verdict::NotSelected => Decision::Stays("not selected".into()),
        }
    }

    fn publish(&self, letter: &DeadLetter, subject: &str) -> Publish {
        // The same event redriven twice, or replayed and redriven, is stored once: an iotctl
        // dead letter names its source, so the id is the one replay gives that event.
        let message_id = match (letter.original_sequence, self.target) {
            (Some(sequence), RedriveTarget::Replay) => {
                crate::jobs::replay::message_id(&self.telemetry_stream, sequence)
            }
            (Some(sequence), RedriveTarget::Original) => format!("redrive:{}:{sequence}", self.telemetry_stream),
            (None, _) => format!("redrive:{}:{}", self.dlq_stream, letter.sequence),
        };
        let mut headers = HeaderMap::new();
        headers.insert(letter::HEADER_REDRIVES, (letter.redrive_count + 1).to_string().as_str());
        let subject = match self.target {
            RedriveTarget::Replay => replay_subject(subject),
            RedriveTarget::Original => subject.to_string(),
        };
        Publish {
            subject,
            payload: letter.payload.clone().into(),
            headers,
            message_id,
        }
    }
}

/// What a dry run found: nothing is written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DryRun {
    pub read: u64,
    pub matched: u64,
    pub would_redrive: u64,
    /// Reason class → dead letters that would stay.
    pub would_stay: BTreeMap<String, u64>,
}

/// Decides every selected dead letter, writing nothing.
pub async fn dry_run(
    nats: &Nats,
    spec: &Spec,
    judge: &Judge,
    filters: &DlqFilters,
    limit: Option<u64>,
) -> anyhow::Result<DryRun> {
    let mut found = DryRun::default();
    super::read_letters(nats, spec, consumer::DeliverPolicy::All, None, |read| {
        found.read += 1;
        let letter = match read {
            Ok(letter) if filters.matches(&letter, judge.layout()) => letter,
            Ok(_) => return,
            Err(_) if filters.is_empty() => {
                *found
                    .would_stay
                    .entry("not a dead letter of iotctl or RisingWave".into())
                    .or_default() += 1;
                return;
            }
            Err(_) => return,
        };
        if limit.is_some_and(|l| found.matched >= l) {
            return;
        }
        found.matched += 1;
        match judge.decide(&letter) {
            Decision::Redrive(_) => found.would_redrive += 1,
            Decision::Stays(reason) => *found.would_stay.entry(reason).or_default() += 1,
        }
    })
    .await?;
    Ok(found)
}

/// Progress callbacks; the command decides how to show them.
pub trait Observer {
    fn progress(&mut self, record: &RedriveRecord, rate: f64);
}

/// How a run ended (the record's status says the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Interrupted,
}

/// Where a dead letter's settle leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Disposition {
    Redriven,
    Stays(String),
    Skipped,
}

struct Entry {
    sequence: u64,
    disposition: Disposition,
}

/// A redrive job: where it reads and writes, and how fast it may go.
pub struct Redrive<'a> {
    pub nats: &'a Nats,
    pub spec: &'a Spec,
    pub ledger: &'a RedriveLedger,
    pub judge: &'a Judge,
}

impl Redrive<'_> {
    /// Finishes the deletions an interrupted redrive left: they were counted, not yet done.
    pub async fn finish_pending_deletes(&self) -> anyhow::Result<()> {
        for mut record in self.ledger.list().await? {
            if !record.pending_deletes.is_empty() {
                delete_letters(&self.nats.js, &record.dlq_stream, &record.pending_deletes).await?;
                record.pending_deletes.clear();
                self.ledger.save(&record).await?;
            }
        }
        Ok(())
    }

    /// Runs (or resumes) `record` until the range is done, `stop` resolves, or an error.
    pub async fn run(
        &self,
        record: &mut RedriveRecord,
        observer: &mut dyn Observer,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<RunOutcome> {
        let mut stream = dead_letter_stream(self.nats, self.spec).await?;
        delete_letters(&self.nats.js, &record.dlq_stream, &record.pending_deletes).await?;
        record.pending_deletes.clear();
        record.status = RedriveStatus::Running;
        self.ledger.save(record).await?;
        // Messages at or before the checkpoint were decided before this run: they stay.
        let first = stream
            .info()
            .await
            .context("cannot read the dead-letter stream")?
            .state
            .first_sequence;
        let lowest_kept = (first <= record.checkpoint).then_some(first);
        let mut state = RunState {
            job: self,
            record,
            observer,
            window: PublishWindow::new(self.nats.js.clone(), WINDOW),
            deleting: None,
            lowest_kept,
            started: Instant::now(),
            last_save: Instant::now(),
            handled: 0,
        };
        let interrupted = if state.record.checkpoint < state.record.end_sequence {
            let start = consumer::DeliverPolicy::ByStartSequence {
                start_sequence: state.record.checkpoint + 1,
            };
            let read = OrderedRead::start(
                self.nats.client.clone(),
                stream,
                "",
                start,
                ordered_read::IDLE_HEARTBEAT,
            )
            .await
            .context("cannot read the dead-letter stream")?;
            state.read_range(read, stop).await?
        } else {
            false
        };
        state.finish(interrupted).await
    }
}

/// Deletes redriven dead letters, many requests in flight (one at a time costs a round trip
/// each), without the secure erase `Stream::delete_message` asks for: overwriting each message
/// in its block made the server the bottleneck (about 100 deletes/s on a 200k-message stream).
/// One already gone is fine: a resumed redrive deletes again what it may have deleted.
async fn delete_letters(js: &jetstream::Context, stream: &str, sequences: &[u64]) -> anyhow::Result<()> {
    use futures::StreamExt;
    let subject = format!("STREAM.MSG.DELETE.{stream}");
    let subject = &subject;
    let mut deletes = futures::stream::iter(sequences.iter().copied())
        .map(|sequence| async move {
            let request = serde_json::json!({"seq": sequence, "no_erase": true});
            (
                sequence,
                js.request::<_, _, serde_json::Value>(subject.clone(), &request).await,
            )
        })
        .buffer_unordered(256);
    while let Some((sequence, result)) = deletes.next().await {
        let response = result.with_context(|| format!("cannot remove redriven dead letter {sequence}"))?;
        if let Some(error) = response.get("error")
            && !already_gone(error)
        {
            anyhow::bail!("cannot remove redriven dead letter {sequence}: {error}");
        }
    }
    Ok(())
}

/// Whether the server refused a delete because the message is not there any more: deleted
/// (10057, "no message found") or purged with the stream's head (10043, "sequence not found").
fn already_gone(error: &serde_json::Value) -> bool {
    matches!(error.get("err_code").and_then(|c| c.as_u64()), Some(10043 | 10057))
}

/// Deletes a settled batch. Every message below `lowest_kept` that is still in the stream is a
/// redriven one of this batch (the run saw every message in order and earlier batches are
/// gone), so those go in one purge; the rest one by one.
async fn delete_batch(
    js: jetstream::Context,
    stream: String,
    batch: Vec<u64>,
    lowest_kept: Option<u64>,
) -> anyhow::Result<()> {
    let (head, rest): (Vec<u64>, Vec<u64>) = batch
        .into_iter()
        .partition(|s| lowest_kept.is_none_or(|kept| *s < kept));
    if let Some(last) = head.iter().max() {
        let request = serde_json::json!({"seq": last + 1});
        let response: serde_json::Value = js
            .request(format!("STREAM.PURGE.{stream}"), &request)
            .await
            .with_context(|| format!("cannot remove redriven dead letters up to {last}"))?;
        if let Some(error) = response.get("error") {
            anyhow::bail!("cannot remove redriven dead letters up to {last}: {error}");
        }
    }
    delete_letters(&js, &stream, &rest).await
}

struct RunState<'r, 'j> {
    job: &'r Redrive<'j>,
    record: &'r mut RedriveRecord,
    observer: &'r mut dyn Observer,
    window: PublishWindow<Entry>,
    /// The deletion of the batch the last saved record listed, running while reading goes on.
    deleting: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The lowest sequence of a dead letter that stays (or was there before this run).
    lowest_kept: Option<u64>,
    started: Instant,
    last_save: Instant,
    handled: u64,
}

impl RunState<'_, '_> {
    async fn read_range(
        &mut self,
        mut read: OrderedRead,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<bool> {
        tokio::pin!(stop);
        let mut retries = ReadRetries::new(StdDuration::from_secs(120));
        let interrupted = loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => break true,
                next = read.next() => next,
            };
            let delivery = match next {
                Ok(delivery) => delivery,
                Err(e) => {
                    retries.failed(e).await?;
                    continue;
                }
            };
            retries.succeeded();
            let (sequence, pending) = (delivery.stream_sequence, delivery.pending);
            if sequence > self.record.end_sequence || self.limit_reached() {
                break false;
            }
            let read = parse_delivery(self.job.spec, &delivery);
            self.handle(sequence, read).await?;
            self.pace().await;
            if pending == 0 || sequence >= self.record.end_sequence {
                break false;
            }
        };
        read.finish().await;
        Ok(interrupted)
    }

    fn limit_reached(&self) -> bool {
        self.record
            .limit
            .is_some_and(|limit| self.record.counts.matched >= limit)
    }

    async fn handle(&mut self, sequence: u64, read: super::Read) -> anyhow::Result<()> {
        let judge = self.job.judge;
        self.record.counts.read += 1;
        let (disposition, publish) = match read {
            Ok(letter) if self.record.filters.matches(&letter, judge.layout()) => {
                self.record.counts.matched += 1;
                match judge.decide(&letter) {
                    Decision::Redrive(publish) => (Disposition::Redriven, Some(publish)),
                    Decision::Stays(reason) => (Disposition::Stays(reason), None),
                }
            }
            Err(_) if self.record.filters.is_empty() => {
                self.record.counts.matched += 1;
                (
                    Disposition::Stays("not a dead letter of iotctl or RisingWave".into()),
                    None,
                )
            }
            _ => (Disposition::Skipped, None),
        };
        self.window.push(Entry { sequence, disposition }, publish).await;
        self.handled += 1;
        while self.window.is_full() {
            self.settle_front().await?;
        }
        if self.last_save.elapsed() >= StdDuration::from_millis(500) || self.record.pending_deletes.len() >= 1024 {
            self.checkpoint().await?;
        }
        Ok(())
    }

    async fn settle_front(&mut self) -> anyhow::Result<()> {
        let Settled { tag: entry, duplicate } = self.window.settle_front().await?;
        let counts = &mut self.record.counts;
        match entry.disposition {
            Disposition::Redriven => {
                counts.redriven += 1;
                counts.duplicates += u64::from(duplicate == Some(true));
                self.record.pending_deletes.push(entry.sequence);
            }
            Disposition::Stays(reason) => {
                counts.still_failing += 1;
                *self.record.still_failing.entry(reason).or_default() += 1;
                self.lowest_kept = Some(self.lowest_kept.map_or(entry.sequence, |k| k.min(entry.sequence)));
            }
            Disposition::Skipped => {
                counts.skipped += 1;
                self.lowest_kept = Some(self.lowest_kept.map_or(entry.sequence, |k| k.min(entry.sequence)));
            }
        }
        self.record.checkpoint = self.record.checkpoint.max(entry.sequence);
        Ok(())
    }

    /// Saves the record (its counts include every settled dead letter, its pending list the
    /// redriven ones not yet deleted), then deletes that list in the background while reading
    /// goes on. The next checkpoint waits for those deletions before a save drops them.
    async fn checkpoint(&mut self) -> anyhow::Result<()> {
        self.await_deletions().await?;
        self.record.updated_at = OffsetDateTime::now_utc();
        self.job.ledger.save(self.record).await?;
        let batch = std::mem::take(&mut self.record.pending_deletes);
        let (js, stream) = (self.job.nats.js.clone(), self.record.dlq_stream.clone());
        self.deleting = Some(tokio::spawn(delete_batch(js, stream, batch, self.lowest_kept)));
        let rate = self.record.counts.read as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.observer.progress(self.record, rate);
        self.last_save = Instant::now();
        Ok(())
    }

    async fn await_deletions(&mut self) -> anyhow::Result<()> {
        if let Some(deleting) = self.deleting.take() {
            deleting.await.context("the deleting task failed")??;
        }
        Ok(())
    }

    async fn pace(&self) {
        if let Some(limit) = self.record.rate_limit {
            let due = StdDuration::from_secs_f64(self.handled as f64 / limit.max(1) as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Settles everything, saves and deletes what was redriven, and only then marks the record
    /// finished: a finished record never has deletions pending.
    async fn finish(mut self, interrupted: bool) -> anyhow::Result<RunOutcome> {
        while !self.window.is_empty() {
            self.settle_front().await?;
        }
        self.checkpoint().await?;
        self.await_deletions().await?;
        let outcome = if interrupted {
            self.record.status = RedriveStatus::Interrupted;
            RunOutcome::Interrupted
        } else {
            self.record.status = RedriveStatus::Completed;
            RunOutcome::Completed
        };
        self.job.ledger.save(self.record).await?;
        Ok(outcome)
    }
}

/// A new redrive's record, from the dead-letter stream's end when it starts.
pub async fn new_record(
    nats: &Nats,
    spec: &Spec,
    (filters, target): (DlqFilters, RedriveTarget),
    (limit, rate_limit): (Option<u64>, Option<u64>),
    now: OffsetDateTime,
) -> anyhow::Result<RedriveRecord> {
    let mut stream = dead_letter_stream(nats, spec).await?;
    let state = stream
        .info()
        .await
        .context("cannot read the dead-letter stream")?
        .state
        .clone();
    Ok(RedriveRecord {
        id: crate::jobs::replay::new_id(now),
        pipeline: spec.pipeline.name.to_string(),
        dlq_stream: spec.stream(StreamRole::DeadLetter).name.to_string(),
        filters,
        target,
        end_sequence: state.last_sequence,
        checkpoint: state.first_sequence.saturating_sub(1),
        status: RedriveStatus::Running,
        counts: Default::default(),
        still_failing: BTreeMap::new(),
        pending_deletes: Vec::new(),
        limit,
        rate_limit,
        started_at: now,
        updated_at: now,
    })
}
