//! The canaries: one per site and round, each a valid reading of a metric with a critical
//! threshold, valued beyond it, from a device id under the reserved canary prefix.

use crate::sample::{Reading, SampleEvent, json_line};
use crate::spec::Spec;
use crate::spec::event::{CANARY_DEVICE_PREFIX, canary_value, event_fields};
use crate::spec::model::{AlertKind, Severity};
use crate::spec::subjects::alert_sink_subject;

/// What one site's canaries publish.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryTarget {
    pub site: String,
    pub device_type: String,
    pub metric: String,
    /// Beyond the critical threshold and inside the metric's valid range.
    pub value: f64,
}

impl CanaryTarget {
    /// The canary device of this site in one probe run and round.
    pub fn device_id(&self, run: &str, round: u32) -> String {
        format!("{CANARY_DEVICE_PREFIX}{}-{run}-{round}", self.site)
    }
}

/// One canary target per site (all sites when `sites` is empty): the first metric, in spec
/// order, whose critical threshold a valid reading can breach.
pub fn targets(spec: &Spec, sites: &[String]) -> Result<Vec<CanaryTarget>, String> {
    if let Some(unknown) = sites
        .iter()
        .find(|s| !spec.sites.iter().any(|k| k.name.as_str() == s.as_str()))
    {
        let known: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "--site `{unknown}` is not a site of the spec (sites: {})",
            known.join(", ")
        ));
    }
    let breach = spec
        .device_types
        .iter()
        .flat_map(|d| d.metrics.iter().map(move |m| (d, m)))
        .find_map(|(d, m)| canary_value(m).map(|v| (d.name.to_string(), m.name.to_string(), v)))
        .ok_or("no metric has a critical threshold a valid reading can breach: a canary could never page")?;
    Ok(spec
        .sites
        .iter()
        .filter(|s| sites.is_empty() || sites.iter().any(|x| x == s.name.as_str()))
        .map(|s| CanaryTarget {
            site: s.name.to_string(),
            device_type: breach.0.clone(),
            metric: breach.1.clone(),
            value: breach.2,
        })
        .collect())
}

/// The subjects of the alert sinks that forward critical threshold alerts: where a canary's
/// alert arrives.
pub fn alert_subjects(spec: &Spec) -> Result<Vec<String>, String> {
    let subjects: Vec<String> = spec
        .risingwave
        .alert_sinks
        .iter()
        .filter(|s| s.forwards(Severity::Critical, AlertKind::Threshold))
        .map(|s| alert_sink_subject(spec, s))
        .collect();
    if subjects.is_empty() {
        return Err("no alert sink forwards critical threshold alerts: a canary's alert would go nowhere".into());
    }
    Ok(subjects)
}

/// The canary's JSON payload: a reading as `iotctl sample` writes one (every envelope field,
/// required extra fields with a placeholder of their type).
pub fn canary_payload(spec: &Spec, target: &CanaryTarget, device_id: &str, seq: u32, ts: &str) -> Vec<u8> {
    let fields = event_fields(spec);
    let reading = Reading {
        site: &target.site,
        device_type: &target.device_type,
        device_id,
        metric: &target.metric,
        ts,
        value: target.value,
        seq: u64::from(seq),
        pipeline: spec.pipeline.name.as_str(),
    };
    let mut line = String::new();
    json_line(&fields, &SampleEvent::of(&fields, &reading), &mut line);
    line.trim_end().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::classify::{Verdict, classify};
    use crate::contract::fast::FastContract;
    use crate::contract::payload::PayloadValidator;
    use crate::spec::subjects::TelemetrySubject;

    fn spec(name: &str) -> Spec {
        let text = std::fs::read(format!("{}/examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        crate::spec::load::parse(name, &text).unwrap().spec
    }

    #[test]
    fn each_site_gets_a_valid_canary_that_breaches_a_critical_threshold() {
        for name in ["factory", "cold_chain"] {
            let spec = spec(name);
            let (fast, validator) = (
                FastContract::for_spec(&spec),
                PayloadValidator::for_spec(&spec).unwrap(),
            );
            let targets = targets(&spec, &[]).unwrap();
            assert_eq!(targets.len(), spec.sites.len());
            for t in &targets {
                let metric = spec
                    .device_types
                    .iter()
                    .flat_map(|d| &d.metrics)
                    .find(|m| m.name.as_str() == t.metric)
                    .unwrap();
                let critical = metric.thresholds.critical.unwrap();
                assert!(
                    critical.above.is_some_and(|a| t.value > a) || critical.below.is_some_and(|b| t.value < b),
                    "{t:?}"
                );
                let subject = TelemetrySubject::of(&spec).concrete(&t.site, &t.device_type, &t.metric);
                let payload = canary_payload(&spec, t, &t.device_id("r1", 0), 0, "2026-12-04T10:00:00.000Z");
                let published = crate::time::parse_rfc3339_ms("2026-12-04T10:00:00.100Z").unwrap();
                let verdict = classify(&fast, &validator, (&subject, published), &payload, None);
                assert!(
                    matches!(verdict, Verdict::Canary),
                    "{name}: {}",
                    String::from_utf8_lossy(&payload)
                );
            }
        }
    }

    use crate::spec::model::ValueType;

    #[test]
    fn integer_metrics_take_the_next_whole_number_and_unreachable_thresholds_are_skipped() {
        let mut spec = spec("factory");
        let metric = &mut spec.device_types[0].metrics[0];
        metric.value_type = ValueType::Integer;
        metric.thresholds.critical = Some(crate::spec::model::Bounds {
            above: Some(85.5),
            below: None,
        });
        assert_eq!(targets(&spec, &[]).unwrap()[0].value, 86.0);
        spec.device_types[0].metrics[0].range.max = 85.5;
        let next = targets(&spec, &[]).unwrap();
        assert_ne!(next[0].metric, spec.device_types[0].metrics[0].name.as_str());
    }

    #[test]
    fn bad_sites_and_sinks_that_never_carry_critical_alerts_are_refused() {
        let mut spec = spec("factory");
        assert!(targets(&spec, &["mars".into()]).unwrap_err().contains("mars"));
        assert_eq!(targets(&spec, &["lyon".into()]).unwrap().len(), 1);
        spec.risingwave.alert_sinks[0].severities = vec![Severity::Warning];
        spec.risingwave.alert_sinks.truncate(1);
        assert!(alert_subjects(&spec).unwrap_err().contains("critical"));
    }
}
