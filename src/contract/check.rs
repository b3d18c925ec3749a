//! Breaking-change detection between two versions of the telemetry contract.

use serde::Serialize;

use super::surface::Surface;

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
    let mut findings = Vec::new();
    let mut add = |impact, rule, subject: String, message: String| {
        findings.push(Finding {
            impact,
            rule,
            subject,
            message,
        })
    };

    if old.subject_layout != new.subject_layout {
        add(
            Impact::Breaking,
            "contract::subject-layout-changed",
            "subject".into(),
            format!(
                "subject layout changed from `{}` to `{}`",
                old.subject_layout, new.subject_layout
            ),
        );
    }
    if old.identity != new.identity {
        add(
            Impact::Breaking,
            "contract::identity-changed",
            "identity".into(),
            format!(
                "event identity changed from ({}) to ({})",
                old.identity.join(", "),
                new.identity.join(", ")
            ),
        );
    }
    for (name, before) in &old.fields {
        let Some(after) = new.fields.get(name) else {
            add(
                Impact::Breaking,
                "contract::field-removed",
                name.clone(),
                format!("field `{name}` was removed"),
            );
            continue;
        };
        if before.type_name != after.type_name {
            add(
                Impact::Breaking,
                "contract::type-changed",
                name.clone(),
                format!(
                    "field `{name}` changed type from {} to {}",
                    before.type_name, after.type_name
                ),
            );
        }
        if !before.required && after.required {
            add(
                Impact::Breaking,
                "contract::became-required",
                name.clone(),
                format!("field `{name}` changed from optional to required"),
            );
        }
        if before.required && !after.required {
            add(
                Impact::Additive,
                "contract::became-optional",
                name.clone(),
                format!("field `{name}` is now optional"),
            );
        }
        match (&before.allowed, &after.allowed) {
            (Some(old_values), Some(new_values)) => {
                for removed in old_values.difference(new_values) {
                    add(
                        Impact::Breaking,
                        "contract::enum-value-removed",
                        name.clone(),
                        format!("value `{removed}` of field `{name}` was removed"),
                    );
                }
                for added in new_values.difference(old_values) {
                    add(
                        Impact::Additive,
                        "contract::enum-value-added",
                        name.clone(),
                        format!("value `{added}` of field `{name}` was added"),
                    );
                }
            }
            (None, Some(_)) => add(
                Impact::Breaking,
                "contract::enum-added",
                name.clone(),
                format!("field `{name}` is now restricted to a list of values"),
            ),
            (Some(_), None) => add(
                Impact::Additive,
                "contract::enum-removed",
                name.clone(),
                format!("field `{name}` is no longer restricted to a list of values"),
            ),
            (None, None) => {}
        }
    }
    for (name, after) in &new.fields {
        if !old.fields.contains_key(name) {
            if after.required {
                add(
                    Impact::Breaking,
                    "contract::required-field-added",
                    name.clone(),
                    format!("new field `{name}` is required: existing producers do not send it"),
                );
            } else {
                add(
                    Impact::Additive,
                    "contract::field-added",
                    name.clone(),
                    format!("optional field `{name}` was added"),
                );
            }
        }
    }
    for site in old.sites.difference(&new.sites) {
        add(
            Impact::Breaking,
            "contract::enum-value-removed",
            "site".into(),
            format!("site `{site}` was removed: its devices' events would be rejected"),
        );
    }
    for site in new.sites.difference(&old.sites) {
        add(
            Impact::Additive,
            "contract::enum-value-added",
            "site".into(),
            format!("site `{site}` was added"),
        );
    }
    for (key, before) in &old.metrics {
        let subject = format!("{}.{}", key.0, key.1);
        let Some(after) = new.metrics.get(key) else {
            add(
                Impact::Breaking,
                "contract::enum-value-removed",
                subject.clone(),
                format!("metric `{subject}` was removed: its events would be rejected"),
            );
            continue;
        };
        if before.value_type != after.value_type {
            let impact = if after.value_type == "integer" {
                Impact::Breaking
            } else {
                Impact::Additive
            };
            add(
                impact,
                "contract::type-changed",
                subject.clone(),
                format!(
                    "value of `{subject}` changed from {} to {}",
                    before.value_type, after.value_type
                ),
            );
        }
        if after.min > before.min || after.max < before.max {
            add(
                Impact::Breaking,
                "contract::range-narrowed",
                subject.clone(),
                format!(
                    "valid range of `{subject}` narrowed from [{}, {}] to [{}, {}]",
                    before.min, before.max, after.min, after.max
                ),
            );
        } else if after.min < before.min || after.max > before.max {
            add(
                Impact::Additive,
                "contract::range-widened",
                subject.clone(),
                format!(
                    "valid range of `{subject}` widened from [{}, {}] to [{}, {}]",
                    before.min, before.max, after.min, after.max
                ),
            );
        }
    }
    for key in new.metrics.keys() {
        if !old.metrics.contains_key(key) {
            add(
                Impact::Additive,
                "contract::enum-value-added",
                format!("{}.{}", key.0, key.1),
                format!("metric `{}.{}` was added", key.0, key.1),
            );
        }
    }
    findings.sort_by(|a, b| (a.impact, a.rule, &a.subject).cmp(&(b.impact, b.rule, &b.subject)));
    findings
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
