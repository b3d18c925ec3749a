//! `iotctl probe`, its I/O: publish canaries into the telemetry stream, listen on the alert
//! subjects, and time each canary from its publish to the first alert about its device.

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::backend::nats::Nats;
use crate::probe::{CanaryTarget, Summary, canary_payload};
use crate::spec::Spec;
use crate::spec::subjects::TelemetrySubject;
use crate::time::{rfc3339_millis, unix_now_ms};

/// What one probe sends, where it listens, and how long it waits.
pub struct Probe<'a> {
    pub spec: &'a Spec,
    pub targets: Vec<CanaryTarget>,
    pub alert_subjects: Vec<String>,
    pub rounds: u32,
    pub interval: StdDuration,
    pub timeout: StdDuration,
}

/// An alert about a device, stamped when it arrived.
type Arrival = (String, Instant);

impl Probe<'_> {
    /// Runs the probe; `sent` is told the number of canaries published so far.
    pub async fn run(&self, nats: &Nats, mut sent: impl FnMut(u64)) -> anyhow::Result<Summary> {
        let (tx, mut arrivals) = mpsc::unbounded_channel();
        let listener = self.listen(nats, tx).await?;
        let published = self.publish(nats, &mut sent).await;
        let published = match published {
            Ok(published) => published,
            Err(e) => {
                listener.abort();
                return Err(e);
            }
        };
        let last_sent = published.values().max().copied().unwrap_or_else(Instant::now);
        let deadline = tokio::time::Instant::from_std(last_sent + self.timeout);
        let mut latencies: HashMap<String, f64> = HashMap::new();
        while latencies.len() < published.len() {
            let Ok(Some((device, at))) = tokio::time::timeout_at(deadline, arrivals.recv()).await else {
                break;
            };
            if let Some(start) = published.get(&device) {
                let latency = at.saturating_duration_since(*start);
                if latency <= self.timeout {
                    latencies.entry(device).or_insert(latency.as_secs_f64());
                }
            }
        }
        listener.abort();
        Ok(Summary::of(published.len() as u64, latencies.into_values().collect()))
    }

    /// Subscribes to the alert subjects before anything is published; each alert's device id
    /// is sent on with the instant it arrived.
    async fn listen(
        &self,
        nats: &Nats,
        tx: mpsc::UnboundedSender<Arrival>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut subscriptions = Vec::new();
        for subject in &self.alert_subjects {
            let subscription = nats
                .client
                .subscribe(subject.clone())
                .await
                .with_context(|| format!("cannot subscribe to the alert subject `{subject}`"))?;
            subscriptions.push(subscription);
        }
        nats.client.flush().await.context("cannot reach NATS")?;
        let mut alerts = futures::stream::select_all(subscriptions);
        Ok(tokio::spawn(async move {
            while let Some(message) = alerts.next().await {
                let at = Instant::now();
                if let Some(device) = alert_device(&message.payload) {
                    let _ = tx.send((device, at));
                }
            }
        }))
    }

    /// Publishes every round's canaries into the telemetry stream, `interval` apart; each
    /// canary's clock starts just before its publish.
    async fn publish(&self, nats: &Nats, sent: &mut impl FnMut(u64)) -> anyhow::Result<HashMap<String, Instant>> {
        let layout = TelemetrySubject::of(self.spec);
        let run = format!(
            "{:06x}",
            (unix_now_ms() as u64 ^ u64::from(std::process::id())) & 0xff_ffff
        );
        let mut published = HashMap::new();
        let mut next_round = tokio::time::Instant::now();
        for round in 0..self.rounds {
            tokio::time::sleep_until(next_round).await;
            next_round += self.interval;
            for target in &self.targets {
                let device = target.device_id(&run, round);
                let ts = rfc3339_millis(unix_now_ms());
                let payload = canary_payload(self.spec, target, &device, round, &ts);
                let subject = layout.concrete(&target.site, &target.device_type, &target.metric);
                let message = jetstream::message::PublishMessage::build()
                    .payload(payload.into())
                    .message_id(device.as_str());
                let start = Instant::now();
                let ack = nats.js.send_publish(subject.clone(), message).await;
                ack.with_context(|| format!("cannot publish a canary to `{subject}`"))?
                    .await
                    .with_context(|| format!("the telemetry stream did not store the canary on `{subject}`"))?;
                published.insert(device, start);
                sent(published.len() as u64);
            }
        }
        Ok(published)
    }
}

/// The `device_id` of an alert, as the alert sinks write it (a JSON object per alert row).
fn alert_device(payload: &[u8]) -> Option<String> {
    let alert: serde_json::Value = serde_json::from_slice(payload).ok()?;
    alert.get("device_id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_is_read_from_an_alert_row_and_anything_else_is_ignored() {
        let row = br#"{"alert_id":"k:threshold","kind":"threshold","severity":"critical","device_id":"press-7"}"#;
        assert_eq!(alert_device(row).as_deref(), Some("press-7"));
        assert_eq!(alert_device(b"not json"), None);
        assert_eq!(alert_device(br#"{"device_id":7}"#), None);
    }
}
