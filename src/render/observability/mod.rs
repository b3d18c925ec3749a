//! `observability/`: the Prometheus rules of the spec's SLOs with their promtool unit tests,
//! a Grafana dashboard, and one runbook per alert. Pure: from the spec and the rendered
//! RisingWave objects.

pub mod alerts;
pub mod chains;
pub mod dashboard;
pub mod rules;
pub mod runbooks;

use super::Artifact;
use super::risingwave::RwObject;
use crate::spec::Spec;
use chains::Pipeline;

pub fn render(spec: &Spec, objects: &[RwObject]) -> anyhow::Result<Vec<Artifact>> {
    let p = Pipeline::of(spec, objects);
    let mut artifacts = vec![
        Artifact::new(
            format!("observability/prometheus/{}", rules::RULES_FILE),
            rules::rules(&p)?,
        ),
        Artifact::new("observability/prometheus/rules.test.yml", rules::rule_tests(&p)?),
        Artifact::new("observability/grafana/dashboard.json", dashboard::dashboard(&p)?),
    ];
    for alert in alerts::alerts(&p) {
        artifacts.push(Artifact::new(
            format!("observability/runbooks/{}.md", alert.name),
            runbooks::runbook(&p, &alert),
        ));
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::templates::Templates;

    fn rendered(name: &str) -> Vec<Artifact> {
        let text = std::fs::read(format!("{}/examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let spec = crate::spec::load::parse(name, &text).unwrap().spec;
        let objects = crate::render::risingwave::render(&spec, &Templates::embedded()).unwrap();
        render(&spec, &objects).unwrap()
    }

    #[test]
    fn every_alert_has_a_runbook_whose_url_its_rule_names() {
        let files = rendered("factory");
        let rules = &files[0].content;
        let p = rules.matches("- alert: ").count();
        let runbooks: Vec<_> = files
            .iter()
            .filter(|a| a.path.starts_with("observability/runbooks/"))
            .collect();
        assert_eq!(p, runbooks.len());
        for runbook in runbooks {
            let name = runbook
                .path
                .trim_start_matches("observability/runbooks/")
                .trim_end_matches(".md");
            assert!(
                rules.contains(&format!("runbook_url: observability/runbooks/{name}.md")),
                "{name}"
            );
            let commands = runbooks::diagnose_commands(&runbook.content);
            assert!(
                !commands.is_empty()
                    && commands
                        .iter()
                        .all(|c| c.starts_with("iotctl ") && c.contains("-f \"$SPEC\"")),
                "{name}: {commands:?}"
            );
        }
    }

    #[test]
    fn without_a_canary_that_pages_no_alert_waits_on_the_probe() {
        let text = std::fs::read(format!("{}/examples/factory.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut spec = crate::spec::load::parse("factory", &text).unwrap().spec;
        for metric in spec.device_types.iter_mut().flat_map(|d| d.metrics.iter_mut()) {
            metric.thresholds.critical = None;
        }
        let objects = crate::render::risingwave::render(&spec, &Templates::embedded()).unwrap();
        let files = render(&spec, &objects).unwrap();
        let rules = &files[0].content;
        for probe_alert in [
            "IotctlAlertLatencyOverSlo",
            "IotctlProbeMissing",
            "IotctlCanariesLost",
            crate::observability::metrics::PROBE_TIMESTAMP.name,
        ] {
            assert!(!rules.contains(probe_alert), "{probe_alert}");
        }
        assert!(rules.contains("IotctlDropRateOverSlo"));
        assert!(
            !files[2]
                .content
                .contains(crate::observability::metrics::PROBE_ALERT_LATENCY.name),
            "the dashboard has no probe panel"
        );
    }

    #[test]
    fn the_chains_follow_the_rendered_objects() {
        let text = std::fs::read(format!("{}/examples/factory.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let spec = crate::spec::load::parse("factory", &text).unwrap().spec;
        let objects = crate::render::risingwave::render(&spec, &Templates::embedded()).unwrap();
        let p = Pipeline::of(&spec, &objects);
        let live = p.chain(crate::spec::streams::StreamRole::Telemetry);
        assert_eq!(
            (live.consumer.as_deref(), live.table.as_deref()),
            (Some("factory_risingwave"), Some("telemetry"))
        );
        assert!(
            live.views.iter().any(|v| v == "live_telemetry") && live.sinks.iter().any(|s| s.contains("to_warehouse")),
            "{live:?}"
        );
        let replay = p.chain(crate::spec::streams::StreamRole::Replay);
        assert_eq!(replay.consumer.as_deref(), Some("factory_risingwave_replay"));
        assert!(replay.views.iter().any(|v| v == "counted_telemetry"));
        assert!(p.chain(crate::spec::streams::StreamRole::DeadLetter).table.is_none());
        assert_eq!(
            p.command("dlq stats --since 1h"),
            "iotctl dlq stats -f \"$SPEC\" --since 1h"
        );
        assert_eq!(p.command("replay list"), "iotctl replay list -f \"$SPEC\"");
    }
}
