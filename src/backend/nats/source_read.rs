//! How a replay reads the telemetry stream (and counts what it will read): in stream order, after a checkpoint, recreating
//! its consumer after gaps and reconnects. Two readers, chosen by what paces the replay.

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use std::time::Duration as StdDuration;

use super::ordered_read::{self, Delivery, OrderedRead};

#[expect(clippy::large_enum_variant, reason = "one per replay, never moved in a loop")]
pub enum SourceRead {
    /// async-nats's pull ordered consumer: deliveries follow the client's requests, so the
    /// server's CPU goes to the republished messages' acks, which pace a replay into the
    /// replay stream (a push reader ran ahead of them: 72 % of the raw loop instead of 97 %).
    Paced(consumer::pull::Ordered),
    /// The plain-subscription push reader: no request round trips, for loads paced by the
    /// warehouse (reading alone: ~320k instead of ~170k msg/s).
    Push(OrderedRead),
}

impl SourceRead {
    /// Starts reading `stream` (subjects matching `filter`) from `start`.
    pub async fn start(
        js: &jetstream::Context,
        stream: &stream::Stream,
        filter: &str,
        start: consumer::DeliverPolicy,
        paced: bool,
    ) -> anyhow::Result<SourceRead> {
        let read = if paced {
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: filter.to_string(),
                    deliver_policy: start,
                    ..Default::default()
                })
                .await?;
            SourceRead::Paced(consumer.messages().await?)
        } else {
            SourceRead::Push(
                OrderedRead::start(js.client(), stream.clone(), filter, start, ordered_read::IDLE_HEARTBEAT).await?,
            )
        };
        Ok(read)
    }

    /// The next message in stream order; `None` once the consumer has ended. After an error
    /// the next call goes on after the last message delivered.
    pub async fn next(&mut self) -> anyhow::Result<Option<Delivery>> {
        match self {
            SourceRead::Push(read) => read.next().await.map(Some),
            SourceRead::Paced(messages) => {
                let Some(message) = messages.next().await else {
                    return Ok(None);
                };
                let message = message.context("reading the telemetry stream failed")?;
                let info = message
                    .info()
                    .map_err(|e| anyhow::anyhow!("message without JetStream metadata: {e}"))?;
                let (stream_sequence, pending) = (info.stream_sequence, info.pending);
                let published_nanos = info.published.unix_timestamp_nanos();
                Ok(Some(Delivery {
                    subject: message.subject.clone(),
                    payload: message.payload.clone(),
                    headers: message.headers.clone(),
                    stream_sequence,
                    published_nanos,
                    pending,
                }))
            }
        }
    }

    /// Ends the read; the push reader deletes its consumer (the pull one expires on its own).
    pub async fn finish(self) {
        if let SourceRead::Push(read) = self {
            read.finish().await;
        }
    }
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

/// Read errors in a row: the next read recreates the consumer after the last message
/// delivered, so a reader retries for a while (server restarts, reconnects) before giving up.
pub struct ReadRetries {
    failing_since: Option<std::time::Instant>,
    give_up_after: StdDuration,
}

impl ReadRetries {
    pub fn new(give_up_after: StdDuration) -> ReadRetries {
        ReadRetries {
            failing_since: None,
            give_up_after,
        }
    }

    /// A read succeeded: the next error starts a new count.
    pub fn succeeded(&mut self) {
        self.failing_since = None;
    }

    /// A read failed: waits a moment, or gives up with the error once failing too long.
    pub async fn failed(&mut self, error: anyhow::Error) -> anyhow::Result<()> {
        let first = *self.failing_since.get_or_insert_with(std::time::Instant::now);
        if first.elapsed() > self.give_up_after {
            let seconds = self.give_up_after.as_secs();
            return Err(error.context(format!("reading the telemetry stream kept failing for {seconds} s")));
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        Ok(())
    }
}
