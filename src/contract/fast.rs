//! A direct check of the telemetry contract for hot paths (replay validates every event).
//! The JSON Schema's per-metric rules are an `allOf` that a generic validator walks rule by
//! rule; here they are one hash lookup. It answers only "valid or not"; for the reasons, the
//! caller asks the JSON Schema validator. Tests keep both in agreement.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::flat::{EventFields, FlatEvent, Scalar};
use crate::fxhash::Fx;
use crate::time::{is_rfc3339_with_zone, parse_rfc3339_ms};

use crate::spec::Spec;
use crate::spec::event::{ENVELOPE_FIELDS, EventField, envelope, envelope_index, event_fields};
use crate::spec::model::{FieldType, ValueType};
use crate::spec::subjects::{LAYOUT, TelemetrySubject};

struct MetricRule {
    integer: bool,
    min: f64,
    max: f64,
}

pub struct FastContract {
    fields: Vec<EventField>,
    enums: Vec<Option<HashSet<String, Fx>>>,
    sites: HashSet<String, Fx>,
    /// device_type → metric → rule.
    metrics: HashMap<String, HashMap<String, MetricRule, Fx>, Fx>,
    /// Every metric name of any device type.
    metric_names: HashSet<String, Fx>,
    max_clock_skew_ms: i64,
    max_clock_skew: String,
    subjects: TelemetrySubject,
}

fn type_ok(value: &Scalar, field_type: FieldType) -> bool {
    match field_type {
        FieldType::String => value.as_str().is_some_and(|s| !s.is_empty()),
        FieldType::Integer => value.is_integer() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        FieldType::Float => value.as_f64().is_some(),
        FieldType::Boolean => matches!(value, Scalar::Bool(_)),
        FieldType::Timestamp => value.as_str().is_some_and(is_rfc3339_with_zone),
    }
}

impl FastContract {
    /// The telemetry subject layout the contract checks subjects against.
    pub fn subjects(&self) -> &TelemetrySubject {
        &self.subjects
    }

    pub fn for_spec(spec: &Spec) -> FastContract {
        let fields = event_fields(spec);
        let enums = fields
            .iter()
            .map(|f| f.allowed.as_ref().map(|v| v.iter().cloned().collect()))
            .collect();
        let mut metrics: HashMap<String, HashMap<String, MetricRule, Fx>, Fx> = HashMap::default();
        for device_type in &spec.device_types {
            let rules = metrics.entry(device_type.name.to_string()).or_default();
            for metric in &device_type.metrics {
                rules.insert(
                    metric.name.to_string(),
                    MetricRule {
                        integer: metric.value_type == ValueType::Integer,
                        min: metric.range.min,
                        max: metric.range.max,
                    },
                );
            }
        }
        FastContract {
            fields,
            enums,
            sites: spec.sites.iter().map(|s| s.name.to_string()).collect(),
            subjects: TelemetrySubject::of(spec),
            metric_names: metrics.values().flat_map(|rules| rules.keys().cloned()).collect(),
            metrics,
            max_clock_skew_ms: spec.contract.max_clock_skew.as_millis() as i64,
            max_clock_skew: spec.contract.max_clock_skew.to_string(),
        }
    }

    /// The contract field each key of `event` fills (the last of duplicates, as serde_json
    /// keeps), found once, so the checks and the caller then address fields by position.
    pub fn resolve<'e, 'a>(&self, event: &'e FlatEvent<'a>) -> Resolved<'e, 'a> {
        let mut positions = [ABSENT; MAX_RESOLVED];
        if self.fields.len() > MAX_RESOLVED {
            return Resolved { event, positions: None };
        }
        for (position, key) in event.keys().enumerate() {
            let Some(position) = u8::try_from(position).ok().filter(|p| *p != ABSENT) else {
                return Resolved { event, positions: None };
            };
            let index = envelope_index(key).or_else(|| {
                self.fields[ENVELOPE_FIELDS.len()..]
                    .iter()
                    .position(|f| f.name == key)
                    .map(|extra| ENVELOPE_FIELDS.len() + extra)
            });
            if let Some(index) = index {
                positions[index] = position;
            }
        }
        Resolved {
            event,
            positions: Some(positions),
        }
    }

    /// Whether `event` satisfies the contract (the same answer as the JSON Schema).
    pub fn is_valid(&self, event: &Value) -> bool {
        self.is_valid_fields(event)
    }

    /// The same check on any view of the event's fields (a borrowed `FlatEvent` on hot paths).
    pub fn is_valid_fields<E: EventFields>(&self, event: &E) -> bool {
        if !event.is_object() {
            return false;
        }
        for (index, (field, allowed)) in self.fields.iter().zip(&self.enums).enumerate() {
            // JSON Schema `type` applies to a present value, null included.
            match event.field_at(index, &field.name) {
                None => {
                    if field.required {
                        return false;
                    }
                }
                Some(value) => {
                    if !type_ok(&value, field.field_type) {
                        return false;
                    }
                    if let Some(allowed) = allowed
                        && !value.as_str().is_some_and(|s| allowed.contains(s))
                    {
                        return false;
                    }
                }
            }
        }
        if event
            .field_at(envelope::SEQ, "seq")
            .and_then(|s| s.as_f64())
            .is_some_and(|s| s < 0.0)
        {
            return false;
        }
        if let Some(site) = event.field_at(envelope::SITE, "site")
            && !site.as_str().is_some_and(|s| self.sites.contains(s))
        {
            return false;
        }
        let device_type = event.field_at(envelope::DEVICE_TYPE, "device_type");
        let device_type = match &device_type {
            None => None,
            Some(d) => match d.as_str() {
                Some(name) if self.metrics.contains_key(name) => Some(name),
                _ => return false,
            },
        };
        let metric = event.field_at(envelope::METRIC, "metric");
        let metric = match &metric {
            None => None,
            Some(m) => match m.as_str() {
                Some(name) if self.metric_names.contains(name) => Some(name),
                _ => return false,
            },
        };
        if let (Some(device_type), Some(metric)) = (device_type, metric) {
            let Some(rule) = self.metrics.get(device_type).and_then(|rules| rules.get(metric)) else {
                return false;
            };
            if let Some(value) = event.field_at(envelope::VALUE, "value") {
                let Some(number) = value.as_f64() else { return false };
                if number < rule.min || number > rule.max || (rule.integer && number.fract() != 0.0) {
                    return false;
                }
            }
        }
        true
    }
}

impl FastContract {
    /// The contract's clock rule, for an event that passed `is_valid_fields`: its `ts` lies no
    /// further ahead of `received_ms` (when the telemetry stream stored it) than
    /// `contract.max_clock_skew`. RisingWave's classification applies the same rule against the
    /// time it reads the event (`render::risingwave`, `classify` macro), with the same reason.
    pub fn check_clock_skew<E: EventFields>(&self, event: &E, received_ms: i64) -> Result<(), String> {
        let ts = event.field_at(envelope::TS, "ts");
        let Some(ts_ms) = ts.as_ref().and_then(|t| t.as_str()).and_then(parse_rfc3339_ms) else {
            return Ok(());
        };
        if ts_ms > received_ms.saturating_add(self.max_clock_skew_ms) {
            return Err(super::reasons::clock_skew(&self.max_clock_skew));
        }
        Ok(())
    }
}

impl FastContract {
    /// Whether one telemetry message is accepted, by the rules both engines apply: the payload
    /// rules, one JSON object, the contract's fields, the subject, the clock. `published_ms` is
    /// when the telemetry stream stored it. (Replay asks the same questions in the same order
    /// and, for a reject, the JSON Schema for its reason.)
    pub fn accepts(&self, subject: &str, payload: &[u8], published_ms: i64) -> bool {
        let Ok(flat) = FlatEvent::parse(payload) else {
            return false;
        };
        super::reasons::check_parsed(payload).is_ok() && self.accepts_event(&self.resolve(&flat), subject, published_ms)
    }

    /// The rules after parsing: the contract's fields, the subject, the clock.
    pub fn accepts_event<E: EventFields>(&self, event: &E, subject: &str, published_ms: i64) -> bool {
        self.is_valid_fields(event)
            && subject_matches(event, subject, &self.subjects).is_ok()
            && self.check_clock_skew(event, published_ms).is_ok()
    }
}

/// Contract fields resolved beyond this many are looked up by name.
const MAX_RESOLVED: usize = 32;
const ABSENT: u8 = u8::MAX;

/// A `FlatEvent` with the position of each contract field in it, from `FastContract::resolve`.
pub struct Resolved<'e, 'a> {
    event: &'e FlatEvent<'a>,
    /// Per contract field, its key's position in the event; `None` when there were too many
    /// fields or keys to resolve, and every lookup goes by name.
    positions: Option<[u8; MAX_RESOLVED]>,
}

impl EventFields for Resolved<'_, '_> {
    fn is_object(&self) -> bool {
        self.event.is_object()
    }

    fn field(&self, name: &str) -> Option<Scalar<'_>> {
        match envelope_index(name) {
            Some(index) => self.field_at(index, name),
            None => self.event.field(name),
        }
    }

    fn field_at(&self, index: usize, name: &str) -> Option<Scalar<'_>> {
        match &self.positions {
            Some(positions) => match positions[index] {
                ABSENT => None,
                position => self.event.value_at(usize::from(position)),
            },
            None => self.event.field(name),
        }
    }
}

/// Whether a message's subject agrees with its payload in site, device type and metric. A
/// mismatch is a contract failure: aggregates keyed on the payload would land elsewhere.
pub fn subject_matches<E: EventFields>(event: &E, subject: &str, layout: &TelemetrySubject) -> Result<(), String> {
    let Some(tokens) = layout.tokens(subject) else {
        return Err(format!("subject `{subject}` is not {LAYOUT}"));
    };
    for (index, field, token) in [
        (envelope::SITE, "site", tokens.site),
        (envelope::DEVICE_TYPE, "device_type", tokens.device_type),
        (envelope::METRIC, "metric", tokens.metric),
    ] {
        if event.field_at(index, field).as_ref().and_then(|v| v.as_str()) != Some(token) {
            return Err(format!("payload {field} does not match subject `{subject}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::payload::PayloadValidator;

    fn factory() -> Spec {
        crate::spec::load::parse("factory.yaml", include_str!("../../examples/factory.yaml").as_bytes())
            .unwrap()
            .spec
    }

    /// Mutations of a valid event covering every rule; the fast check must agree with the
    /// JSON Schema on each.
    #[test]
    fn agrees_with_the_json_schema() {
        let spec = factory();
        let fast = FastContract::for_spec(&spec);
        let schema = PayloadValidator::for_spec(&spec).unwrap();
        let base: Value = serde_json::json!({"event_id": "e1", "device_id": "d1", "site": "berlin", "device_type": "press", "metric": "stroke_count", "ts": "2026-03-01T08:15:00.25+01:00", "value": 120, "seq": 4, "firmware_version": "1.0", "line": "l1", "operating_mode": "setup"});
        let edits: Vec<(&str, Value)> = vec![
            ("event_id", Value::Null),
            ("event_id", serde_json::json!("")),
            ("event_id", serde_json::json!(7)),
            ("device_id", Value::Null),
            ("site", serde_json::json!("paris")),
            ("site", serde_json::json!(1)),
            ("device_type", serde_json::json!("cnc_mill")),
            ("device_type", serde_json::json!("oven")),
            ("metric", serde_json::json!("oil_temperature")),
            ("metric", serde_json::json!("spindle_load")),
            ("metric", serde_json::json!("nope")),
            ("value", serde_json::json!(120.5)),
            ("value", serde_json::json!(120.0)),
            ("value", serde_json::json!(-1)),
            ("value", serde_json::json!(100001)),
            ("value", serde_json::json!("120")),
            ("value", Value::Null),
            ("seq", serde_json::json!(-1)),
            ("seq", serde_json::json!(1.5)),
            ("seq", Value::Null),
            ("ts", serde_json::json!("2026-03-01T08:15:00")),
            ("ts", serde_json::json!("2026-03-01 08:15:00Z")),
            ("ts", serde_json::json!("2026-13-01T08:15:00Z")),
            ("ts", serde_json::json!("2026-03-01t08:15:00z")),
            ("ts", serde_json::json!("2026-03-01T08:15:00.Z")),
            ("ts", serde_json::json!("2026-02-30T08:15:00Z")),
            ("ts", serde_json::json!("2026-04-31T08:15:00Z")),
            ("ts", serde_json::json!("2024-02-29T08:15:00Z")),
            ("ts", serde_json::json!("2100-02-29T08:15:00Z")),
            ("ts", serde_json::json!("2000-02-29T08:15:00Z")),
            ("operating_mode", serde_json::json!("turbo")),
            ("operating_mode", Value::Null),
            ("line", serde_json::json!(3)),
            ("firmware_version", Value::Null),
            ("extra", serde_json::json!({"nested": true})),
        ];
        let mut checked = 0;
        for (field, replacement) in edits {
            for remove in [false, true] {
                let mut event = base.clone();
                if remove {
                    event.as_object_mut().unwrap().remove(field);
                } else {
                    event[field] = replacement.clone();
                }
                let expected = schema.violations(&event).is_empty();
                assert_eq!(
                    fast.is_valid(&event),
                    expected,
                    "{field} = {replacement} (removed: {remove}): {event}"
                );
                let text = event.to_string();
                let flat = crate::contract::flat::FlatEvent::parse(text.as_bytes()).unwrap();
                assert_eq!(fast.is_valid_fields(&flat), expected, "borrowed view of {text}");
                assert_eq!(
                    fast.is_valid_fields(&fast.resolve(&flat)),
                    expected,
                    "resolved view of {text}"
                );
                checked += 1;
            }
        }
        assert!(fast.is_valid(&base) && schema.violations(&base).is_empty());
        assert!(
            !fast.is_valid(&serde_json::json!([1, 2])) && !schema.violations(&serde_json::json!([1, 2])).is_empty()
        );
        assert_eq!(checked, 70);
    }

    /// Resolved positions answer what a lookup by name answers: duplicates (the last wins),
    /// extra and unknown keys, escaped strings, and events too wide to resolve.
    #[test]
    fn resolved_fields_match_lookups_by_name() {
        let fast = FastContract::for_spec(&factory());
        let wide = format!(
            "{{{}\"site\":\"lyon\"}}",
            (0..300).map(|i| format!("\"k{i}\":{i},")).collect::<String>()
        );
        let payloads = [
            r#"{"site":"berlin","metric":"m","site":"lyon","line":"l\"1","zzz":1,"value":2.5}"#,
            r#"{"operating_mode":"idle","line":null,"ts":"2026-01-01T00:00:00Z","seq":3,"event_id":"e"}"#,
            r#"{"device_id":"d","firmware_version":"1","device_type":"press","line":"a","line":"b"}"#,
            r#"{}"#,
            r#"[1]"#,
            &wide,
        ];
        let mut names: Vec<String> = fast.fields.iter().map(|f| f.name.clone()).collect();
        names.extend(["zzz".to_string(), "k7".to_string(), "missing".to_string()]);
        for payload in payloads {
            let flat = FlatEvent::parse(payload.as_bytes()).unwrap();
            let resolved = fast.resolve(&flat);
            assert_eq!(resolved.is_object(), flat.is_object());
            for name in &names {
                assert_eq!(resolved.field(name), flat.field(name), "{name} in {payload}");
                if let Some(index) = fast.fields.iter().position(|f| &f.name == name) {
                    assert_eq!(resolved.field_at(index, name), flat.field(name), "{name} in {payload}");
                }
            }
        }
        let first = FlatEvent::parse(payloads[0].as_bytes()).unwrap();
        assert!(fast.resolve(&first).positions.is_some());
        let wide = FlatEvent::parse(wide.as_bytes()).unwrap();
        assert!(fast.resolve(&wide).positions.is_none(), "300 keys fall back to names");
        assert_eq!(
            fast.resolve(&wide).field_at(envelope::SITE, "site").unwrap().as_str(),
            Some("lyon")
        );
    }

    #[test]
    fn generated_samples_are_valid_for_both() {
        let spec = factory();
        let fast = FastContract::for_spec(&spec);
        let schema = PayloadValidator::for_spec(&spec).unwrap();
        let fields = event_fields(&spec);
        let options = crate::sample::SampleOptions {
            start: "2026-01-01".into(),
            days: 1,
            devices_per_type: 1,
            interval_secs: 7200,
        };
        let mut lines = String::new();
        crate::sample::generate(&spec, &options, |e| crate::sample::json_line(&fields, e, &mut lines)).unwrap();
        for line in lines.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            assert!(fast.is_valid(&event) && schema.violations(&event).is_empty(), "{line}");
        }
    }
}
