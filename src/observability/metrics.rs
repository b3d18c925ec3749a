//! The gauges iotctl exports, in one place. `status --format openmetrics` writes the pipeline's
//! state, `probe --format openmetrics` the last probe; the rendered Prometheus rules and the
//! Grafana dashboard query exactly these names. Every series carries the `pipeline` label, so
//! one Prometheus can watch several pipelines.

/// A gauge family: its name, help text, OpenMetrics unit (the name's suffix) and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Option<&'static str>,
    pub labels: &'static [&'static str],
}

const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Gauge {
    Gauge {
        name,
        help,
        unit: None,
        labels,
    }
}

const fn in_unit(name: &'static str, unit: &'static str, help: &'static str, labels: &'static [&'static str]) -> Gauge {
    Gauge {
        name,
        help,
        unit: Some(unit),
        labels,
    }
}

const STREAM: &[&str] = &["pipeline", "stream", "role"];
const CONSUMER: &[&str] = &["pipeline", "stream", "consumer"];
const PIPELINE: &[&str] = &["pipeline"];

pub const STREAM_PRESENT: Gauge = gauge(
    "iotctl_stream_present",
    "1 when the stream the spec names exists",
    STREAM,
);
pub const STREAM_MESSAGES: Gauge = gauge("iotctl_stream_messages", "Messages the stream holds", STREAM);
pub const STREAM_BYTES: Gauge = in_unit("iotctl_stream_bytes", "bytes", "Bytes the stream holds", STREAM);
pub const STREAM_LAST_SEQUENCE: Gauge = gauge(
    "iotctl_stream_last_sequence",
    "The stream's last sequence: every message ever stored, so its increase is the arrival count",
    STREAM,
);
pub const STREAM_FIRST_TIMESTAMP: Gauge = in_unit(
    "iotctl_stream_first_timestamp_seconds",
    "seconds",
    "Unix time of the oldest message the stream holds",
    STREAM,
);
pub const STREAM_LAST_TIMESTAMP: Gauge = in_unit(
    "iotctl_stream_last_timestamp_seconds",
    "seconds",
    "Unix time of the newest message the stream holds",
    STREAM,
);
pub const REPLAY_REACH: Gauge = in_unit(
    "iotctl_replay_reach_seconds",
    "seconds",
    "How far back a replay can reach in the telemetry stream (its oldest message, capped by max_age)",
    &["pipeline", "stream"],
);
pub const REPLAY_REACH_SLO: Gauge = in_unit(
    "iotctl_replay_reach_slo_seconds",
    "seconds",
    "slo.replay_retention: how far back a replay must be able to reach",
    PIPELINE,
);
pub const CONSUMER_PENDING: Gauge = gauge(
    "iotctl_consumer_pending_messages",
    "Messages of the stream the consumer has not been delivered yet",
    CONSUMER,
);
pub const CONSUMER_ACK_PENDING: Gauge = gauge(
    "iotctl_consumer_ack_pending_messages",
    "Messages delivered to the consumer and not acknowledged yet",
    CONSUMER,
);
pub const CONSUMER_REDELIVERED: Gauge = gauge(
    "iotctl_consumer_redelivered_messages",
    "Messages delivered to the consumer more than once and not acknowledged yet",
    CONSUMER,
);
pub const DEAD_LETTERS: Gauge = gauge(
    "iotctl_dead_letters",
    "Dead letters the dead-letter stream holds, by reason class and by who wrote them",
    &["pipeline", "reason", "writer"],
);
pub const REPLAY_LAST_RUN_STATE: Gauge = gauge(
    "iotctl_replay_last_run_state",
    "1 for the state of the most recently started replay",
    &["pipeline", "id", "state"],
);
pub const REPLAY_LAST_RUN_DURATION: Gauge = in_unit(
    "iotctl_replay_last_run_duration_seconds",
    "seconds",
    "Run time of the most recently started replay, over all its runs",
    PIPELINE,
);
pub const REPLAY_LAST_RUN_RATE: Gauge = gauge(
    "iotctl_replay_last_run_messages_per_second",
    "Messages the most recently started replay read per second of run time",
    PIPELINE,
);
pub const REPLAY_LAST_RUN_PROGRESS: Gauge = in_unit(
    "iotctl_replay_last_run_progress_ratio",
    "ratio",
    "Fraction of its range the most recently started replay has read",
    PIPELINE,
);
pub const SPEC_IN_SYNC: Gauge = gauge(
    "iotctl_spec_in_sync",
    "1 when the systems status could see match the spec (no drift, no conflict)",
    PIPELINE,
);
pub const STATUS_TIMESTAMP: Gauge = in_unit(
    "iotctl_status_timestamp_seconds",
    "seconds",
    "Unix time status read these values",
    PIPELINE,
);

pub const PROBE_CANARIES: Gauge = gauge("iotctl_probe_canaries", "Canaries the last probe published", PIPELINE);
pub const PROBE_CANARIES_LOST: Gauge = gauge(
    "iotctl_probe_canaries_lost",
    "Canaries of the last probe that raised no alert within its timeout",
    PIPELINE,
);
pub const PROBE_LOSS: Gauge = in_unit(
    "iotctl_probe_loss_ratio",
    "ratio",
    "Fraction of the last probe's canaries that raised no alert within its timeout",
    PIPELINE,
);
pub const PROBE_ALERT_LATENCY: Gauge = in_unit(
    "iotctl_probe_alert_latency_seconds",
    "seconds",
    "Publish-to-alert latency of the last probe's canaries, by quantile (1 is the maximum)",
    &["pipeline", "quantile"],
);
pub const PROBE_ALERT_LATENCY_SLO: Gauge = in_unit(
    "iotctl_probe_alert_latency_slo_seconds",
    "seconds",
    "slo.alert_latency_p99",
    PIPELINE,
);
pub const PROBE_MAX_DROP: Gauge = in_unit("iotctl_probe_max_drop_ratio", "ratio", "slo.max_drop_rate", PIPELINE);
pub const PROBE_TIMESTAMP: Gauge = in_unit(
    "iotctl_probe_timestamp_seconds",
    "seconds",
    "Unix time the last probe finished",
    PIPELINE,
);

/// Every gauge, for the checks that names and units agree.
pub const ALL: &[Gauge] = &[
    STREAM_PRESENT,
    STREAM_MESSAGES,
    STREAM_BYTES,
    STREAM_LAST_SEQUENCE,
    STREAM_FIRST_TIMESTAMP,
    STREAM_LAST_TIMESTAMP,
    REPLAY_REACH,
    REPLAY_REACH_SLO,
    CONSUMER_PENDING,
    CONSUMER_ACK_PENDING,
    CONSUMER_REDELIVERED,
    DEAD_LETTERS,
    REPLAY_LAST_RUN_STATE,
    REPLAY_LAST_RUN_DURATION,
    REPLAY_LAST_RUN_RATE,
    REPLAY_LAST_RUN_PROGRESS,
    SPEC_IN_SYNC,
    STATUS_TIMESTAMP,
    PROBE_CANARIES,
    PROBE_CANARIES_LOST,
    PROBE_LOSS,
    PROBE_ALERT_LATENCY,
    PROBE_ALERT_LATENCY_SLO,
    PROBE_MAX_DROP,
    PROBE_TIMESTAMP,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_carry_the_pipeline_and_end_in_their_unit() {
        let mut names: Vec<_> = ALL.iter().map(|g| g.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for g in ALL {
            assert_eq!(g.labels.first(), Some(&"pipeline"), "{}", g.name);
            assert!(g.name.starts_with("iotctl_"), "{}", g.name);
            if let Some(unit) = g.unit {
                assert!(g.name.ends_with(&format!("_{unit}")), "{}", g.name);
            }
            // Reserved OpenMetrics suffixes would make a parser read another type.
            for reserved in ["_total", "_count", "_sum", "_bucket", "_created", "_info"] {
                assert!(!g.name.ends_with(reserved), "{}", g.name);
            }
        }
    }
}
