//! Whether a RisingWave cluster's barrier timing leaves room for `slo.alert_latency_p99`.
//!
//! RisingWave cuts the stream into epochs with barriers every `barrier_interval_ms` and
//! checkpoints every `checkpoint_frequency` barriers (src/common/src/system_param/mod.rs;
//! defaults 1000 ms and 1; a database may override both, `rw_catalog.rw_databases`). The alert
//! sinks iotctl renders publish rows as they arrive (`sink_decouple = false`); a decoupled sink
//! releases them at checkpoints. Anything on the path that waits for a barrier waits up to one
//! barrier interval. So a barrier interval at or above the SLO cannot meet it, and a checkpoint
//! interval at or above it meets it only while the alert sinks stay non-decoupled.

use crate::spec::duration::Duration;

/// The cluster's barrier timing, as `plan` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierTiming {
    pub barrier_interval_ms: u64,
    pub checkpoint_frequency: u64,
}

impl BarrierTiming {
    pub fn checkpoint_interval_ms(self) -> u64 {
        self.barrier_interval_ms
            .saturating_mul(self.checkpoint_frequency.max(1))
    }
}

/// What the plan tells the operator about the alert latency SLO under this timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatencyFinding {
    Fits(String),
    /// Met only while the alert sinks publish as rows arrive.
    Tight(String),
    CannotMeet(String),
}

impl LatencyFinding {
    pub fn message(&self) -> &str {
        match self {
            LatencyFinding::Fits(m) | LatencyFinding::Tight(m) | LatencyFinding::CannotMeet(m) => m,
        }
    }
}

pub fn assess(timing: BarrierTiming, slo: Duration) -> LatencyFinding {
    let slo_ms = slo.as_millis();
    let (barrier, checkpoint) = (timing.barrier_interval_ms, timing.checkpoint_interval_ms());
    let timing_text = format!(
        "barrier interval {barrier} ms, checkpoint every {} barrier(s) ({checkpoint} ms)",
        timing.checkpoint_frequency
    );
    if barrier >= slo_ms {
        LatencyFinding::CannotMeet(format!(
            "slo.alert_latency_p99 {slo} cannot be met: {timing_text}; an alert can wait a whole barrier interval. Lower barrier_interval_ms below {slo_ms} ms"
        ))
    } else if checkpoint >= slo_ms {
        LatencyFinding::Tight(format!(
            "slo.alert_latency_p99 {slo} holds only while the alert sinks publish as rows arrive (iotctl renders sink_decouple = false): {timing_text}, and a decoupled sink releases rows at checkpoints"
        ))
    } else {
        LatencyFinding::Fits(format!(
            "slo.alert_latency_p99 {slo} fits the cluster's timing: {timing_text}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(barrier_interval_ms: u64, checkpoint_frequency: u64) -> BarrierTiming {
        BarrierTiming {
            barrier_interval_ms,
            checkpoint_frequency,
        }
    }

    #[test]
    fn the_default_second_long_barrier_cannot_meet_a_one_second_slo() {
        let slo = Duration::from_secs(1);
        assert!(matches!(assess(timing(1000, 1), slo), LatencyFinding::CannotMeet(m) if m.contains("1000 ms")));
        assert!(matches!(assess(timing(250, 4), slo), LatencyFinding::Tight(_)));
        assert!(matches!(assess(timing(250, 2), slo), LatencyFinding::Fits(_)));
        assert!(matches!(assess(timing(100, 0), slo), LatencyFinding::Fits(_)));
        assert!(matches!(
            assess(timing(1000, 1), Duration::from_secs(5)),
            LatencyFinding::Fits(_)
        ));
    }
}
