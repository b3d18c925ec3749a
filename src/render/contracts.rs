//! Event contracts: JSON Schema (2020-12) and Avro for the telemetry and alert events.
//! Built as JSON values, not text templates, so they are well-formed by construction.

use crate::spec::subjects::TelemetrySubject;
use crate::time::{RFC3339_WITH_ZONE_PATTERN, RISINGWAVE_SINK_TIMESTAMP_PATTERN};
use serde_json::{Map, Value, json};

use super::Artifact;
use crate::spec::event::{EventField, event_fields, identity_columns};
use crate::spec::model::{FieldType, Spec, ValueType};

pub fn render(spec: &Spec) -> anyhow::Result<Vec<Artifact>> {
    let pretty = |value: &Value| -> anyhow::Result<String> { Ok(serde_json::to_string_pretty(value)? + "\n") };
    Ok(vec![
        Artifact::new("contracts/telemetry.schema.json", pretty(&telemetry_json_schema(spec))?),
        Artifact::new("contracts/telemetry.avsc", pretty(&telemetry_avro(spec))?),
        Artifact::new("contracts/alert.schema.json", pretty(&alert_json_schema(spec))?),
        Artifact::new("contracts/alert.avsc", pretty(&alert_avro(spec))?),
    ])
}

fn json_type(field: &EventField) -> Value {
    let mut schema = match field.field_type {
        FieldType::String => json!({"type": "string", "minLength": 1}),
        FieldType::Integer => json!({"type": "integer"}),
        FieldType::Float => json!({"type": "number"}),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Timestamp => {
            json!({"type": "string", "format": "date-time", "pattern": RFC3339_WITH_ZONE_PATTERN})
        }
    };
    if let Some(values) = &field.allowed {
        schema["enum"] = json!(values);
    }
    if !field.description.is_empty() {
        schema["description"] = json!(field.description);
    }
    schema
}

pub fn telemetry_json_schema(spec: &Spec) -> Value {
    let fields = event_fields(spec);
    let mut properties = Map::new();
    for field in &fields {
        let mut schema = json_type(field);
        match field.name.as_str() {
            "site" => schema["enum"] = json!(spec.sites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()),
            "device_type" => {
                schema["enum"] = json!(spec.device_types.iter().map(|d| d.name.as_str()).collect::<Vec<_>>())
            }
            "metric" => {
                let mut metrics: Vec<&str> = spec
                    .device_types
                    .iter()
                    .flat_map(|d| d.metrics.iter().map(|m| m.name.as_str()))
                    .collect();
                metrics.sort_unstable();
                metrics.dedup();
                schema["enum"] = json!(metrics);
            }
            "seq" => schema["minimum"] = json!(0),
            _ => {}
        }
        properties.insert(field.name.clone(), schema);
    }
    // Per device type: which metrics it has; per metric: the value's type and valid range.
    let mut rules = Vec::new();
    for device_type in &spec.device_types {
        rules.push(json!({
            "if": {"properties": {"device_type": {"const": device_type.name}}, "required": ["device_type"]},
            "then": {"properties": {"metric": {"enum": device_type.metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>()}}},
        }));
        for metric in &device_type.metrics {
            let value_type = match metric.value_type {
                ValueType::Float => "number",
                ValueType::Integer => "integer",
            };
            rules.push(json!({
                "if": {"properties": {"device_type": {"const": device_type.name}, "metric": {"const": metric.name}}, "required": ["device_type", "metric"]},
                "then": {"properties": {"value": {"type": value_type, "minimum": metric.range.min, "maximum": metric.range.max, "description": format!("{} in {}", metric.name, metric.unit)}}},
            }));
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:iotctl:{}:telemetry:v{}", spec.pipeline.name, spec.contract.version),
        "title": format!("{} telemetry event", spec.pipeline.name),
        "description": format!("One reading of one metric, published to {}", TelemetrySubject::of(spec).pattern()),
        "type": "object",
        "properties": properties,
        "required": fields.iter().filter(|f| f.required).map(|f| f.name.as_str()).collect::<Vec<_>>(),
        "allOf": rules,
        "x-iotctl": {
            "pipeline": spec.pipeline.name,
            "contract_version": spec.contract.version,
            "subject": TelemetrySubject::of(spec).pattern(),
            "identity": identity_columns(spec),
        },
    })
}

fn avro_type(field: &EventField) -> Value {
    let base = match field.field_type {
        FieldType::String => json!("string"),
        FieldType::Integer => json!("long"),
        FieldType::Float => json!("double"),
        FieldType::Boolean => json!("boolean"),
        FieldType::Timestamp => json!({"type": "long", "logicalType": "timestamp-micros"}),
    };
    if field.required { base } else { json!(["null", base]) }
}

pub fn telemetry_avro(spec: &Spec) -> Value {
    let fields: Vec<Value> = event_fields(spec)
        .iter()
        .map(|field| {
            let mut avro = json!({"name": field.name, "type": avro_type(field)});
            if !field.required {
                avro["default"] = Value::Null;
            }
            if !field.description.is_empty() {
                avro["doc"] = json!(field.description);
            }
            avro
        })
        .collect();
    json!({
        "type": "record",
        "name": "TelemetryEvent",
        "namespace": format!("iotctl.{}.v{}", spec.pipeline.name, spec.contract.version),
        "doc": format!("One reading of one metric, published to {}", TelemetrySubject::of(spec).pattern()),
        "fields": fields,
    })
}

pub fn alert_json_schema(spec: &Spec) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:iotctl:{}:alert:v{}", spec.pipeline.name, spec.contract.version),
        "title": format!("{} alert event", spec.pipeline.name),
        "description": "An alert as RisingWave's NATS sink publishes it (timestamps are UTC without a zone suffix)",
        "type": "object",
        "properties": {
            "alert_id": {"type": "string", "minLength": 1, "description": "Stable across redeliveries: deduplicate on it"},
            "kind": {"enum": ["threshold", "anomaly"]},
            "severity": {"enum": ["warning", "critical"]},
            "device_id": {"type": "string", "minLength": 1},
            "site": {"type": "string"},
            "device_type": {"type": "string"},
            "metric": {"type": "string"},
            "ts": {"type": "string", "pattern": RISINGWAVE_SINK_TIMESTAMP_PATTERN, "description": "Event time of the reading, UTC"},
            "value": {"type": "number"},
            "threshold": {"type": ["number", "null"], "description": "The threshold crossed (threshold alerts)"},
            "zscore": {"type": ["number", "null"], "description": "Standard scores from the device's baseline (anomaly alerts)"},
        },
        "required": ["alert_id", "kind", "severity", "device_id", "site", "device_type", "metric", "ts", "value"],
    })
}

pub fn alert_avro(spec: &Spec) -> Value {
    let optional_double =
        |name: &str, doc: &str| json!({"name": name, "type": ["null", "double"], "default": null, "doc": doc});
    json!({
        "type": "record",
        "name": "AlertEvent",
        "namespace": format!("iotctl.{}.v{}", spec.pipeline.name, spec.contract.version),
        "doc": "An alert raised by the streaming layer",
        "fields": [
            {"name": "alert_id", "type": "string"},
            {"name": "kind", "type": {"type": "enum", "name": "AlertKind", "symbols": ["threshold", "anomaly"]}},
            {"name": "severity", "type": {"type": "enum", "name": "AlertSeverity", "symbols": ["warning", "critical"]}},
            {"name": "device_id", "type": "string"},
            {"name": "site", "type": "string"},
            {"name": "device_type", "type": "string"},
            {"name": "metric", "type": "string"},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "value", "type": "double"},
            optional_double("threshold", "The threshold crossed (threshold alerts)"),
            optional_double("zscore", "Standard scores from the device's baseline (anomaly alerts)"),
        ],
    })
}
