//! Backfill replays: read a time range of the telemetry stream with an ordered consumer,
//! validate each event against the contract, republish valid ones under the replay root (with
//! a `Nats-Msg-Id` derived from source stream and sequence, so a repeat stores nothing) and send
//! invalid ones to the dead-letter stream with their reason. The last source sequence acked in
//! order is checkpointed to a NATS KV ledger at least every second; `--resume` continues there.

use std::collections::VecDeque;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer, stream};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use super::replay_ledger::{Counts, LEDGER_BUCKET, Ledger, ReplayRecord, ReplayStatus, new_id};
use super::replay_source::SourceRead;
use crate::contract::fast::{FastContract, subject_matches};
use crate::contract::flat::{EventFields, FlatEvent};
use crate::contract::payload::PayloadValidator;
use crate::contract::reasons;
use crate::spec::Spec;
use crate::spec::duration::Duration;
use crate::spec::event::envelope;
use crate::spec::subjects::{TelemetrySubject, dead_letter_subject, replay_subject};
use crate::time::Day;

/// In-flight publishes; kept below async-nats' default max_ack_inflight (5000).
pub const WINDOW: usize = 2048;

pub const HEADER_SUBJECT: &str = "Iotctl-Original-Subject";
pub const HEADER_SEQUENCE: &str = "Iotctl-Original-Sequence";
pub const HEADER_REASON: &str = "Iotctl-Reason";
pub const HEADER_REPLAY: &str = "Iotctl-Replay-Id";

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

/// Counts the messages matching `filter` from `start` on, using a short-lived consumer.
pub async fn count_from(
    stream: &stream::Stream,
    filter: &str,
    start: consumer::DeliverPolicy,
) -> anyhow::Result<(u64, u64)> {
    let mut probe = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: filter.to_string(),
            deliver_policy: start,
            inactive_threshold: StdDuration::from_secs(5),
            ..Default::default()
        })
        .await
        .context("cannot count the range")?;
    let info = probe.info().await?;
    let (pending, start_sequence) = (info.num_pending, info.delivered.stream_sequence + 1);
    let name = info.name.clone();
    let _ = stream.delete_consumer(&name).await;
    Ok((pending, start_sequence))
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

/// A publish waiting for its ack, kept whole so it can be sent again after a failure.
struct InFlight {
    sequence: u64,
    subject: String,
    payload: Bytes,
    headers: HeaderMap,
    dead_letter: bool,
    /// Whether this outcome is published at all (events skipped by `--device` are not).
    publishes: bool,
    /// A valid event queued for the warehouse batch (counted when the batch commits).
    loaded: bool,
    /// Payload size; the message counts as read once settled, in step with the checkpoint.
    bytes: u64,
    ack: Option<jetstream::context::PublishAckFuture>,
}

/// Progress callbacks; the command decides how to show them.
pub trait Observer {
    fn progress(&mut self, record: &ReplayRecord, rate: f64);
}

pub struct RunOptions {
    pub rate_limit: Option<u64>,
}

/// Runs (or resumes) `record` until the range is done, `stop` resolves, or an error. The
/// record is updated in place and checkpointed to `ledger`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    js: &jetstream::Context,
    spec: &Spec,
    ledger: &Ledger,
    record: &mut ReplayRecord,
    target: &mut Target,
    options: &RunOptions,
    observer: &mut dyn Observer,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let validator = PayloadValidator::for_spec(spec)?;
    let fast = FastContract::for_spec(spec);
    let stream = js
        .get_stream(&record.source_stream)
        .await
        .with_context(|| format!("no telemetry stream `{}`", record.source_stream))?;
    let start = consumer::DeliverPolicy::ByStartSequence {
        start_sequence: record.checkpoint + 1,
    };
    let (remaining, _) = count_from(&stream, &record.subject_filter, start).await?;
    record.status = ReplayStatus::Running;
    ledger.save(record).await?;
    let until = record.until;
    let mut window: VecDeque<InFlight> = VecDeque::with_capacity(WINDOW);
    let started = Instant::now();
    let mut last_save = Instant::now();
    let mut handled: u64 = 0;
    let mut interrupted = false;
    let to_warehouse = matches!(target, Target::Warehouse(_));
    // In warehouse mode the checkpoint moves only when a batch is committed.
    let mut last_read: u64 = record.checkpoint;
    let mut days = DaysCovered::of(record);
    tokio::pin!(stop);

    if remaining > 0 {
        let mut read = SourceRead::start(js, &stream, &record.subject_filter, start, !to_warehouse)
            .await
            .context("cannot start reading the telemetry stream")?;
        let until_nanos = until.map(OffsetDateTime::unix_timestamp_nanos);
        let mut errors_since: Option<Instant> = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => {
                    interrupted = true;
                    break;
                }
                next = read.next() => next,
            };
            let message = match next {
                Ok(Some(message)) => {
                    errors_since = None;
                    message
                }
                Ok(None) => break,
                Err(e) => {
                    // The next read recreates the consumer after the last message delivered.
                    let first = *errors_since.get_or_insert_with(Instant::now);
                    if first.elapsed() > StdDuration::from_secs(120) {
                        return Err(e.context("reading the telemetry stream kept failing for 2 minutes"));
                    }
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                    continue;
                }
            };
            let (sequence, pending) = (message.stream_sequence, message.pending);
            if sequence > record.end_sequence || until_nanos.is_some_and(|u| message.published_nanos > u) {
                break;
            }
            let original = message.subject.as_str();
            let bytes = message.payload.len() as u64;
            let outcome = classify(
                &fast,
                &validator,
                (original, (message.published_nanos / 1_000_000) as i64),
                &message.payload,
                record.filters.device.as_deref(),
            );
            last_read = sequence;
            let outcome = match (outcome, &mut *target) {
                (Outcome::Valid(event), Target::Warehouse(loader)) => {
                    days.note(&event, record);
                    loader.push(&event);
                    Outcome::Loaded
                }
                (other, _) => other,
            };
            let item = match outcome {
                Outcome::Loaded => InFlight {
                    sequence,
                    subject: String::new(),
                    payload: Bytes::new(),
                    headers: HeaderMap::new(),
                    dead_letter: false,
                    publishes: false,
                    loaded: true,
                    bytes,
                    ack: None,
                },
                Outcome::Skip => InFlight {
                    sequence,
                    subject: String::new(),
                    payload: Bytes::new(),
                    headers: HeaderMap::new(),
                    dead_letter: false,
                    publishes: false,
                    loaded: false,
                    bytes,
                    ack: None,
                },
                Outcome::Valid(_) => {
                    // No extra headers on the hot path: the Msg-Id already names the source.
                    let headers = HeaderMap::new();
                    InFlight {
                        sequence,
                        subject: replay_subject(original),
                        payload: message.payload.clone(),
                        headers,
                        dead_letter: false,
                        publishes: true,
                        loaded: false,
                        bytes,
                        ack: None,
                    }
                }
                Outcome::Invalid(reason) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(HEADER_SUBJECT, original);
                    headers.insert(HEADER_SEQUENCE, sequence.to_string().as_str());
                    headers.insert(HEADER_REASON, reason.as_str());
                    headers.insert(HEADER_REPLAY, record.id.as_str());
                    InFlight {
                        sequence,
                        subject: dead_letter_subject(original),
                        payload: message.payload.clone(),
                        headers,
                        dead_letter: true,
                        publishes: true,
                        loaded: false,
                        bytes,
                        ack: None,
                    }
                }
            };
            let mut item = item;
            if item.publishes {
                // A publish that cannot even be sent (server away) is retried when settled.
                item.ack = publish(js, &record.source_stream, &item).await.ok();
            }
            window.push_back(item);
            handled += 1;
            while window.len() >= WINDOW {
                settle_front(js, &mut window, record, !to_warehouse).await?;
            }
            let batch_ready = matches!(&*target, Target::Warehouse(loader) if loader.batch_ready());
            if batch_ready || last_save.elapsed() >= StdDuration::from_millis(500) {
                // The checkpoint already stops before the first unsettled publish, so the window
                // stays full while it is saved. A warehouse batch may only commit once the dead
                // letters it passes over are acked: drain those first.
                while to_warehouse && !window.is_empty() {
                    settle_front(js, &mut window, record, false).await?;
                }
                commit_batch(target, record, last_read, false).await?;
                record.updated_at = OffsetDateTime::now_utc();
                ledger.save(record).await?;
                observer.progress(
                    record,
                    record.counts.read as f64 / started.elapsed().as_secs_f64().max(1e-3),
                );
                last_save = Instant::now();
            }
            if let Some(limit) = options.rate_limit {
                let due = StdDuration::from_secs_f64(handled as f64 / limit.max(1) as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            if pending == 0 || handled >= remaining || sequence >= record.end_sequence {
                break;
            }
        }
        read.finish().await;
    }
    // Flush: every outcome acked, in order, before the final checkpoint.
    while !window.is_empty() {
        settle_front(js, &mut window, record, !to_warehouse).await?;
    }
    commit_batch(target, record, last_read, true).await?;
    record.updated_at = OffsetDateTime::now_utc();
    record.status = if interrupted {
        ReplayStatus::Interrupted
    } else {
        ReplayStatus::Completed
    };
    ledger.save(record).await?;
    observer.progress(
        record,
        record.counts.read as f64 / started.elapsed().as_secs_f64().max(1e-3),
    );
    Ok(())
}

enum Outcome<'p> {
    /// Valid; its fields, borrowed from the payload.
    Valid(FlatEvent<'p>),
    Invalid(String),
    Skip,
    /// Valid and queued for the warehouse batch.
    Loaded,
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

/// Contract check of one source message: JSON, the schema, and subject tokens = payload. The
/// check runs on a borrowed view of the payload; a `serde_json::Value` is built only to explain
/// a failure.
/// `(subject, published_ms)`: the message's subject and when the telemetry stream stored it.
fn classify<'p>(
    fast: &FastContract,
    validator: &PayloadValidator,
    (subject, published_ms): (&str, i64),
    payload: &'p [u8],
    device: Option<&str>,
) -> Outcome<'p> {
    let flat = match FlatEvent::parse(payload) {
        Ok(flat) => flat,
        Err(e) => return Outcome::Invalid(format!("{}: {e}", reasons::unparseable(payload))),
    };
    if !flat.is_object() {
        return Outcome::Invalid(reasons::NOT_JSON_OBJECT.to_string());
    }
    if let Err(reason) = reasons::check_parsed(payload) {
        return Outcome::Invalid(reason.to_string());
    }
    let event = fast.resolve(&flat);
    if let Some(device) = device
        && event
            .field_at(envelope::DEVICE_ID, "device_id")
            .as_ref()
            .and_then(|d| d.as_str())
            != Some(device)
    {
        return Outcome::Skip;
    }
    if !fast.is_valid_fields(&event) {
        // The JSON Schema explains what the fast check refused.
        let value: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(value) => value,
            Err(e) => return Outcome::Invalid(format!("{}: {e}", reasons::NOT_JSON_OBJECT)),
        };
        let reason = match validator.violations(&value).first() {
            Some(first) if first.pointer.is_empty() => first.message.clone(),
            Some(first) => format!("{}: {}", first.pointer, first.message),
            None => "breaks the contract".to_string(),
        };
        return Outcome::Invalid(reason.chars().take(512).collect());
    }
    if let Err(reason) = subject_matches(&event, subject, fast.subjects()) {
        return Outcome::Invalid(reason);
    }
    if let Err(reason) = fast.check_clock_skew(&event, published_ms) {
        return Outcome::Invalid(reason);
    }
    Outcome::Valid(flat)
}

async fn publish(
    js: &jetstream::Context,
    source: &str,
    item: &InFlight,
) -> anyhow::Result<jetstream::context::PublishAckFuture> {
    let id = if item.dead_letter {
        format!("dlq:{}", message_id(source, item.sequence))
    } else {
        message_id(source, item.sequence)
    };
    let message = jetstream::message::PublishMessage::build()
        .payload(item.payload.clone())
        .headers(item.headers.clone())
        .message_id(id);
    let subject: Subject = item.subject.clone().into();
    js.send_publish(subject, message).await.context("cannot publish")
}

/// Waits for the oldest publish's ack and advances the checkpoint past it. While the server
/// is away the publish is retried, and every later one in the window is sent again at once
/// (the Msg-Id makes repeats harmless) rather than awaited one timeout at a time.
async fn settle_front(
    js: &jetstream::Context,
    window: &mut VecDeque<InFlight>,
    record: &mut ReplayRecord,
    advance: bool,
) -> anyhow::Result<()> {
    let mut attempt = 0u32;
    loop {
        let front = window.front_mut().expect("settle_front needs an in-flight item");
        if !front.publishes {
            let item = window.pop_front().expect("non-empty");
            record.counts.read += 1;
            record.counts.bytes += item.bytes;
            if !item.loaded {
                record.counts.skipped += 1;
            }
            if advance {
                record.checkpoint = record.checkpoint.max(item.sequence);
            }
            return Ok(());
        }
        let result = match front.ack.take() {
            Some(ack) => ack.await.map_err(anyhow::Error::from),
            None => match publish(js, &record.source_stream, front).await {
                Ok(ack) => ack.await.map_err(anyhow::Error::from),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(ack) => {
                let item = window.pop_front().expect("non-empty");
                record.counts.read += 1;
                record.counts.bytes += item.bytes;
                if ack.duplicate {
                    record.counts.duplicates += 1;
                }
                if item.dead_letter {
                    record.counts.dead_lettered += 1;
                } else {
                    record.counts.published += 1;
                }
                if advance {
                    record.checkpoint = record.checkpoint.max(item.sequence);
                }
                return Ok(());
            }
            Err(e) => {
                attempt += 1;
                if attempt > 240 {
                    bail!(
                        "publishing source sequence {} kept failing for a minute: {e:#}",
                        window.front().map_or(0, |f| f.sequence)
                    );
                }
                tokio::time::sleep(StdDuration::from_millis(250)).await;
                for item in window.iter_mut().skip(1).filter(|i| i.publishes) {
                    item.ack = publish(js, &record.source_stream, item).await.ok();
                }
            }
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
