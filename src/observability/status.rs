//! What `status` saw, as data, and the gauges it exports from it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::exposition::Exposition;
use super::metrics::*;
use crate::plan::nats::StreamState;
use crate::spec::duration::Duration;
use crate::spec::streams::StreamRole;

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerStatus {
    pub name: String,
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

#[derive(Debug, Clone)]
pub struct StreamStatus {
    pub name: String,
    pub role: StreamRole,
    pub max_age: Duration,
    /// None when the stream is missing.
    pub state: Option<StreamState>,
    pub consumers: Vec<ConsumerStatus>,
}

impl StreamStatus {
    /// How far back a replay can reach: to the oldest message, at most `max_age`.
    pub fn replay_reach(&self, now: i64) -> Option<Duration> {
        let first = self.state.as_ref()?.first_timestamp?;
        Some(Duration::from_secs(now.saturating_sub(first).max(0) as u64).min(self.max_age))
    }
}

/// The most recently started replay of the pipeline, from the ledger.
#[derive(Debug, Clone)]
pub struct LastReplay {
    pub id: String,
    pub state: &'static str,
    pub run_seconds: f64,
    pub read: u64,
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    pub pipeline: String,
    pub taken_at: i64,
    pub replay_slo: Duration,
    pub streams: Vec<StreamStatus>,
    /// Dead letters by (reason class, writer); None when the stream was not read.
    pub dead_letters: Option<BTreeMap<(String, &'static str), u64>>,
    pub last_replay: Option<LastReplay>,
    /// Whether the systems status could see match the spec; None when not compared.
    pub in_sync: Option<bool>,
}

impl StatusSnapshot {
    pub fn exposition(&self) -> Exposition {
        let mut e = Exposition::default();
        let pipeline = || ("pipeline", self.pipeline.clone());
        self.stream_gauges(&mut e);
        for s in &self.streams {
            for c in &s.consumers {
                let labels = || vec![pipeline(), ("stream", s.name.clone()), ("consumer", c.name.clone())];
                e.add(CONSUMER_PENDING, labels(), c.pending as f64);
                e.add(CONSUMER_ACK_PENDING, labels(), c.ack_pending as f64);
                e.add(CONSUMER_REDELIVERED, labels(), c.redelivered as f64);
            }
        }
        for ((reason, writer), count) in self.dead_letters.iter().flatten() {
            let labels = vec![pipeline(), ("reason", reason.clone()), ("writer", writer.to_string())];
            e.add(DEAD_LETTERS, labels, *count as f64);
        }
        if let Some(r) = &self.last_replay {
            let labels = vec![pipeline(), ("id", r.id.clone()), ("state", r.state.to_string())];
            e.add(REPLAY_LAST_RUN_STATE, labels, 1.0);
            e.add(REPLAY_LAST_RUN_DURATION, vec![pipeline()], r.run_seconds);
            let rate = if r.run_seconds > 0.0 {
                r.read as f64 / r.run_seconds
            } else {
                0.0
            };
            e.add(REPLAY_LAST_RUN_RATE, vec![pipeline()], rate);
            let progress = if r.total == 0 {
                1.0
            } else {
                (r.read as f64 / r.total as f64).min(1.0)
            };
            e.add(REPLAY_LAST_RUN_PROGRESS, vec![pipeline()], progress);
        }
        if let Some(in_sync) = self.in_sync {
            e.add(SPEC_IN_SYNC, vec![pipeline()], f64::from(u8::from(in_sync)));
        }
        e.add(STATUS_TIMESTAMP, vec![pipeline()], self.taken_at as f64);
        e
    }

    fn stream_gauges(&self, e: &mut Exposition) {
        for s in &self.streams {
            let labels = || {
                vec![
                    ("pipeline", self.pipeline.clone()),
                    ("stream", s.name.clone()),
                    ("role", s.role.key().to_string()),
                ]
            };
            e.add(STREAM_PRESENT, labels(), f64::from(u8::from(s.state.is_some())));
            let Some(state) = &s.state else { continue };
            e.add(STREAM_MESSAGES, labels(), state.messages as f64);
            e.add(STREAM_BYTES, labels(), state.bytes as f64);
            e.add(STREAM_LAST_SEQUENCE, labels(), state.last_sequence as f64);
            if let Some(first) = state.first_timestamp {
                e.add(STREAM_FIRST_TIMESTAMP, labels(), first as f64);
            }
            if let Some(last) = state.last_timestamp {
                e.add(STREAM_LAST_TIMESTAMP, labels(), last as f64);
            }
        }
        for s in self.streams.iter().filter(|s| s.role == StreamRole::Telemetry) {
            let reach = s.replay_reach(self.taken_at).map_or(0.0, |r| r.as_secs_f64());
            e.add(
                REPLAY_REACH,
                vec![("pipeline", self.pipeline.clone()), ("stream", s.name.clone())],
                reach,
            );
        }
        let slo = self.replay_slo.as_secs_f64();
        e.add(REPLAY_REACH_SLO, vec![("pipeline", self.pipeline.clone())], slo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> StatusSnapshot {
        let state = StreamState {
            messages: 10,
            bytes: 2000,
            first_timestamp: Some(1_000),
            last_timestamp: Some(1_500),
            consumers: 1,
            last_sequence: 12,
        };
        StatusSnapshot {
            pipeline: "p".into(),
            taken_at: 4_600,
            replay_slo: Duration::from_secs(7200),
            streams: vec![
                StreamStatus {
                    name: "T".into(),
                    role: StreamRole::Telemetry,
                    max_age: Duration::from_secs(3_000),
                    state: Some(state),
                    consumers: vec![ConsumerStatus {
                        name: "rw".into(),
                        pending: 4,
                        ack_pending: 2,
                        redelivered: 1,
                    }],
                },
                StreamStatus {
                    name: "D".into(),
                    role: StreamRole::DeadLetter,
                    max_age: Duration::from_secs(60),
                    state: None,
                    consumers: vec![],
                },
            ],
            dead_letters: Some(BTreeMap::from([(("unknown site".to_string(), "iotctl"), 3)])),
            last_replay: Some(LastReplay {
                id: "r1".into(),
                state: "completed",
                run_seconds: 2.0,
                read: 50,
                total: 100,
            }),
            in_sync: Some(false),
        }
    }

    #[test]
    fn reach_is_capped_by_max_age_and_a_missing_stream_has_presence_zero() {
        let e = snapshot().exposition();
        // 4600 - 1000 = 3600 s back, but the stream keeps 3000 s at most.
        assert_eq!(e.samples(REPLAY_REACH.name)[0].value, 3000.0);
        let present: Vec<f64> = e.samples(STREAM_PRESENT.name).iter().map(|s| s.value).collect();
        assert_eq!(present, [1.0, 0.0]);
        assert_eq!(e.samples(STREAM_MESSAGES.name).len(), 1);
        assert_eq!(e.samples(CONSUMER_REDELIVERED.name)[0].value, 1.0);
        assert_eq!(e.samples(REPLAY_LAST_RUN_RATE.name)[0].value, 25.0);
        assert_eq!(e.samples(REPLAY_LAST_RUN_PROGRESS.name)[0].value, 0.5);
        assert_eq!(e.samples(SPEC_IN_SYNC.name)[0].value, 0.0);
        assert_eq!(e.samples(DEAD_LETTERS.name)[0].labels[1].1, "unknown site");
    }
}
