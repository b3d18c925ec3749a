//! The dead-letter stream, read: every dead letter in a range (`stats`), one by sequence
//! (`show`), and the redrive that sends the ones the contract now accepts back.

mod record;
pub mod redrive;

use std::time::Duration as StdDuration;

use anyhow::Context;
use async_nats::jetstream::{consumer, stream};

use crate::backend::nats::Nats;
use crate::backend::nats::ordered_read::{self, Delivery, OrderedRead};
use crate::backend::nats::source_read::ReadRetries;
use crate::dlq::letter::{self, DeadLetter};
use crate::spec::Spec;
use crate::spec::streams::StreamRole;
use crate::spec::subjects::risingwave_dead_letter_subject;
pub use record::{RedriveCounts, RedriveLedger, RedriveRecord, RedriveStatus, RedriveTarget};

/// The pipeline's dead-letter stream.
pub async fn dead_letter_stream(nats: &Nats, spec: &Spec) -> anyhow::Result<stream::Stream> {
    let name = spec.stream(StreamRole::DeadLetter).name.to_string();
    nats.js
        .get_stream(&name)
        .await
        .with_context(|| format!("no dead-letter stream `{name}` (run `iotctl apply` first)"))
}

/// A message of the dead-letter stream, read back; Err holds its sequence and why it is not a
/// dead letter of either writer.
pub type Read = Result<DeadLetter, (u64, String)>;

pub fn parse_delivery(spec: &Spec, delivery: &Delivery) -> Read {
    let stored_ms = (delivery.published_nanos / 1_000_000) as i64;
    letter::parse(
        (delivery.stream_sequence, stored_ms),
        delivery.subject.as_str(),
        delivery.headers.as_ref(),
        &delivery.payload,
        &risingwave_dead_letter_subject(spec),
    )
    .map_err(|why| (delivery.stream_sequence, why))
}

/// Reads the dead-letter stream in order from `start` up to its last message when the read
/// began (and no later than `until_ms`), handing each message to `visit`.
pub async fn read_letters(
    nats: &Nats,
    spec: &Spec,
    start: consumer::DeliverPolicy,
    until_ms: Option<i64>,
    mut visit: impl FnMut(Read),
) -> anyhow::Result<()> {
    let mut stream = dead_letter_stream(nats, spec).await?;
    let state = stream
        .info()
        .await
        .context("cannot read the dead-letter stream")?
        .state
        .clone();
    if state.messages == 0 {
        return Ok(());
    }
    let end = state.last_sequence;
    let mut read = OrderedRead::start(nats.client.clone(), stream, "", start, ordered_read::IDLE_HEARTBEAT)
        .await
        .context("cannot read the dead-letter stream")?;
    let mut retries = ReadRetries::new(StdDuration::from_secs(60));
    loop {
        let delivery = match read.next().await {
            Ok(delivery) => delivery,
            Err(e) => {
                retries.failed(e).await?;
                continue;
            }
        };
        retries.succeeded();
        let past_until = until_ms.is_some_and(|u| (delivery.published_nanos / 1_000_000) as i64 > u);
        if delivery.stream_sequence > end || past_until {
            break;
        }
        visit(parse_delivery(spec, &delivery));
        if delivery.stream_sequence >= end || delivery.pending == 0 {
            break;
        }
    }
    read.finish().await;
    Ok(())
}

/// One dead letter by its sequence; None when the stream does not hold it.
pub async fn letter_at(nats: &Nats, spec: &Spec, sequence: u64) -> anyhow::Result<Option<Read>> {
    let stream = dead_letter_stream(nats, spec).await?;
    let message = match stream.get_raw_message(sequence).await {
        Ok(message) => message,
        Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(e) => return Err(e).context(format!("cannot read dead letter {sequence}")),
    };
    let delivery = Delivery {
        subject: message.subject,
        payload: message.payload,
        headers: Some(message.headers),
        stream_sequence: message.sequence,
        published_nanos: message.time.unix_timestamp_nanos(),
        pending: 0,
    };
    Ok(Some(parse_delivery(spec, &delivery)))
}
