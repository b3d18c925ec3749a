//! Publishes a simulation into NATS: a generator thread fills batches, the async side publishes
//! them with pipelined JetStream acks (a bounded window), so both cores stay busy.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use crate::simulate::{SimEvent, Simulation};

/// Publishes awaiting their ack.
const WINDOW: usize = 8_192;
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Events handed from the generator thread to the publisher at a time.
const BATCH: usize = 2_048;

struct Outgoing {
    subject: String,
    /// Empty unless ids are sent.
    event_id: String,
    payload: Bytes,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct SimulateCounts {
    pub published: u64,
    pub stored: u64,
    /// Acked as duplicates: the same event id was already in the stream's duplicate window.
    pub duplicates: u64,
    pub late: u64,
    pub malformed: u64,
    pub anomalies: u64,
    pub bytes: u64,
}

pub trait SimulateObserver {
    fn progress(&mut self, counts: &SimulateCounts);
}

/// Runs the simulation to the end; returns the counts once every publish is acked. With
/// `with_ids`, each event's id is its `Nats-Msg-Id`: re-publishing the same range within the
/// stream's duplicate window stores nothing twice (at about half the throughput).
pub async fn publish(
    client: &async_nats::Client,
    simulation: Simulation,
    with_ids: bool,
    observer: &mut dyn SimulateObserver,
) -> anyhow::Result<SimulateCounts> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Vec<Outgoing>, SimulateCounts)>(8);
    let generator = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let mut counts = SimulateCounts::default();
        let result: Result<(), ()> = simulation.run(|e: &SimEvent| {
            counts.late += u64::from(e.late);
            counts.malformed += u64::from(e.malformed.is_some());
            counts.anomalies += u64::from(e.anomaly);
            batch.push(Outgoing {
                subject: e.subject.to_string(),
                event_id: if with_ids {
                    e.event_id.to_string()
                } else {
                    String::new()
                },
                payload: Bytes::copy_from_slice(e.payload),
            });
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                sender
                    .blocking_send((full, std::mem::take(&mut counts)))
                    .map_err(|_| ())?;
            }
            Ok(())
        });
        if result.is_ok() && !batch.is_empty() {
            let _ = sender.blocking_send((batch, counts));
        }
    });

    // Core publishes with one reply inbox: JetStream acks arrive on a single subscription and
    // are counted, which costs far less per event than a future per publish.
    let inbox = client.new_inbox();
    let mut acks = client
        .subscribe(format!("{inbox}.*"))
        .await
        .context("cannot subscribe to NATS")?;
    let reply: async_nats::Subject = format!("{inbox}.a").into();
    let mut totals = SimulateCounts::default();
    let mut last_report = Instant::now();
    while let Some((batch, counts)) = receiver.recv().await {
        totals.late += counts.late;
        totals.malformed += counts.malformed;
        totals.anomalies += counts.anomalies;
        for event in batch {
            while totals.published - (totals.stored + totals.duplicates) >= WINDOW as u64 {
                settle(&mut acks, &mut totals).await?;
            }
            totals.bytes += event.payload.len() as u64;
            let sent = if with_ids {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, event.event_id.as_str());
                client
                    .publish_with_reply_and_headers(event.subject, reply.clone(), headers, event.payload)
                    .await
            } else {
                client
                    .publish_with_reply(event.subject, reply.clone(), event.payload)
                    .await
            };
            sent.context("cannot publish to NATS")?;
            totals.published += 1;
        }
        if last_report.elapsed().as_millis() >= 200 {
            observer.progress(&totals);
            last_report = Instant::now();
        }
    }
    generator.await.context("the generator thread failed")?;
    client.flush().await.context("cannot flush to NATS")?;
    while totals.stored + totals.duplicates < totals.published {
        settle(&mut acks, &mut totals).await?;
    }
    observer.progress(&totals);
    Ok(totals)
}

/// Counts the next JetStream ack; an error reply (e.g. no stream captures the subject) fails the run.
async fn settle(acks: &mut async_nats::Subscriber, totals: &mut SimulateCounts) -> anyhow::Result<()> {
    let message = tokio::time::timeout(ACK_TIMEOUT, acks.next())
        .await
        .context("JetStream stopped acknowledging publishes")?
        .context("the NATS connection closed")?;
    if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        anyhow::bail!("no stream captures the telemetry subjects");
    }
    let text = &message.payload[..];
    if memchr(text, b"\"error\"") {
        anyhow::bail!("JetStream refused a publish: {}", String::from_utf8_lossy(text));
    }
    // The server writes `"duplicate": true` (with a space) and omits the key otherwise.
    if memchr(text, b"\"duplicate\"") && !memchr(text, b"\"duplicate\":false") {
        totals.duplicates += 1;
    } else {
        totals.stored += 1;
    }
    Ok(())
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
