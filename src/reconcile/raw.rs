//! The raw leg: statistics computed straight from telemetry messages, in stream order. Memory
//! is bounded by the number of groups (day × device × metric), never by the number of events.
//! An event counts when the replay path would load it: it passes the contract and its subject
//! agrees with its payload — the same check, so raw and batch see the same events.

use std::collections::HashMap;

use crate::fxhash::Fx;

use serde::Serialize;

use super::{Day, Group, GroupKey, LegGroups, Stats};
use crate::contract::fast::FastContract;
use crate::contract::flat::{EventFields, FlatEvent, Scalar};
use crate::contract::reasons;
use crate::spec::event::{envelope, is_canary_device};
use crate::time::time_of_day_ms;

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
    /// Valid probe canaries: they page and count nowhere, so neither leg holds them.
    pub canaries: u64,
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
type Key = (Day, u32, u32, u32, u32);

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
    day: Day,
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
    first_day: Day,
    last_day: Day,
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
    pub fn new(contract: FastContract, (first_day, last_day): (Day, Day), sites: Option<Vec<String>>) -> RawAggregator {
        RawAggregator {
            contract,
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
    fn slot(&mut self, day: Day, site: &str, device_type: &str, device_id: &str, metric: &str) -> usize {
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
        if !self.contract.accepts_event(&event, subject, published_ms) {
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
        if is_canary_device(text(&device_id)) {
            self.counts.canaries += 1;
            return;
        }
        let day = Day::of_ms(ts_ms);
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
    day: Day,
}

impl DayCache {
    fn epoch_ms(&mut self, text: &str) -> Option<i64> {
        let date = text.as_bytes().get(0..10)?;
        if date != self.date {
            self.day = Day::parse(text.get(0..10)?)?;
            self.date.copy_from_slice(date);
        }
        time_of_day_ms(text, self.day)
    }
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
    fn the_day_cache_reuses_a_date_only_for_that_date() {
        let mut cache = DayCache::default();
        for text in [
            "2026-11-21T23:59:59.999Z",
            "2026-11-22T00:00:00Z",
            "2026-11-21T00:00:00+01:00",
            "1970-01-01T00:00:00Z",
        ] {
            assert_eq!(cache.epoch_ms(text), crate::time::parse_rfc3339_ms(text), "{text}");
        }
    }

    #[test]
    fn valid_events_are_grouped_and_the_rest_accounted_for() {
        let spec = spec();
        let contract = FastContract::for_spec(&spec);
        let day = Day::parse("2024-10-04").unwrap();
        let mut raw = RawAggregator::new(contract, (day, day.next()), None);
        let event = |ts: &str, value: f64| {
            format!(
                r#"{{"event_id":"e","device_id":"d1","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":{value},"seq":1,"firmware_version":"1"}}"#
            )
        };
        let subject = "iot.berlin.press.oil_temperature";
        let published = crate::time::parse_rfc3339_ms("2024-10-04T10:00:30Z").unwrap();
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
        // A probe's canary: valid, and in neither leg.
        let canary = event("2024-10-04T10:00:20Z", 120.0).replace(
            "\"d1\"",
            &format!("\"{}berlin-1\"", crate::spec::event::CANARY_DEVICE_PREFIX),
        );
        raw.push(subject, canary.as_bytes(), published);
        let (groups, counts) = raw.finish();
        assert_eq!(
            (
                counts.read,
                counts.counted,
                counts.invalid,
                counts.outside,
                counts.canaries
            ),
            (10, 4, 4, 1, 1)
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
        let day = Day::parse("2024-10-04").unwrap();
        let mut raw = RawAggregator::new(FastContract::for_spec(&spec), (day, day.next()), None);
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
        let stats = |day: Day, site: &str, metric: &str| {
            groups
                .groups
                .iter()
                .find(|(k, _)| k.day == day && k.site == site && k.metric == metric && k.device_id == "d1")
                .map(|(_, g)| (g.stats.count, g.stats.min, g.stats.max))
        };
        assert_eq!(groups.groups.len(), 4);
        assert_eq!(stats(day, "berlin", "oil_temperature"), Some((4, 5.0, 40.0)));
        assert_eq!(stats(day.next(), "berlin", "oil_temperature"), Some((2, 60.0, 70.0)));
        assert_eq!(stats(day, "berlin", "hydraulic_pressure"), Some((1, 100.0, 100.0)));
        assert_eq!(stats(day, "lyon", "oil_temperature"), Some((2, 30.0, 50.0)));
    }
}
