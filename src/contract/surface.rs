//! The parts of the telemetry contract producers depend on, read either from a spec or from
//! a rendered `telemetry.schema.json`, so that two versions can be compared.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::spec::event::{event_fields, identity_columns};
use crate::spec::model::{FieldType, Spec, ValueType};
use crate::spec::subjects::TelemetrySubject;

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSurface {
    /// `string`, `integer`, `number`, `boolean` or `timestamp`.
    pub type_name: String,
    pub required: bool,
    pub allowed: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSurface {
    /// `number` or `integer`.
    pub value_type: String,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    pub version: u32,
    pub subject_layout: String,
    pub identity: Vec<String>,
    pub fields: BTreeMap<String, FieldSurface>,
    pub sites: BTreeSet<String>,
    /// (device_type, metric) → value contract.
    pub metrics: BTreeMap<(String, String), MetricSurface>,
}

fn type_name(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Float => "number",
        FieldType::Boolean => "boolean",
        FieldType::Timestamp => "timestamp",
    }
}

impl Surface {
    pub fn from_spec(spec: &Spec) -> Surface {
        Surface {
            version: spec.contract.version,
            subject_layout: TelemetrySubject::of(spec).pattern(),
            identity: identity_columns(spec).iter().map(|c| c.to_string()).collect(),
            fields: event_fields(spec)
                .into_iter()
                .map(|f| {
                    let allowed = f.allowed.as_ref().map(|v| v.iter().cloned().collect());
                    (
                        f.name,
                        FieldSurface {
                            type_name: type_name(f.field_type).to_string(),
                            required: f.required,
                            allowed,
                        },
                    )
                })
                .collect(),
            sites: spec.sites.iter().map(|s| s.name.to_string()).collect(),
            metrics: spec
                .device_types
                .iter()
                .flat_map(|dt| {
                    dt.metrics.iter().map(move |m| {
                        let value_type = match m.value_type {
                            ValueType::Float => "number",
                            ValueType::Integer => "integer",
                        };
                        (
                            (dt.name.to_string(), m.name.to_string()),
                            MetricSurface {
                                value_type: value_type.into(),
                                min: m.range.min,
                                max: m.range.max,
                            },
                        )
                    })
                })
                .collect(),
        }
    }

    /// Reads a `telemetry.schema.json` rendered by iotctl.
    pub fn from_json_schema(schema: &Value) -> anyhow::Result<Surface> {
        let meta = schema
            .get("x-iotctl")
            .context("not an iotctl telemetry contract: no `x-iotctl` block")?;
        let version = meta["contract_version"]
            .as_u64()
            .context("`x-iotctl.contract_version` missing")? as u32;
        let subject_layout = meta["subject"]
            .as_str()
            .context("`x-iotctl.subject` missing")?
            .to_string();
        let identity = strings(&meta["identity"]).context("`x-iotctl.identity` missing")?;
        let required: BTreeSet<String> = strings(&schema["required"]).unwrap_or_default().into_iter().collect();
        let Some(properties) = schema["properties"].as_object() else {
            bail!("contract has no `properties`")
        };
        let mut fields = BTreeMap::new();
        let mut sites = BTreeSet::new();
        for (name, property) in properties {
            let type_name = match (property["type"].as_str(), property["format"].as_str()) {
                (Some("string"), Some("date-time")) => "timestamp",
                (Some(t), _) => t,
                (None, _) => "string", // enum-only properties (site, device_type, metric)
            };
            let allowed = match name.as_str() {
                "site" | "device_type" | "metric" => None,
                _ => strings(&property["enum"]).map(|v| v.into_iter().collect()),
            };
            if name == "site" {
                sites = strings(&property["enum"]).unwrap_or_default().into_iter().collect();
            }
            fields.insert(
                name.clone(),
                FieldSurface {
                    type_name: type_name.to_string(),
                    required: required.contains(name),
                    allowed,
                },
            );
        }
        let mut metrics = BTreeMap::new();
        for rule in schema["allOf"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let condition = &rule["if"]["properties"];
            let (Some(device_type), Some(metric)) = (
                condition["device_type"]["const"].as_str(),
                condition["metric"]["const"].as_str(),
            ) else {
                continue;
            };
            let value = &rule["then"]["properties"]["value"];
            metrics.insert(
                (device_type.to_string(), metric.to_string()),
                MetricSurface {
                    value_type: value["type"].as_str().unwrap_or("number").to_string(),
                    min: value["minimum"].as_f64().unwrap_or(f64::NEG_INFINITY),
                    max: value["maximum"].as_f64().unwrap_or(f64::INFINITY),
                },
            );
        }
        Ok(Surface {
            version,
            subject_layout,
            identity,
            fields,
            sites,
            metrics,
        })
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}
