//! A pipelined JetStream publish window: up to `capacity` publishes in flight, settled strictly
//! in order, so a caller may checkpoint past whatever has settled. Every publish carries a
//! `Nats-Msg-Id`: when the server is away, the front publish is retried and every later one
//! sent again at once (repeats store nothing) rather than awaited one timeout at a time.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;

/// How long the front publish is retried before the window gives up (240 × 250 ms).
const RETRIES: u32 = 240;
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// One message to publish.
pub struct Publish {
    pub subject: String,
    pub payload: Bytes,
    pub headers: HeaderMap,
    /// The dedupe id: the same message published twice is stored once.
    pub message_id: String,
}

/// An entry of the window: the caller's tag, and the publish it waits for (none for an entry
/// that only holds its place in the order).
struct Pending<T> {
    tag: T,
    publish: Option<Publish>,
    ack: Option<PublishAckFuture>,
}

/// What settling the front entry gave.
pub struct Settled<T> {
    pub tag: T,
    /// For a publish: whether the server already had the message (same Msg-Id).
    pub duplicate: Option<bool>,
}

pub struct PublishWindow<T> {
    js: jetstream::Context,
    pending: VecDeque<Pending<T>>,
    capacity: usize,
}

impl<T> PublishWindow<T> {
    pub fn new(js: jetstream::Context, capacity: usize) -> Self {
        PublishWindow {
            js,
            pending: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Appends an entry; a publish is sent at once (one that cannot even be sent, the server
    /// being away, is retried when it reaches the front).
    pub async fn push(&mut self, tag: T, publish: Option<Publish>) {
        let ack = match &publish {
            Some(message) => send(&self.js, message).await.ok(),
            None => None,
        };
        self.pending.push_back(Pending { tag, publish, ack });
    }

    /// Waits for the front entry to settle and removes it.
    pub async fn settle_front(&mut self) -> anyhow::Result<Settled<T>> {
        let mut attempt = 0u32;
        loop {
            let front = self.pending.front_mut().context("settle_front on an empty window")?;
            let Some(message) = &front.publish else {
                let entry = self.pending.pop_front().expect("non-empty");
                return Ok(Settled {
                    tag: entry.tag,
                    duplicate: None,
                });
            };
            let result = match front.ack.take() {
                Some(ack) => ack.await.map_err(anyhow::Error::from),
                None => match send(&self.js, message).await {
                    Ok(ack) => ack.await.map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(ack) => {
                    let entry = self.pending.pop_front().expect("non-empty");
                    return Ok(Settled {
                        tag: entry.tag,
                        duplicate: Some(ack.duplicate),
                    });
                }
                Err(e) => {
                    attempt += 1;
                    if attempt > RETRIES {
                        bail!("publishing `{}` kept failing for a minute: {e:#}", message.message_id);
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                    self.resend_behind_front().await;
                }
            }
        }
    }

    async fn resend_behind_front(&mut self) {
        for entry in self.pending.iter_mut().skip(1) {
            if let Some(message) = &entry.publish {
                entry.ack = send(&self.js, message).await.ok();
            }
        }
    }
}

async fn send(js: &jetstream::Context, message: &Publish) -> anyhow::Result<PublishAckFuture> {
    let built = jetstream::message::PublishMessage::build()
        .payload(message.payload.clone())
        .headers(message.headers.clone())
        .message_id(message.message_id.as_str());
    js.send_publish(message.subject.clone(), built)
        .await
        .context("cannot publish")
}
