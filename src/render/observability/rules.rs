//! The Prometheus rule file (recording and alerting rules of the pipeline's SLOs) and its
//! promtool unit tests, both from the alert catalog. YAML is written by serde_yaml_ng, so no
//! name or URL can break its quoting.

use serde_json::{Value, json};

use super::alerts::{Alert, Case, alerts, recordings};
use super::chains::Pipeline;

pub const RULES_FILE: &str = "rules.yml";

pub fn rules(p: &Pipeline) -> anyhow::Result<String> {
    let mut rules: Vec<Value> = recordings(p)
        .into_iter()
        .map(|r| json!({"record": r.record, "expr": r.expr}))
        .collect();
    rules.extend(alerts(p).iter().map(|a| {
        json!({
            "alert": a.name, "expr": a.expr, "for": a.for_,
            "labels": {"severity": a.severity},
            "annotations": annotations(p, a),
        })
    }));
    let file = json!({"groups": [{"name": format!("iotctl_{}", p.name), "interval": "1m", "rules": rules}]});
    Ok(format!(
        "# Prometheus rules of pipeline {}: its SLOs over the gauges of `iotctl status` and\n# `iotctl probe` (--format openmetrics). Rendered by iotctl; checked by `promtool check rules`.\n{}",
        p.name,
        serde_yaml_ng::to_string(&file)?
    ))
}

fn annotations(p: &Pipeline, a: &Alert) -> Value {
    json!({"summary": a.summary, "description": a.description, "runbook_url": p.runbook_url(a.name)})
}

/// `promtool test rules` cases: for each alert, one input that fires it and one that does not.
pub fn rule_tests(p: &Pipeline) -> anyhow::Result<String> {
    let mut tests = Vec::new();
    for alert in alerts(p) {
        for case in &alert.cases {
            tests.push(test_case(p, &alert, case));
        }
    }
    let file = json!({"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": tests});
    Ok(format!(
        "# promtool unit tests of {RULES_FILE}: each alert fires on one input and stays quiet on another.\n# Run: promtool test rules rules.test.yml\n{}",
        serde_yaml_ng::to_string(&file)?
    ))
}

fn test_case(p: &Pipeline, alert: &Alert, case: &Case) -> Value {
    let series: Vec<Value> = case
        .series
        .iter()
        .map(|(s, v)| json!({"series": s, "values": v}))
        .collect();
    let expected: Vec<Value> = match &case.fires_with {
        None => vec![],
        Some(labels) => {
            let mut exp_labels = serde_json::Map::new();
            for (k, v) in labels {
                exp_labels.insert((*k).to_string(), Value::from(v.as_str()));
            }
            exp_labels.insert("severity".into(), Value::from(alert.severity));
            vec![json!({"exp_labels": exp_labels, "exp_annotations": annotations(p, alert)})]
        }
    };
    let name = if case.fires_with.is_some() {
        "fires"
    } else {
        "stays quiet"
    };
    json!({
        "name": format!("{} {name}", alert.name),
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": case.eval_time, "alertname": alert.name, "exp_alerts": expected}],
    })
}
