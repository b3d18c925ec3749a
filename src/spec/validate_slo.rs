//! Semantic checks of the `slo` section, and whether `iotctl probe` can measure the latency
//! SLO at all. Split from `validate` by concept.

use super::model::{AlertKind, Severity, Spec};
use super::validate::Checker;

impl Checker<'_> {
    pub(super) fn slo(&mut self, spec: &Spec) {
        if spec.slo.alert_latency_p99.is_zero() {
            self.error(
                "spec::invalid-slo",
                "slo.alert_latency_p99",
                "alert latency target must be positive",
            );
        }
        if spec.slo.replay_retention.is_zero() {
            self.error(
                "spec::invalid-slo",
                "slo.replay_retention",
                "replay retention must be positive",
            );
        }
        let rate = spec.slo.max_drop_rate;
        if !(0.0..=1.0).contains(&rate) {
            self.error(
                "spec::invalid-slo",
                "slo.max_drop_rate",
                format!("max_drop_rate is a fraction between 0 and 1, got {rate}"),
            );
        }
        self.probe(spec);
        if let Some(url) = &spec.slo.runbook_base_url {
            let scheme = url.starts_with("https://") || url.starts_with("http://");
            if !scheme || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.error(
                    "spec::invalid-slo",
                    "slo.runbook_base_url",
                    format!(
                        "runbook_base_url must be an http(s) URL without spaces, got `{}`",
                        url.escape_default()
                    ),
                );
            }
        }
    }

    /// Whether `iotctl probe` can measure the alert-latency SLO: a canary needs a metric whose
    /// critical threshold a valid reading breaches, and a sink that forwards the alert.
    fn probe(&mut self, spec: &Spec) {
        let metrics = spec.device_types.iter().flat_map(|d| &d.metrics);
        if !metrics.clone().any(|m| super::event::canary_value(m).is_some()) {
            self.warning(
                "spec::probe-cannot-page",
                "device_types",
                "no metric has a critical threshold a valid reading can breach: `iotctl probe` has no canary to send, so slo.alert_latency_p99 cannot be measured",
                "give a metric `thresholds.critical` inside its `range`",
            );
        }
        let sinks = &spec.risingwave.alert_sinks;
        if !sinks
            .iter()
            .any(|s| s.forwards(Severity::Critical, AlertKind::Threshold))
        {
            self.warning(
                "spec::probe-cannot-page",
                "risingwave.alert_sinks",
                "no alert sink forwards critical threshold alerts: a canary's alert would go nowhere, so slo.alert_latency_p99 cannot be measured",
                "add a sink without `severities`/`kinds`, or one that lists `critical` and `threshold`",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    fn warnings(text: &str) -> Vec<String> {
        let (_, diagnostics) = crate::spec::check("s.yaml", text.as_bytes())
            .map_err(|(_, d)| d)
            .unwrap();
        diagnostics
            .iter()
            .filter(|d| d.code == "spec::probe-cannot-page")
            .map(|d| d.path.clone())
            .collect()
    }

    #[test]
    fn a_spec_whose_canaries_cannot_page_is_warned_about() {
        let factory = std::fs::read_to_string(format!("{}/examples/factory.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(warnings(&factory).is_empty());
        // The oil temperature's critical bound at its range's end; no other metric keeps one.
        let unreachable: Vec<&str> = factory
            .lines()
            .map(|l| {
                if l.contains("critical: { above: 85 }") {
                    "          critical: { above: 150 }"
                } else {
                    l
                }
            })
            .filter(|l| !l.trim_start().starts_with("critical:") || l.contains("above: 150"))
            .collect();
        let unreachable = unreachable.join("\n");
        assert_eq!(warnings(&unreachable), ["device_types"]);
        let quiet = factory
            .replace(
                "    - name: all_alerts\n",
                "    - name: all_alerts\n      severities: [warning]\n",
            )
            .replace("      severities: [critical]\n", "      severities: [warning]\n");
        assert_eq!(warnings(&quiet), ["risingwave.alert_sinks"]);
    }
}
