//! The raw leg: statistics computed straight from telemetry messages, in stream order. Memory
//! is bounded by the number of groups (day × device × metric), never by the number of events.
//! An event counts when the replay path would load it: it passes the contract and its subject
//! agrees with its payload — the same check, so raw and batch see the same events.

use std::collections::HashMap;

use crate::fxhash::Fx;

use serde::Serialize;

use super::{DAY_MS, Group, GroupKey, LegGroups, Stats};
use crate::contract::fast::FastContract;
use crate::contract::flat::{EventFields, FlatEvent, Scalar};
use crate::contract::reasons;
use crate::render::contract_fields::envelope;

#[derive(Debug, Default, Clone, Serialize)]
pub struct RawCounts {
    pub read: u64,
    /// Valid events on the compared days.
    pub counted: u64,
    /// Failing the contract (the clock-skew rule included): they belong to the dead-letter
    /// stream, not to any aggregate.
    pub invalid: u64,
    /// Valid, but on a day outside the compared range (or filtered out by site).
    pub outside: u64,
}

#[derive(Clone, Copy)]
struct Accumulator {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    /// Neumaier compensation: sums of a day's readings stay exact to the last bits.
    compensation: f64,
}

impl Accumulator {
    fn new() -> Accumulator {
        Accumulator {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            compensation: 0.0,
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let t = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - t) + value;
        } else {
            self.compensation += (value - t) + self.sum;
        }
        self.sum = t;
    }

    fn stats(&self) -> Stats {
        Stats {
            count: self.count,
            min: self.min,
            max: self.max,
            avg: (self.sum + self.compensation) / self.count as f64,
        }
    }
}

/// (day, site, device_type, device_id, metric), names interned.
type Key = (i64, u32, u32, u32, u32);

/// A device's interned id and the names (with ids) it was last seen with.
struct DeviceNames {
    id: u32,
    site: (Box<str>, u32),
    device_type: (Box<str>, u32),
    metrics: Vec<MetricSlot>,
}

/// One metric of a device: its interned id and the group slot of the day it was last seen on.
struct MetricSlot {
    name: Box<str>,
    id: u32,
    day: i64,
    slot: usize,
}

/// A group's statistics. The stream counts late events too (no watermark drops them), so one
/// accumulator serves both comparisons.
struct Slot {
    key: Key,
    raw: Accumulator,
}

fn slot_of(index: &mut HashMap<Key, usize, Fx>, slots: &mut Vec<Slot>, key: Key) -> usize {
    *index.entry(key).or_insert_with(|| {
        slots.push(Slot {
            key,
            raw: Accumulator::new(),
        });
        slots.len() - 1
    })
}

pub struct RawAggregator {
    contract: FastContract,
    prefix_tokens: usize,
    first_day: i64,
    last_day: i64,
    sites: Option<Vec<String>>,
    names: HashMap<Box<str>, u32, Fx>,
    /// Per device id, the names last seen with it: one lookup finds the group while a device
    /// keeps its site and type and the day goes on, as devices do.
    devices: HashMap<Box<str>, DeviceNames, Fx>,
    index: HashMap<Key, usize, Fx>,
    slots: Vec<Slot>,
    days: DayCache,
    pub counts: RawCounts,
}

impl RawAggregator {
    pub fn new(
        contract: FastContract,
        prefix: &str,
        (first_day, last_day): (i64, i64),
        sites: Option<Vec<String>>,
    ) -> RawAggregator {
        RawAggregator {
            contract,
            prefix_tokens: prefix.split('.').count(),
            first_day,
            last_day,
            sites,
            names: HashMap::default(),
            devices: HashMap::default(),
            index: HashMap::default(),
            slots: Vec::new(),
            days: DayCache::default(),
            counts: RawCounts::default(),
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.names.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.insert(name.into(), id);
        id
    }

    /// The slot of the group (day, site, device type, device, metric).
    fn slot(&mut self, day: i64, site: &str, device_type: &str, device_id: &str, metric: &str) -> usize {
        if let Some(device) = self.devices.get_mut(device_id)
            && *device.site.0 == *site
            && *device.device_type.0 == *device_type
            && let Some(known) = device.metrics.iter_mut().find(|m| *m.name == *metric)
        {
            if known.day != day {
                let key = (day, device.site.1, device.device_type.1, device.id, known.id);
                known.slot = slot_of(&mut self.index, &mut self.slots, key);
                known.day = day;
            }
            return known.slot;
        }
        let ids = (
            self.intern(site),
            self.intern(device_type),
            self.intern(device_id),
            self.intern(metric),
        );
        let slot = slot_of(&mut self.index, &mut self.slots, (day, ids.0, ids.1, ids.2, ids.3));
        let device = self.devices.entry(device_id.into()).or_insert_with(|| DeviceNames {
            id: ids.2,
            site: (site.into(), ids.0),
            device_type: (device_type.into(), ids.1),
            metrics: Vec::new(),
        });
        if *device.site.0 != *site || *device.device_type.0 != *device_type {
            // The device moved (or lies): remember the latest names, and no metric of the old.
            device.site = (site.into(), ids.0);
            device.device_type = (device_type.into(), ids.1);
            device.metrics.clear();
        }
        device.metrics.push(MetricSlot {
            name: metric.into(),
            id: ids.3,
            day,
            slot,
        });
        slot
    }

    /// Takes one telemetry message, stored by the stream at `published_ms`.
    pub fn push(&mut self, subject: &str, payload: &[u8], published_ms: i64) {
        self.counts.read += 1;
        let Ok(flat) = FlatEvent::parse(payload) else {
            self.counts.invalid += 1;
            return;
        };
        if reasons::check_parsed(payload).is_err() {
            self.counts.invalid += 1;
            return;
        }
        let event = self.contract.resolve(&flat);
        if !self
            .contract
            .accepts_event(&event, subject, self.prefix_tokens, published_ms)
        {
            self.counts.invalid += 1;
            return;
        }
        let (ts, site, device_type, device_id, metric, value) = (
            event.field_at(envelope::TS, "ts"),
            event.field_at(envelope::SITE, "site"),
            event.field_at(envelope::DEVICE_TYPE, "device_type"),
            event.field_at(envelope::DEVICE_ID, "device_id"),
            event.field_at(envelope::METRIC, "metric"),
            event.field_at(envelope::VALUE, "value"),
        );
        let (Some(ts_ms), Some(value)) = (self.days.epoch_ms(text(&ts)), value.and_then(|v| v.as_f64())) else {
            self.counts.invalid += 1;
            return;
        };
        let day = ts_ms.div_euclid(DAY_MS);
        let site = text(&site);
        if day < self.first_day
            || day > self.last_day
            || self.sites.as_ref().is_some_and(|s| !s.iter().any(|x| x == site))
        {
            self.counts.outside += 1;
            return;
        }
        self.counts.counted += 1;
        let slot = self.slot(day, site, text(&device_type), text(&device_id), text(&metric));
        self.slots[slot].raw.add(value);
    }

    /// The groups of valid events, which the batch and the stream legs must both match.
    pub fn finish(self) -> (LegGroups, RawCounts) {
        let mut names = vec![""; self.names.len()];
        for (name, id) in &self.names {
            names[*id as usize] = name;
        }
        // Slots exist only for counted events.
        let mut leg = LegGroups::default();
        for slot in &self.slots {
            let (day, site, device_type, device_id, metric) = slot.key;
            leg.groups.insert(
                GroupKey {
                    day,
                    site: names[site as usize].to_string(),
                    device_id: names[device_id as usize].to_string(),
                    metric: names[metric as usize].to_string(),
                },
                Group {
                    device_type: names[device_type as usize].to_string(),
                    stats: slot.raw.stats(),
                },
            );
        }
        (leg, self.counts)
    }
}

fn text<'b>(value: &'b Option<Scalar>) -> &'b str {
    value.as_ref().and_then(|v| v.as_str()).unwrap_or_default()
}

/// The last calendar date converted: a day's events share it, so the date is parsed once.
#[derive(Default)]
struct DayCache {
    date: [u8; 10],
    days: i64,
}

impl DayCache {
    fn epoch_ms(&mut self, text: &str) -> Option<i64> {
        let date = text.as_bytes().get(0..10)?;
        if date != self.date {
            self.days = crate::sample::days_from_civil(text.get(0..10)?)?;
            self.date.copy_from_slice(date);
        }
        time_of_day_ms(text, self.days)
    }
}

/// An RFC 3339 time with at most six fraction digits, the rest cut off. PostgreSQL rounds
/// extra digits (23:59:59.9999996 becomes the next day) where DuckDB and RisingWave
/// (`Timestamptz::from_str`, `timestamp_micros`) truncate; iotctl writes every warehouse
/// the truncated text, so a reading falls on the same day everywhere.
pub fn truncate_to_micros(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(dot) = text.get(19..20).filter(|c| *c == ".").map(|_| 19) else {
        return text.into();
    };
    let digits = text[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits <= 6 {
        return text.into();
    }
    format!("{}{}", &text[..dot + 7], &text[dot + 1 + digits..]).into()
}

/// A contract-valid RFC 3339 time as every warehouse reads it alike: at most six fraction
/// digits (`truncate_to_micros`), and a leap second (`23:59:60`, which RFC 3339 and the JSON
/// Schema allow) written as the next second in UTC: PostgreSQL and RisingWave (chrono's
/// parser, after speedate refuses second 60) read it so, and DuckDB refuses the `:60` form.
pub fn warehouse_timestamp(text: &str) -> std::borrow::Cow<'_, str> {
    use time::format_description::well_known::Rfc3339;
    let cut = truncate_to_micros(text);
    if cut.get(17..19) != Some("60") {
        return cut;
    }
    let before = format!("{}59{}", &cut[..17], &cut[19..]);
    match time::OffsetDateTime::parse(&before, &Rfc3339) {
        Ok(at) => (at + time::Duration::SECOND)
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_or(cut, std::borrow::Cow::Owned),
        Err(_) => cut,
    }
}

/// Epoch milliseconds of an RFC 3339 time the contract already accepted (zone required).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    time_of_day_ms(text, crate::sample::days_from_civil(text.get(0..10)?)?)
}

/// Epoch milliseconds of an RFC 3339 time on the date `days` after the epoch (its first ten
/// characters, already converted).
fn time_of_day_ms(text: &str, days: i64) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0'))
        })
    };
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Milliseconds from the first three fraction digits (missing ones are zeros), as
        // TIMESTAMPTZ rounds to micros.
        millis = (0..3).fold(0i64, |acc, k| {
            let digit = if start + k < i {
                i64::from(b[start + k] - b'0')
            } else {
                0
            };
            acc * 10 + digit
        });
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    Some((days * 86_400 + h * 3600 + m * 60 + s - offset_minutes * 60) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> crate::spec::Spec {
        crate::spec::load::parse("factory.yaml", include_str!("../../examples/factory.yaml").as_bytes())
            .unwrap()
            .spec
    }

    #[test]
    fn timestamps_land_on_their_utc_day() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.25Z"), Some(1250));
        assert_eq!(
            parse_rfc3339_ms("1970-01-02T00:30:00+01:00"),
            Some(DAY_MS - 30 * 60_000)
        );
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T23:30:00-01:00"),
            Some(DAY_MS + 30 * 60_000)
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.123999Z"), Some(1123));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:0xZ"), None);
        assert_eq!(
            truncate_to_micros("2026-01-01T23:59:59.9999996Z"),
            "2026-01-01T23:59:59.999999Z"
        );
        assert_eq!(
            truncate_to_micros("2026-01-01T23:59:59.123456789+02:00"),
            "2026-01-01T23:59:59.123456+02:00"
        );
        assert_eq!(
            truncate_to_micros("2026-01-01T23:59:59.123456Z"),
            "2026-01-01T23:59:59.123456Z"
        );
        assert_eq!(truncate_to_micros("2026-01-01T23:59:59Z"), "2026-01-01T23:59:59Z");
        assert_eq!(warehouse_timestamp("2026-12-31T23:59:60.5Z"), "2027-01-01T00:00:00.5Z");
        assert_eq!(warehouse_timestamp("2026-12-31T23:59:60+01:00"), "2026-12-31T23:00:00Z");
        assert_eq!(
            warehouse_timestamp("2026-12-31T23:59:60.12345678Z"),
            "2027-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            warehouse_timestamp("2026-06-30T12:00:00+02:00"),
            "2026-06-30T12:00:00+02:00"
        );
        // The raw leg places a leap second where the warehouse does.
        assert_eq!(
            parse_rfc3339_ms("2026-12-31T23:59:60.5Z"),
            parse_rfc3339_ms(&warehouse_timestamp("2026-12-31T23:59:60.5Z"))
        );
        // The day the raw leg counts is the day the truncated text falls on.
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T23:59:59.9999996Z").map(|ms| ms.div_euclid(86_400_000)),
            parse_rfc3339_ms(&truncate_to_micros("2026-01-01T23:59:59.9999996Z")).map(|ms| ms.div_euclid(86_400_000))
        );
        // The cached date is only reused for the same date.
        let mut cache = DayCache::default();
        for text in [
            "2026-11-21T23:59:59.999Z",
            "2026-11-22T00:00:00Z",
            "2026-11-21T00:00:00+01:00",
        ] {
            assert_eq!(cache.epoch_ms(text), parse_rfc3339_ms(text), "{text}");
        }
    }

    #[test]
    fn valid_events_are_grouped_and_the_rest_accounted_for() {
        let spec = spec();
        let contract = FastContract::for_spec(&spec);
        let day = crate::sample::days_from_civil("2024-10-04").unwrap();
        let mut raw = RawAggregator::new(contract, "iot", (day, day + 1), None);
        let event = |ts: &str, value: f64| {
            format!(
                r#"{{"event_id":"e","device_id":"d1","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":{value},"seq":1,"firmware_version":"1"}}"#
            )
        };
        let subject = "iot.berlin.press.oil_temperature";
        let published = parse_rfc3339_ms("2024-10-04T10:00:30Z").unwrap();
        raw.push(subject, event("2024-10-04T10:00:00Z", 10.0).as_bytes(), published);
        raw.push(subject, event("2024-10-04T10:00:10Z", 30.0).as_bytes(), published);
        // Hours late: still counted, by the stream as by the batch (no watermark drops it).
        raw.push(subject, event("2024-10-04T02:00:02Z", 20.0).as_bytes(), published);
        // Within the 5 minutes of clock skew the spec tolerates: counted.
        raw.push(subject, event("2024-10-04T10:04:00Z", 20.0).as_bytes(), published);
        // Beyond it: a device with a wrong clock, dead-lettered.
        raw.push(subject, event("2024-10-04T10:06:00Z", 20.0).as_bytes(), published);
        raw.push(subject, event("2024-10-06T00:00:00Z", 1.0).as_bytes(), i64::MAX / 2);
        raw.push(
            "iot.lyon.press.oil_temperature",
            event("2024-10-04T10:00:00Z", 1.0).as_bytes(),
            published,
        );
        raw.push(subject, event("2024-10-04T10:00:00Z", 999.0).as_bytes(), published);
        raw.push(subject, b"{\"truncated", published);
        let (groups, counts) = raw.finish();
        assert_eq!(
            (counts.read, counts.counted, counts.invalid, counts.outside),
            (9, 4, 4, 1)
        );
        let group = groups.groups.values().next().unwrap();
        assert_eq!(groups.groups.len(), 1);
        assert_eq!(
            group.stats,
            Stats {
                count: 4,
                min: 10.0,
                max: 30.0,
                avg: 20.0
            }
        );
    }

    #[test]
    fn a_device_that_changes_site_metric_or_day_gets_its_own_groups() {
        let spec = spec();
        let day = crate::sample::days_from_civil("2024-10-04").unwrap();
        let mut raw = RawAggregator::new(FastContract::for_spec(&spec), "iot", (day, day + 1), None);
        let event = |date: &str, site: &str, metric: &str, value: f64| {
            let payload = format!(
                r#"{{"event_id":"e","device_id":"d1","site":"{site}","device_type":"press","metric":"{metric}","ts":"{date}T10:00:00Z","value":{value},"firmware_version":"1"}}"#
            );
            (format!("iot.{site}.press.{metric}"), payload)
        };
        for (date, site, metric, value) in [
            ("2024-10-04", "berlin", "oil_temperature", 10.0),
            ("2024-10-04", "berlin", "hydraulic_pressure", 100.0),
            ("2024-10-04", "berlin", "oil_temperature", 20.0),
            ("2024-10-04", "lyon", "oil_temperature", 30.0),
            ("2024-10-04", "berlin", "oil_temperature", 40.0),
            ("2024-10-05", "berlin", "oil_temperature", 60.0),
            ("2024-10-04", "berlin", "oil_temperature", 5.0),
            ("2024-10-04", "lyon", "oil_temperature", 50.0),
            ("2024-10-05", "berlin", "oil_temperature", 70.0),
        ] {
            let (subject, payload) = event(date, site, metric, value);
            raw.push(&subject, payload.as_bytes(), i64::MAX / 2);
        }
        let (groups, counts) = raw.finish();
        assert_eq!(counts.counted, 9);
        let stats = |day: i64, site: &str, metric: &str| {
            groups
                .groups
                .iter()
                .find(|(k, _)| k.day == day && k.site == site && k.metric == metric && k.device_id == "d1")
                .map(|(_, g)| (g.stats.count, g.stats.min, g.stats.max))
        };
        assert_eq!(groups.groups.len(), 4);
        assert_eq!(stats(day, "berlin", "oil_temperature"), Some((4, 5.0, 40.0)));
        assert_eq!(stats(day + 1, "berlin", "oil_temperature"), Some((2, 60.0, 70.0)));
        assert_eq!(stats(day, "berlin", "hydraulic_pressure"), Some((1, 100.0, 100.0)));
        assert_eq!(stats(day, "lyon", "oil_temperature"), Some((2, 30.0, 50.0)));
    }
}
