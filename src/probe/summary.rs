//! A probe's result: publish-to-alert latencies of the canaries that paged, the ones that did
//! not within the timeout, and the verdict against `slo.alert_latency_p99` and
//! `slo.max_drop_rate`.

use serde::Serialize;

use crate::observability::exposition::Exposition;
use crate::observability::metrics::*;
use crate::spec::model::Slo;

/// The quantiles a probe reports; 1 is the maximum.
pub const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 1.0];

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub canaries: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    /// Seconds, by quantile; None when no canary paged.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub latency_met: bool,
    pub loss_met: bool,
    /// Why the SLOs are not met, one line each.
    pub breaches: Vec<String>,
}

impl Verdict {
    pub fn met(&self) -> bool {
        self.latency_met && self.loss_met
    }
}

impl Summary {
    /// `latencies`: seconds from publish to alert of each canary that paged in time.
    pub fn of(canaries: u64, mut latencies: Vec<f64>) -> Summary {
        latencies.sort_by(f64::total_cmp);
        let lost = canaries.saturating_sub(latencies.len() as u64);
        let quantile = |q: f64| nearest_rank(&latencies, q);
        Summary {
            canaries,
            lost,
            loss_ratio: if canaries == 0 {
                0.0
            } else {
                lost as f64 / canaries as f64
            },
            p50: quantile(0.5),
            p95: quantile(0.95),
            p99: quantile(0.99),
            max: quantile(1.0),
        }
    }

    pub fn verdict(&self, slo: &Slo) -> Verdict {
        let limit = slo.alert_latency_p99.as_secs_f64();
        let latency_met = self.p99.is_some_and(|p99| p99 <= limit);
        let loss_met = self.loss_ratio <= slo.max_drop_rate;
        let mut breaches = Vec::new();
        match self.p99 {
            Some(p99) if !latency_met => breaches.push(format!(
                "alert latency p99 {} exceeds slo.alert_latency_p99 {}",
                seconds(p99),
                slo.alert_latency_p99
            )),
            None => breaches.push("no canary raised an alert: the latency is unknown".to_string()),
            Some(_) => {}
        }
        if !loss_met {
            breaches.push(format!(
                "{} of {} canaries raised no alert ({:.2} %), above slo.max_drop_rate {} %",
                self.lost,
                self.canaries,
                self.loss_ratio * 100.0,
                slo.max_drop_rate * 100.0
            ));
        }
        Verdict {
            latency_met,
            loss_met,
            breaches,
        }
    }

    /// The probe's gauges; `finished_at` in Unix seconds.
    pub fn exposition(&self, pipeline: &str, slo: &Slo, finished_at: f64) -> Exposition {
        let mut e = Exposition::default();
        let p = || vec![("pipeline", pipeline.to_string())];
        e.add(PROBE_CANARIES, p(), self.canaries as f64);
        e.add(PROBE_CANARIES_LOST, p(), self.lost as f64);
        e.add(PROBE_LOSS, p(), self.loss_ratio);
        for (q, value) in QUANTILES.iter().zip([self.p50, self.p95, self.p99, self.max]) {
            let labels = vec![("pipeline", pipeline.to_string()), ("quantile", q.to_string())];
            e.add(PROBE_ALERT_LATENCY, labels, value.unwrap_or(f64::NAN));
        }
        e.add(PROBE_ALERT_LATENCY_SLO, p(), slo.alert_latency_p99.as_secs_f64());
        e.add(PROBE_MAX_DROP, p(), slo.max_drop_rate);
        e.add(PROBE_TIMESTAMP, p(), finished_at);
        e
    }
}

/// The nearest-rank quantile of sorted values: the smallest value with at least q of them
/// at or below it.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Seconds as a person reads them: `850 ms`, `1.25 s`.
pub fn seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{:.0} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::duration::Duration;

    fn slo(p99_ms: u64, drop: f64) -> Slo {
        Slo {
            alert_latency_p99: Duration::from_millis(p99_ms),
            max_drop_rate: drop,
            ..Slo::default()
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_and_loss_counts_the_silent_canaries() {
        let latencies: Vec<f64> = (1..=100).rev().map(|i| f64::from(i) / 100.0).collect();
        let s = Summary::of(125, latencies);
        assert_eq!(
            (s.p50, s.p95, s.p99, s.max),
            (Some(0.5), Some(0.95), Some(0.99), Some(1.0))
        );
        assert_eq!((s.lost, s.loss_ratio), (25, 0.2));
        assert!(s.verdict(&slo(1000, 0.2)).met());
        let v = s.verdict(&slo(900, 0.1));
        assert!(!v.latency_met && !v.loss_met && v.breaches.len() == 2, "{v:?}");
    }

    #[test]
    fn a_probe_where_nothing_paged_fails_and_exports_nan_latencies() {
        let s = Summary::of(4, vec![]);
        assert_eq!((s.lost, s.p99), (4, None));
        assert!(!s.verdict(&slo(1000, 1.0)).latency_met);
        let text = s.exposition("p", &slo(1000, 0.0), 1.0).text();
        assert!(
            text.contains(&format!(
                "{}{{pipeline=\"p\",quantile=\"0.99\"}} NaN",
                PROBE_ALERT_LATENCY.name
            )),
            "{text}"
        );
        assert!(text.contains(&format!("{}{{pipeline=\"p\"}} 1\n", PROBE_LOSS.name)));
    }

    #[test]
    fn a_small_sample_takes_its_largest_value_as_p99() {
        let s = Summary::of(3, vec![0.2, 0.1, 0.3]);
        assert_eq!((s.p50, s.p99), (Some(0.2), Some(0.3)));
    }
}
