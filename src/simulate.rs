//! Realistic telemetry for load tests and demos: a fleet of devices spread over the spec's sites
//! and device types, each reading one metric at a time (round robin) at a fixed rate, with a
//! daily cycle, noise, occasional warnings, optional anomalies, late arrivals and malformed
//! payloads. Pure: events are handed to a callback in publish order; the caller publishes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write as _;

use crate::sample::Rng;
use crate::spec::event::{EventField, event_fields};
use crate::spec::model::{FieldType, Spec, ValueType};
use crate::spec::subjects::TelemetrySubject;

#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub devices: u32,
    /// Milliseconds between two readings of one device.
    pub interval_ms: u64,
    /// First reading time, epoch milliseconds.
    pub start_ms: i64,
    /// Simulated span, milliseconds.
    pub duration_ms: u64,
    /// Share of readings held back and published 10 s to 10 min after their time.
    pub late_fraction: f64,
    /// Share of readings replaced by a payload that breaks the contract.
    pub malformed_fraction: f64,
    /// Inject rare spikes far outside a device's normal band.
    pub anomalies: bool,
    pub seed: u64,
}

/// `--rate`: readings per device per unit (`1/min`, `10/s`, `60/h`; a bare number is per second).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let (count, unit) = text.split_once('/').unwrap_or((text, "s"));
    let count: f64 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a rate like `1/min`, `10/s` or `60/h`"))?;
    // `1/10min`: a unit may carry its own count.
    let unit = unit.trim();
    let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let per: f64 = if digits > 0 {
        unit[..digits].parse().unwrap_or(0.0)
    } else {
        1.0
    };
    let unit_ms = match crate::spec::duration::Duration::unit_millis(&unit[digits..]) {
        Some(ms) => per * ms as f64,
        None => {
            let other = &unit[digits..];
            return Err(format!("unknown rate unit `{other}` in `{text}`; use s, min, h or d"));
        }
    };
    if unit_ms <= 0.0 {
        return Err(format!("rate `{text}` needs a positive unit"));
    }
    let interval = unit_ms / count;
    if !interval.is_finite() || interval < 1.0 || count <= 0.0 {
        return Err(format!(
            "rate `{text}` must be positive and at most 1000 readings per second per device"
        ));
    }
    Ok(interval.round() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformation {
    NotJson,
    MissingValue,
    ValueNotNumber,
    OutOfRange,
}

const MALFORMATIONS: [Malformation; 4] = [
    Malformation::NotJson,
    Malformation::MissingValue,
    Malformation::ValueNotNumber,
    Malformation::OutOfRange,
];

impl Malformation {
    pub fn as_str(self) -> &'static str {
        match self {
            Malformation::NotJson => "not_json",
            Malformation::MissingValue => "missing_value",
            Malformation::ValueNotNumber => "value_not_number",
            Malformation::OutOfRange => "out_of_range",
        }
    }
}

/// One message to publish, borrowed from the generator's buffers.
pub struct SimEvent<'a> {
    pub subject: &'a str,
    /// The event identity, used as `Nats-Msg-Id` so a re-run of the same range stores nothing twice.
    pub event_id: &'a str,
    pub payload: &'a [u8],
    pub ts_ms: i64,
    pub late: bool,
    pub malformed: Option<Malformation>,
    pub anomaly: bool,
}

struct MetricModel {
    name: String,
    subject: String,
    integer: bool,
    lo: f64,
    hi: f64,
    centre: f64,
    amplitude: f64,
    warn_above: f64,
}

struct Device {
    id: String,
    site: String,
    device_type: String,
    /// Indexes into `Simulation::metrics`.
    metrics: Vec<usize>,
    /// This device's subject per metric, parallel to `metrics`.
    subjects: Vec<String>,
    /// Offset of this device's readings within each interval: devices are not in lockstep.
    offset_ms: i64,
    phase: f64,
    line: u32,
}

/// A reading held back to be published late.
struct Held {
    release_ms: i64,
    order: u64,
    subject: String,
    event_id: String,
    payload: Vec<u8>,
    ts_ms: i64,
    anomaly: bool,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.release_ms, self.order) == (other.release_ms, other.order)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.release_ms, self.order).cmp(&(other.release_ms, other.order))
    }
}

pub struct Simulation {
    options: SimulateOptions,
    metrics: Vec<MetricModel>,
    devices: Vec<Device>,
    extras: Vec<EventField>,
}

impl Simulation {
    pub fn new(spec: &Spec, options: SimulateOptions) -> anyhow::Result<Simulation> {
        anyhow::ensure!(options.devices > 0, "--devices must be at least 1");
        anyhow::ensure!(options.interval_ms > 0, "the rate must be positive");
        anyhow::ensure!(
            (0.0..=1.0).contains(&options.late_fraction) && (0.0..=1.0).contains(&options.malformed_fraction),
            "fractions must lie between 0 and 1"
        );
        let layout = TelemetrySubject::of(spec);
        let mut metrics = Vec::new();
        let mut type_metrics: Vec<Vec<usize>> = Vec::new();
        for device_type in &spec.device_types {
            let mut indexes = Vec::new();
            for metric in &device_type.metrics {
                let (lo, hi) = (metric.range.min, metric.range.max);
                // Normal readings sit in the middle of the band below any warning threshold.
                let warn_above = metric.thresholds.warning.and_then(|b| b.above).unwrap_or(hi);
                let warn_below = metric.thresholds.warning.and_then(|b| b.below).unwrap_or(lo);
                indexes.push(metrics.len());
                metrics.push(MetricModel {
                    name: metric.name.to_string(),
                    subject: layout.concrete("{site}", device_type.name.as_str(), metric.name.as_str()),
                    integer: metric.value_type == ValueType::Integer,
                    lo,
                    hi,
                    centre: (warn_above + warn_below) / 2.0,
                    amplitude: (warn_above - warn_below) / 4.0,
                    warn_above,
                });
            }
            type_metrics.push(indexes);
        }
        let mut rng = Rng(options.seed);
        let (sites, types) = (spec.sites.len(), spec.device_types.len());
        let mut devices: Vec<Device> = (0..options.devices as usize)
            .map(|i| {
                let site = spec.sites[i % sites].name.to_string();
                let t = (i / sites) % types;
                let device_type = spec.device_types[t].name.to_string();
                Device {
                    id: format!("{site}-{device_type}-{:05}", i + 1),
                    device_type,
                    subjects: type_metrics[t]
                        .iter()
                        .map(|&m| metrics[m].subject.replace("{site}", &site))
                        .collect(),
                    metrics: type_metrics[t].clone(),
                    site,
                    offset_ms: (rng.next() % options.interval_ms) as i64,
                    phase: rng.unit() * std::f64::consts::TAU,
                    line: (i % 4) as u32 + 1,
                }
            })
            .collect();
        // Published in time order within each interval.
        devices.sort_by_key(|d| d.offset_ms);
        let extras = event_fields(spec).into_iter().filter(|f| !f.envelope).collect();
        Ok(Simulation {
            options,
            metrics,
            devices,
            extras,
        })
    }

    /// Readings to be generated (malformed and late ones included).
    pub fn total_events(&self) -> u64 {
        self.steps() * self.devices.len() as u64
    }

    fn steps(&self) -> u64 {
        self.options.duration_ms.div_ceil(self.options.interval_ms)
    }

    /// Generates every event in publish order. `emit` returning an error stops the run.
    pub fn run<E>(&self, mut emit: impl FnMut(&SimEvent) -> Result<(), E>) -> Result<(), E> {
        let o = &self.options;
        let mut rng = Rng(o.seed ^ 0x005E_ED0F_D47A);
        let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
        let mut payload = Vec::with_capacity(512);
        let mut event_id = String::with_capacity(96);
        let mut order = 0u64;
        let end_ms = o.start_ms + o.duration_ms as i64;
        for step in 0..self.steps() {
            let step_ms = o.start_ms + (step * o.interval_ms) as i64;
            for (d, device) in self.devices.iter().enumerate() {
                let ts_ms = step_ms + device.offset_ms;
                if ts_ms >= end_ms {
                    continue;
                }
                while held.peek().is_some_and(|h| h.0.release_ms <= ts_ms) {
                    let Reverse(h) = held.pop().expect("peeked");
                    emit(&SimEvent {
                        subject: &h.subject,
                        event_id: &h.event_id,
                        payload: &h.payload,
                        ts_ms: h.ts_ms,
                        late: true,
                        malformed: None,
                        anomaly: h.anomaly,
                    })?;
                }
                let pick = (step as usize + d) % device.metrics.len();
                let metric = &self.metrics[device.metrics[pick]];
                let (value, anomaly) = self.value(device, metric, ts_ms, &mut rng);
                let subject = &device.subjects[pick];
                event_id.clear();
                event_id.push_str(&device.id);
                event_id.push(':');
                event_id.push_str(&metric.name);
                event_id.push(':');
                event_id.push_str(&ts_ms.to_string());
                let malformed = (o.malformed_fraction > 0.0 && rng.unit() < o.malformed_fraction)
                    .then(|| MALFORMATIONS[(rng.next() % MALFORMATIONS.len() as u64) as usize]);
                self.write_payload(&mut payload, device, metric, &event_id, ts_ms, step, value, malformed);
                if malformed.is_none() && o.late_fraction > 0.0 && rng.unit() < o.late_fraction {
                    let delay = 10_000 + (rng.next() % 590_000) as i64;
                    order += 1;
                    held.push(Reverse(Held {
                        release_ms: ts_ms + delay,
                        order,
                        subject: subject.clone(),
                        event_id: event_id.clone(),
                        payload: payload.clone(),
                        ts_ms,
                        anomaly,
                    }));
                    continue;
                }
                emit(&SimEvent {
                    subject,
                    event_id: &event_id,
                    payload: &payload,
                    ts_ms,
                    late: false,
                    malformed,
                    anomaly,
                })?;
            }
        }
        while let Some(Reverse(h)) = held.pop() {
            emit(&SimEvent {
                subject: &h.subject,
                event_id: &h.event_id,
                payload: &h.payload,
                ts_ms: h.ts_ms,
                late: true,
                malformed: None,
                anomaly: h.anomaly,
            })?;
        }
        Ok(())
    }

    /// A daily cycle around the normal band's centre, noise, 0.5 % warning-level readings and,
    /// with anomalies on, 0.05 % spikes well above the normal band. Always within the range.
    fn value(&self, device: &Device, m: &MetricModel, ts_ms: i64, rng: &mut Rng) -> (f64, bool) {
        let day_fraction = ts_ms.rem_euclid(crate::time::DAY_MS) as f64 / crate::time::DAY_MS as f64;
        let mut value = m.centre
            + m.amplitude * (day_fraction * std::f64::consts::TAU + device.phase).sin()
            + m.amplitude * 0.2 * (rng.unit() - 0.5);
        let roll = rng.unit();
        let mut anomaly = false;
        if self.options.anomalies && roll < 0.0005 {
            value = m.warn_above + (m.hi - m.warn_above) * (0.6 + 0.4 * rng.unit());
            anomaly = true;
        } else if roll > 0.995 {
            value = m.warn_above + (m.hi - m.warn_above) * rng.unit() * 0.3;
        }
        value = value.clamp(m.lo, m.hi);
        value = if m.integer {
            value.round()
        } else {
            (value * 1000.0).round() / 1000.0
        };
        (value, anomaly)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the hot path writes each payload from its parts, with no struct to build per event"
    )]
    fn write_payload(
        &self,
        out: &mut Vec<u8>,
        device: &Device,
        metric: &MetricModel,
        event_id: &str,
        ts_ms: i64,
        seq: u64,
        value: f64,
        malformed: Option<Malformation>,
    ) {
        out.clear();
        let ts = crate::time::rfc3339_millis(ts_ms);
        let _ = write!(
            out,
            r#"{{"event_id":"{event_id}","device_id":"{}","site":"{}","device_type":"{}","metric":"{}","ts":"{ts}","#,
            device.id, device.site, device.device_type, metric.name
        );
        match malformed {
            Some(Malformation::MissingValue) => {}
            Some(Malformation::ValueNotNumber) => {
                let _ = write!(out, r#""value":"{value}","#);
            }
            Some(Malformation::OutOfRange) => {
                let _ = write!(out, r#""value":{},"#, (metric.hi.abs() + 1.0) * 10.0);
            }
            _ if metric.integer => {
                let _ = write!(out, r#""value":{},"#, value as i64);
            }
            _ => {
                let _ = write!(out, r#""value":{value},"#);
            }
        }
        let _ = write!(out, r#""seq":{seq},"firmware_version":"2.{}.0""#, device.line % 3);
        for field in &self.extras {
            let _ = write!(out, r#","{}":"#, field.name);
            match (&field.allowed, field.field_type) {
                (Some(allowed), _) => {
                    // Mostly the first allowed value (production), now and then another.
                    let pick = if seq.is_multiple_of(17) {
                        (device.line as usize) % allowed.len()
                    } else {
                        0
                    };
                    let _ = write!(out, "{}", serde_json::Value::from(allowed[pick].as_str()));
                }
                (None, FieldType::String) => {
                    let _ = write!(out, r#""{}-{}""#, field.name, device.line);
                }
                (None, FieldType::Integer) => {
                    let _ = write!(out, "{}", device.line);
                }
                (None, FieldType::Float) => {
                    let _ = write!(out, "{}.5", device.line);
                }
                (None, FieldType::Boolean) => out.extend_from_slice(b"true"),
                (None, FieldType::Timestamp) => {
                    let _ = write!(out, r#""{ts}""#);
                }
            }
        }
        out.push(b'}');
        if malformed == Some(Malformation::NotJson) {
            // A truncated write, as a device losing power mid-send produces.
            out.truncate(out.len() / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::fast::FastContract;

    fn spec() -> Spec {
        let text = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/factory.yaml")).unwrap();
        crate::spec::check("factory.yaml", &text)
            .map_err(|_| "invalid")
            .unwrap()
            .0
            .spec
    }

    fn options() -> SimulateOptions {
        SimulateOptions {
            devices: 30,
            interval_ms: 60_000,
            start_ms: 1_779_580_800_000,
            duration_ms: 3_600_000,
            late_fraction: 0.0,
            malformed_fraction: 0.0,
            anomalies: false,
            seed: 7,
        }
    }

    #[test]
    fn rates_parse_into_intervals() {
        assert_eq!(parse_rate("1/min"), Ok(60_000));
        assert_eq!(parse_rate("10/s"), Ok(100));
        assert_eq!(parse_rate("60/h"), Ok(60_000));
        assert_eq!(parse_rate("2"), Ok(500));
        assert_eq!(parse_rate("1/10min"), Ok(600_000));
        assert_eq!(parse_rate("3/15s"), Ok(5_000));
        assert!(parse_rate("1/0min").is_err());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("2000/s").is_err());
    }

    #[test]
    fn clean_runs_are_valid_in_time_order_and_unique() {
        let spec = spec();
        let sim = Simulation::new(&spec, options()).unwrap();
        let contract = FastContract::for_spec(&spec);
        let (mut last, mut ids, mut count) = (i64::MIN, std::collections::HashSet::new(), 0u64);
        sim.run(|e| {
            let value: serde_json::Value = serde_json::from_slice(e.payload).unwrap();
            assert!(contract.is_valid(&value), "{}", String::from_utf8_lossy(e.payload));
            assert!(e.ts_ms >= last, "out of order without late events");
            let site = value["site"].as_str().unwrap();
            assert!(e.subject.starts_with(&format!("iot.{site}.")), "{}", e.subject);
            assert!(e.subject.ends_with(value["metric"].as_str().unwrap()));
            last = e.ts_ms;
            assert!(ids.insert(e.event_id.to_string()));
            count += 1;
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(count, sim.total_events());
        assert_eq!(count, 30 * 60);
    }

    #[test]
    fn faults_are_injected_in_the_asked_shares() {
        let spec = spec();
        let mut o = options();
        o.duration_ms = crate::time::DAY_MS as u64;
        o.late_fraction = 0.02;
        o.malformed_fraction = 0.01;
        o.anomalies = true;
        let sim = Simulation::new(&spec, o).unwrap();
        let contract = FastContract::for_spec(&spec);
        let (mut late, mut malformed, mut invalid, mut total, mut max_ts, mut behind) = (0, 0, 0, 0u64, 0i64, 0);
        sim.run(|e| {
            total += 1;
            late += u64::from(e.late);
            if e.ts_ms < max_ts {
                behind += 1;
            }
            max_ts = max_ts.max(e.ts_ms);
            malformed += u64::from(e.malformed.is_some());
            let valid = serde_json::from_slice(e.payload).is_ok_and(|v| contract.is_valid(&v));
            invalid += u64::from(!valid);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(total, sim.total_events());
        assert_eq!(
            invalid, malformed,
            "every malformed payload, and only those, breaks the contract"
        );
        let share = |n: u64| n as f64 / total as f64;
        assert!((0.015..0.025).contains(&share(late)), "late {late} of {total}");
        assert!((0.007..0.013).contains(&share(malformed)), "malformed {malformed}");
        assert_eq!(behind, late, "late events arrive after newer ones");
    }
}
