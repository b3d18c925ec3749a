//! Deterministic sample telemetry for a spec: daily cycles, noise and occasional breaches.
//! Used by the demo and the SQLMesh tests to load a warehouse without a live pipeline.

use crate::spec::event::{EventField, event_fields};
use crate::spec::model::{FieldType, Spec, ValueType};
use crate::time::{DAY_SECS, Day, rfc3339_secs};

pub struct SampleOptions {
    /// First UTC day, YYYY-MM-DD.
    pub start: String,
    pub days: u32,
    pub devices_per_type: u32,
    pub interval_secs: u32,
}

/// One generated reading, with every contract field's value as text (None = absent).
pub struct SampleEvent {
    pub values: Vec<Option<String>>,
}

/// splitmix64: tiny, fast and reproducible everywhere (also the simulator's generator).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Generates the events in time order per device; calls `emit` for each.
pub fn generate(spec: &Spec, options: &SampleOptions, mut emit: impl FnMut(&SampleEvent)) -> anyhow::Result<u64> {
    let Some(start_day) = Day::parse(&options.start) else {
        anyhow::bail!("`{}` is not a YYYY-MM-DD date", options.start)
    };
    anyhow::ensure!(options.interval_secs > 0, "interval must be positive");
    let fields = event_fields(spec);
    let start = start_day.days_since_epoch() * DAY_SECS;
    let end = start + i64::from(options.days) * DAY_SECS;
    let mut rng = Rng(0x010C_7C71_u64 ^ u64::from(spec.pipeline.name.as_str().len() as u32));
    let mut count = 0;
    for site in &spec.sites {
        for device_type in &spec.device_types {
            for n in 1..=options.devices_per_type {
                let device_id = format!("{}-{}-{n:03}", site.name, device_type.name);
                for metric in &device_type.metrics {
                    let (lo, hi) = (metric.range.min, metric.range.max);
                    // Normal readings sit in the middle of the band below any warning threshold.
                    let warn_above = metric.thresholds.warning.and_then(|b| b.above).unwrap_or(hi);
                    let warn_below = metric.thresholds.warning.and_then(|b| b.below).unwrap_or(lo);
                    let centre = (warn_above + warn_below) / 2.0;
                    let amplitude = (warn_above - warn_below) / 4.0;
                    let phase = rng.unit() * std::f64::consts::TAU;
                    let mut seq: u64 = 0;
                    let mut t = start;
                    while t < end {
                        seq += 1;
                        let day_fraction = t.rem_euclid(DAY_SECS) as f64 / DAY_SECS as f64;
                        let mut value = centre
                            + amplitude * (day_fraction * std::f64::consts::TAU + phase).sin()
                            + amplitude * 0.2 * (rng.unit() - 0.5);
                        if rng.unit() < 0.01 {
                            // An occasional spike above the normal band: a warning or worse.
                            value = warn_above + (hi - warn_above) * rng.unit() * 0.5;
                        }
                        value = value.clamp(lo, hi);
                        if metric.value_type == ValueType::Integer {
                            value = value.round();
                        } else {
                            value = (value * 1000.0).round() / 1000.0;
                        }
                        let ts = rfc3339_secs(t);
                        let reading = Reading {
                            site: site.name.as_str(),
                            device_type: device_type.name.as_str(),
                            device_id: &device_id,
                            metric: metric.name.as_str(),
                            ts: &ts,
                            value,
                            seq,
                            pipeline: spec.pipeline.name.as_str(),
                        };
                        emit(&SampleEvent::of(&fields, &reading));
                        count += 1;
                        t += i64::from(options.interval_secs);
                    }
                }
            }
        }
    }
    Ok(count)
}

/// One reading of one device: what every contract field's value is made from.
pub struct Reading<'a> {
    pub site: &'a str,
    pub device_type: &'a str,
    pub device_id: &'a str,
    pub metric: &'a str,
    pub ts: &'a str,
    pub value: f64,
    pub seq: u64,
    pub pipeline: &'a str,
}

impl SampleEvent {
    /// The contract fields' values of a reading; required extra fields get a placeholder of
    /// their type (the first allowed value of an enum), optional ones stay absent.
    pub fn of(fields: &[EventField], reading: &Reading) -> SampleEvent {
        SampleEvent {
            values: fields.iter().map(|f| field_value(f, reading)).collect(),
        }
    }
}

fn field_value(field: &EventField, c: &Reading) -> Option<String> {
    let text = match field.name.as_str() {
        "event_id" => format!("{}-{}-{}-{}", c.pipeline, c.device_id, c.metric, c.seq),
        "device_id" => c.device_id.to_string(),
        "site" => c.site.to_string(),
        "device_type" => c.device_type.to_string(),
        "metric" => c.metric.to_string(),
        "ts" => c.ts.to_string(),
        "value" => format!("{}", c.value),
        "seq" => c.seq.to_string(),
        "firmware_version" => "1.4.2".to_string(),
        _ if !field.required => return None,
        _ => match (field.field_type, &field.allowed) {
            (_, Some(values)) => values.first().cloned().unwrap_or_default(),
            (FieldType::String, None) => "sample".to_string(),
            (FieldType::Integer, None) => "1".to_string(),
            (FieldType::Float, None) => "1.0".to_string(),
            (FieldType::Boolean, None) => "true".to_string(),
            (FieldType::Timestamp, None) => c.ts.to_string(),
        },
    };
    Some(text)
}

/// CSV header line: the contract's field names.
pub fn csv_header(spec: &Spec) -> String {
    event_fields(spec)
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

/// One CSV line; absent values are empty (NULL for COPY … CSV).
pub fn csv_line(event: &SampleEvent, out: &mut String) {
    for (i, value) in event.values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(value) = value {
            crate::quoting::csv::push_field(out, value);
        }
    }
    out.push('\n');
}

/// One NDJSON line with typed values.
pub fn json_line(spec_fields: &[EventField], event: &SampleEvent, out: &mut String) {
    let mut object = serde_json::Map::new();
    for (field, value) in spec_fields.iter().zip(&event.values) {
        let Some(value) = value else { continue };
        let json = match field.field_type {
            FieldType::Integer => value
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| value.clone().into()),
            FieldType::Float => value
                .parse::<f64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| value.clone().into()),
            FieldType::Boolean => serde_json::Value::Bool(value == "true"),
            _ => value.clone().into(),
        };
        object.insert(field.name.clone(), json);
    }
    out.push_str(&serde_json::Value::Object(object).to_string());
    out.push('\n');
}
