//! Breaking-change detection between two versions of the telemetry contract.

use serde::Serialize;

use super::surface::{FieldSurface, MetricSurface, Surface};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Existing producers or consumers break.
    Breaking,
    /// Compatible: something was added or widened.
    Additive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub impact: Impact,
    /// Stable rule id, e.g. `contract::field-removed`.
    pub rule: &'static str,
    /// The field, site or `device_type.metric` concerned.
    pub subject: String,
    pub message: String,
}

/// Everything that changed from `old` to `new`, breaking findings first.
pub fn compare(old: &Surface, new: &Surface) -> Vec<Finding> {
    let mut findings = Findings(Vec::new());
    findings.envelope(old, new);
    for (name, before) in &old.fields {
        match new.fields.get(name) {
            Some(after) => findings.field(name, before, after),
            None => findings.breaking("contract::field-removed", name, format!("field `{name}` was removed")),
        }
    }
    for (name, after) in new.fields.iter().filter(|(name, _)| !old.fields.contains_key(*name)) {
        if after.required {
            let message = format!("new field `{name}` is required: existing producers do not send it");
            findings.breaking("contract::required-field-added", name, message);
        } else {
            findings.additive(
                "contract::field-added",
                name,
                format!("optional field `{name}` was added"),
            );
        }
    }
    findings.sites(old, new);
    findings.metrics(old, new);
    let mut findings = findings.0;
    findings.sort_by(|a, b| (a.impact, a.rule, &a.subject).cmp(&(b.impact, b.rule, &b.subject)));
    findings
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, impact: Impact, rule: &'static str, subject: &str, message: String) {
        self.0.push(Finding {
            impact,
            rule,
            subject: subject.to_string(),
            message,
        });
    }

    fn breaking(&mut self, rule: &'static str, subject: &str, message: String) {
        self.add(Impact::Breaking, rule, subject, message);
    }

    fn additive(&mut self, rule: &'static str, subject: &str, message: String) {
        self.add(Impact::Additive, rule, subject, message);
    }

    /// The subject layout and the event identity.
    fn envelope(&mut self, old: &Surface, new: &Surface) {
        if old.subject_layout != new.subject_layout {
            let message = format!(
                "subject layout changed from `{}` to `{}`",
                old.subject_layout, new.subject_layout
            );
            self.breaking("contract::subject-layout-changed", "subject", message);
        }
        if old.identity != new.identity {
            let (before, after) = (old.identity.join(", "), new.identity.join(", "));
            let message = format!("event identity changed from ({before}) to ({after})");
            self.breaking("contract::identity-changed", "identity", message);
        }
    }

    /// One field present in both versions.
    fn field(&mut self, name: &str, before: &FieldSurface, after: &FieldSurface) {
        if before.type_name != after.type_name {
            let message = format!(
                "field `{name}` changed type from {} to {}",
                before.type_name, after.type_name
            );
            self.breaking("contract::type-changed", name, message);
        }
        if !before.required && after.required {
            let message = format!("field `{name}` changed from optional to required");
            self.breaking("contract::became-required", name, message);
        }
        if before.required && !after.required {
            self.additive(
                "contract::became-optional",
                name,
                format!("field `{name}` is now optional"),
            );
        }
        match (&before.allowed, &after.allowed) {
            (Some(old_values), Some(new_values)) => {
                for removed in old_values.difference(new_values) {
                    let message = format!("value `{removed}` of field `{name}` was removed");
                    self.breaking("contract::enum-value-removed", name, message);
                }
                for added in new_values.difference(old_values) {
                    let message = format!("value `{added}` of field `{name}` was added");
                    self.additive("contract::enum-value-added", name, message);
                }
            }
            (None, Some(_)) => {
                let message = format!("field `{name}` is now restricted to a list of values");
                self.breaking("contract::enum-added", name, message);
            }
            (Some(_), None) => {
                let message = format!("field `{name}` is no longer restricted to a list of values");
                self.additive("contract::enum-removed", name, message);
            }
            (None, None) => {}
        }
    }

    fn sites(&mut self, old: &Surface, new: &Surface) {
        for site in old.sites.difference(&new.sites) {
            let message = format!("site `{site}` was removed: its devices' events would be rejected");
            self.breaking("contract::enum-value-removed", "site", message);
        }
        for site in new.sites.difference(&old.sites) {
            self.additive("contract::enum-value-added", "site", format!("site `{site}` was added"));
        }
    }

    fn metrics(&mut self, old: &Surface, new: &Surface) {
        for (key, before) in &old.metrics {
            let subject = format!("{}.{}", key.0, key.1);
            match new.metrics.get(key) {
                Some(after) => self.metric(&subject, before, after),
                None => {
                    let message = format!("metric `{subject}` was removed: its events would be rejected");
                    self.breaking("contract::enum-value-removed", &subject, message);
                }
            }
        }
        for key in new.metrics.keys().filter(|key| !old.metrics.contains_key(*key)) {
            let subject = format!("{}.{}", key.0, key.1);
            let message = format!("metric `{subject}` was added");
            self.additive("contract::enum-value-added", &subject, message);
        }
    }

    /// One metric present in both versions: its value type and its valid range.
    fn metric(&mut self, subject: &str, before: &MetricSurface, after: &MetricSurface) {
        if before.value_type != after.value_type {
            let impact = if after.value_type == "integer" {
                Impact::Breaking
            } else {
                Impact::Additive
            };
            let message = format!(
                "value of `{subject}` changed from {} to {}",
                before.value_type, after.value_type
            );
            self.add(impact, "contract::type-changed", subject, message);
        }
        let range = |m: &MetricSurface| format!("[{}, {}]", m.min, m.max);
        if after.min > before.min || after.max < before.max {
            let message = format!(
                "valid range of `{subject}` narrowed from {} to {}",
                range(before),
                range(after)
            );
            self.breaking("contract::range-narrowed", subject, message);
        } else if after.min < before.min || after.max > before.max {
            let message = format!(
                "valid range of `{subject}` widened from {} to {}",
                range(before),
                range(after)
            );
            self.additive("contract::range-widened", subject, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::surface::{FieldSurface, MetricSurface};
    use super::*;

    fn base() -> Surface {
        let field = |t: &str, required| FieldSurface {
            type_name: t.into(),
            required,
            allowed: None,
        };
        Surface {
            version: 1,
            subject_layout: "iot.{site}.{device_type}.{metric}".into(),
            identity: vec!["event_id".into()],
            fields: BTreeMap::from([
                ("value".to_string(), field("number", true)),
                ("battery".to_string(), field("number", false)),
            ]),
            sites: BTreeSet::from(["a".to_string()]),
            metrics: BTreeMap::from([(
                ("press".to_string(), "temp".to_string()),
                MetricSurface {
                    value_type: "number".into(),
                    min: 0.0,
                    max: 100.0,
                },
            )]),
        }
    }

    fn rules(findings: &[Finding], impact: Impact) -> Vec<&'static str> {
        findings.iter().filter(|f| f.impact == impact).map(|f| f.rule).collect()
    }

    #[test]
    fn unchanged_is_clean() {
        assert!(compare(&base(), &base()).is_empty());
    }

    #[test]
    fn narrowing_and_requiring_break() {
        let mut new = base();
        new.fields.get_mut("battery").unwrap().required = true;
        new.metrics.values_mut().next().unwrap().max = 50.0;
        let findings = compare(&base(), &new);
        assert_eq!(
            rules(&findings, Impact::Breaking),
            vec!["contract::became-required", "contract::range-narrowed"]
        );
    }

    #[test]
    fn widening_and_optional_fields_are_additive() {
        let mut new = base();
        new.metrics.values_mut().next().unwrap().max = 150.0;
        new.fields.insert(
            "rssi".into(),
            FieldSurface {
                type_name: "integer".into(),
                required: false,
                allowed: None,
            },
        );
        let findings = compare(&base(), &new);
        assert!(rules(&findings, Impact::Breaking).is_empty());
        assert_eq!(
            rules(&findings, Impact::Additive),
            vec!["contract::field-added", "contract::range-widened"]
        );
    }
}
