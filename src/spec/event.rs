//! The telemetry event model: the fixed envelope plus the spec's extra fields, the columns
//! iotctl generates beside them, the identity, and how each field maps to RisingWave,
//! PostgreSQL, DuckDB, JSON Schema and Avro.

use serde::Serialize;

use crate::spec::model::{AlertKind, FieldType, Identity, Metric, Severity, Spec, ValueType};

/// One envelope field of every telemetry event.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeField {
    pub name: &'static str,
    pub field_type: FieldType,
    pub description: &'static str,
}

pub const ENVELOPE_FIELDS: &[EnvelopeField] = &[
    EnvelopeField {
        name: "event_id",
        field_type: FieldType::String,
        description: "Producer-assigned unique event id",
    },
    EnvelopeField {
        name: "device_id",
        field_type: FieldType::String,
        description: "Device that took the reading",
    },
    EnvelopeField {
        name: "site",
        field_type: FieldType::String,
        description: "Site of the device (matches the subject's site token)",
    },
    EnvelopeField {
        name: "device_type",
        field_type: FieldType::String,
        description: "Device type (matches the subject's device_type token)",
    },
    EnvelopeField {
        name: "metric",
        field_type: FieldType::String,
        description: "Metric name (matches the subject's metric token)",
    },
    EnvelopeField {
        name: "ts",
        field_type: FieldType::Timestamp,
        description: "Event time, RFC 3339 with an explicit zone",
    },
    EnvelopeField {
        name: "value",
        field_type: FieldType::Float,
        description: "The reading, in the metric's unit",
    },
    EnvelopeField {
        name: "seq",
        field_type: FieldType::Integer,
        description: "Per-device, per-metric sequence number",
    },
    EnvelopeField {
        name: "firmware_version",
        field_type: FieldType::String,
        description: "Firmware that produced the reading",
    },
];

/// The device-id prefix reserved for `iotctl probe`'s canaries. A canary is a valid reading
/// that must page (it breaches a critical threshold) and must never count: aggregates, the
/// warehouse, the SQLMesh models and reconcile all leave out devices with this prefix.
pub const CANARY_DEVICE_PREFIX: &str = "iotctl-canary-";

/// The SQL `LIKE` pattern of canary device ids (the prefix holds no `%` or `_`).
pub fn canary_device_like() -> String {
    format!("{CANARY_DEVICE_PREFIX}%")
}

/// A canary's reading of `metric`: strictly beyond its critical threshold and inside its
/// range, halfway between the two (an integer metric takes the next whole number past the
/// threshold); None when no valid reading breaches it.
pub fn canary_value(metric: &Metric) -> Option<f64> {
    let critical = metric.thresholds.critical?;
    let (min, max) = (metric.range.min, metric.range.max);
    let integer = metric.value_type == ValueType::Integer;
    let above = critical.above.and_then(|t| {
        let v = if integer { t.floor() + 1.0 } else { (t + max) / 2.0 };
        (v > t && v <= max).then_some(v)
    });
    let below = critical.below.and_then(|t| {
        let v = if integer { t.ceil() - 1.0 } else { (t + min) / 2.0 };
        (v < t && v >= min).then_some(v)
    });
    above.or(below)
}

/// Whether `iotctl probe` can send a canary that pages: a metric a canary can breach, and an
/// alert sink that forwards critical threshold alerts.
pub fn canaries_can_page(spec: &Spec) -> bool {
    spec.device_types
        .iter()
        .flat_map(|d| &d.metrics)
        .any(|m| canary_value(m).is_some())
        && spec
            .risingwave
            .alert_sinks
            .iter()
            .any(|s| s.forwards(Severity::Critical, AlertKind::Threshold))
}

/// Whether a device id is one of `iotctl probe`'s canaries.
pub fn is_canary_device(device_id: &str) -> bool {
    device_id.starts_with(CANARY_DEVICE_PREFIX)
}

/// Columns iotctl's RisingWave views carry beside the contract's fields (the classification
/// in `sql/risingwave/classify.sql.j2`, the replay view): an extra field named like one would be
/// a column named twice, which RisingWave refuses.
pub const GENERATED_COLUMNS: &[(&str, &str)] = &[
    ("payload", "the ingestion table's raw message"),
    ("nats_subject", "the message's NATS subject"),
    ("received_at", "when RisingWave read the event"),
    ("body_text", "the payload decoded as UTF-8"),
    ("body", "the payload parsed as JSON"),
    ("reject_reason", "why the event was dead-lettered"),
    ("late", "whether the event arrived after the allowed lateness"),
    ("copy", "the replay view's copy number of an event"),
];

/// A field of the telemetry event as every renderer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct EventField {
    pub name: String,
    pub field_type: FieldType,
    pub required: bool,
    pub description: String,
    pub allowed: Option<Vec<String>>,
    pub envelope: bool,
}

impl EventField {
    pub fn risingwave_type(&self) -> &'static str {
        match self.field_type {
            FieldType::String => "VARCHAR",
            FieldType::Integer => "BIGINT",
            FieldType::Float => "DOUBLE PRECISION",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Timestamp => "TIMESTAMPTZ",
        }
    }

    /// PostgreSQL column type; identical names to RisingWave's so the sink's types match.
    pub fn postgres_type(&self) -> &'static str {
        match self.field_type {
            FieldType::String => "TEXT",
            FieldType::Integer => "BIGINT",
            FieldType::Float => "DOUBLE PRECISION",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Timestamp => "TIMESTAMPTZ",
        }
    }

    /// Type name as SQLMesh (DuckDB dialect) writes it in `columns (...)`.
    pub fn sqlmesh_type(&self) -> &'static str {
        match self.field_type {
            FieldType::String => "TEXT",
            FieldType::Integer => "BIGINT",
            FieldType::Float => "DOUBLE",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Timestamp => "TIMESTAMPTZ",
        }
    }
}

/// Where each envelope field sits in `ENVELOPE_FIELDS`, and so in `event_fields`: hot paths
/// address fields by position instead of by name.
pub mod envelope {
    pub const EVENT_ID: usize = 0;
    pub const DEVICE_ID: usize = 1;
    pub const SITE: usize = 2;
    pub const DEVICE_TYPE: usize = 3;
    pub const METRIC: usize = 4;
    pub const TS: usize = 5;
    pub const VALUE: usize = 6;
    pub const SEQ: usize = 7;
    pub const FIRMWARE_VERSION: usize = 8;
}

/// The position of an envelope field by name. The names differ in length, so one length test
/// and one compare decide.
pub fn envelope_index(name: &str) -> Option<usize> {
    let (index, expected) = match name.len() {
        8 => (envelope::EVENT_ID, "event_id"),
        9 => (envelope::DEVICE_ID, "device_id"),
        4 => (envelope::SITE, "site"),
        11 => (envelope::DEVICE_TYPE, "device_type"),
        6 => (envelope::METRIC, "metric"),
        2 => (envelope::TS, "ts"),
        5 => (envelope::VALUE, "value"),
        3 => (envelope::SEQ, "seq"),
        16 => (envelope::FIRMWARE_VERSION, "firmware_version"),
        _ => return None,
    };
    (name == expected).then_some(index)
}

/// Envelope then extra fields, in contract order.
pub fn event_fields(spec: &Spec) -> Vec<EventField> {
    let identity = identity_columns(spec);
    let mut fields: Vec<EventField> = ENVELOPE_FIELDS
        .iter()
        .map(|f| EventField {
            name: f.name.to_string(),
            field_type: f.field_type,
            // seq and event_id are required only when they make up the identity.
            required: match f.name {
                "event_id" | "seq" => identity.contains(&f.name),
                _ => true,
            },
            description: f.description.to_string(),
            allowed: None,
            envelope: true,
        })
        .collect();
    fields.extend(spec.contract.extra_fields.iter().map(|f| EventField {
        name: f.name.to_string(),
        field_type: f.field_type,
        required: f.required,
        description: f.description.clone().unwrap_or_default(),
        allowed: f.allowed.clone(),
        envelope: false,
    }));
    fields
}

/// Columns that identify one event: the warehouse primary key and the dedupe key.
pub fn identity_columns(spec: &Spec) -> Vec<&'static str> {
    match spec.contract.identity {
        Identity::EventId => vec!["event_id"],
        Identity::DeviceSequence => vec!["device_id", "metric", "seq"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_pattern_is_the_prefix_and_holds_no_like_wildcard() {
        assert!(!CANARY_DEVICE_PREFIX.contains(['%', '_']));
        assert_eq!(canary_device_like(), "iotctl-canary-%");
        assert!(is_canary_device("iotctl-canary-berlin-1") && !is_canary_device("press-001"));
    }

    #[test]
    fn envelope_positions_name_the_envelope_fields() {
        for (index, field) in ENVELOPE_FIELDS.iter().enumerate() {
            assert_eq!(envelope_index(field.name), Some(index), "{}", field.name);
        }
        let named = [
            (envelope::EVENT_ID, "event_id"),
            (envelope::DEVICE_ID, "device_id"),
            (envelope::SITE, "site"),
            (envelope::DEVICE_TYPE, "device_type"),
            (envelope::METRIC, "metric"),
            (envelope::TS, "ts"),
            (envelope::VALUE, "value"),
            (envelope::SEQ, "seq"),
            (envelope::FIRMWARE_VERSION, "firmware_version"),
        ];
        assert_eq!(named.len(), ENVELOPE_FIELDS.len());
        for (index, name) in named {
            assert_eq!(ENVELOPE_FIELDS[index].name, name);
        }
        for other in ["", "line", "Site", "values", "event_ix", "firmware_versio_"] {
            assert_eq!(envelope_index(other), None, "{other}");
        }
    }
}
