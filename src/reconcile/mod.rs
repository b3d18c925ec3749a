//! Reconciliation: per (UTC day, site, device, metric) statistics from each leg — raw events,
//! the batch models, the stream aggregates — compared pairwise. Counts must match exactly;
//! min, max and average within a relative tolerance. Pure: legs arrive as `LegGroups`.

pub mod queries;
pub mod raw;

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::time::{DAY_MS, Day};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    Raw,
    Batch,
    Stream,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Raw => "raw",
            Leg::Batch => "batch",
            Leg::Stream => "stream",
        }
    }
}

/// The batch models' grain: one row per UTC day, site, device and metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GroupKey {
    pub day: Day,
    pub site: String,
    pub device_id: String,
    pub metric: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub device_type: String,
    pub stats: Stats,
}

/// One leg's groups over the compared days. `duplicates` are keys a table held more than once
/// (the batch grain is unique, so each is a defect in itself).
#[derive(Debug, Default, Clone)]
pub struct LegGroups {
    pub groups: BTreeMap<GroupKey, Group>,
    pub duplicates: Vec<GroupKey>,
}

impl LegGroups {
    /// Adds a row read from a table, noting a key seen twice.
    pub fn insert_row(&mut self, key: GroupKey, group: Group) {
        match self.groups.entry(key) {
            std::collections::btree_map::Entry::Occupied(seen) => self.duplicates.push(seen.key().clone()),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(group);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// In the left leg, absent from the right one.
    MissingRight {
        left_count: u64,
    },
    /// In the right leg, absent from the left one.
    MissingLeft {
        right_count: u64,
    },
    Count {
        left: u64,
        right: u64,
    },
    Value {
        field: &'static str,
        left: f64,
        right: f64,
    },
    /// The right leg holds this key more than once.
    DuplicateRow,
}

impl Difference {
    /// How bad it is, for ordering the worst first: events unaccounted for, then drift.
    fn weight(&self) -> f64 {
        match self {
            Difference::MissingRight { left_count } => *left_count as f64 + 1e9,
            Difference::MissingLeft { right_count } => *right_count as f64 + 1e9,
            Difference::DuplicateRow => 2e9,
            Difference::Count { left, right } => left.abs_diff(*right) as f64 + 1e6,
            Difference::Value { left, right, .. } => relative(*left, *right),
        }
    }

    pub fn describe(&self, left: Leg, right: Leg) -> String {
        let (l, r) = (left.as_str(), right.as_str());
        match self {
            Difference::MissingRight { left_count } => format!("missing from {r} ({left_count} events in {l})"),
            Difference::MissingLeft { right_count } => format!("only in {r} ({right_count} events, none in {l})"),
            Difference::Count { left, right } => {
                format!("count {l} {left} ≠ {r} {right} ({:+})", *right as i128 - *left as i128)
            }
            Difference::Value { field, left, right } => {
                format!(
                    "{field} {l} {left} ≠ {r} {right} (relative {:.2e})",
                    relative(*left, *right)
                )
            }
            Difference::DuplicateRow => format!("duplicate row in {r}"),
        }
    }
}

/// Relative difference, absolute near zero.
fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1.0)
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    #[serde(flatten)]
    pub key: GroupKey,
    pub device_type: String,
    pub difference: Difference,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    pub left: Leg,
    pub right: Leg,
    pub groups: usize,
    pub matched: usize,
    pub missing_right: usize,
    pub missing_left: usize,
    pub count_differs: usize,
    pub value_drift: usize,
    pub duplicate_rows: usize,
    /// Days the left leg has events for and the right leg has nothing at all.
    pub days_missing_right: Vec<Day>,
    /// Every mismatch, worst first.
    pub mismatches: Vec<Mismatch>,
}

impl PairReport {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares two legs group by group.
pub fn compare(left_leg: Leg, left: &LegGroups, right_leg: Leg, right: &LegGroups, tolerance: f64) -> PairReport {
    let mut report = PairReport {
        left: left_leg,
        right: right_leg,
        groups: 0,
        matched: 0,
        missing_right: 0,
        missing_left: 0,
        count_differs: 0,
        value_drift: 0,
        duplicate_rows: 0,
        days_missing_right: Vec::new(),
        mismatches: Vec::new(),
    };
    for (key, l) in &left.groups {
        report.groups += 1;
        let difference = match right.groups.get(key) {
            None => Some(Difference::MissingRight {
                left_count: l.stats.count,
            }),
            Some(r) => difference(l.stats, r.stats, tolerance),
        };
        match difference {
            Some(difference) => report.push(key, &l.device_type, difference),
            None => report.matched += 1,
        }
    }
    for (key, r) in right.groups.iter().filter(|(key, _)| !left.groups.contains_key(*key)) {
        report.groups += 1;
        report.push(
            key,
            &r.device_type,
            Difference::MissingLeft {
                right_count: r.stats.count,
            },
        );
    }
    for key in &right.duplicates {
        let device_type = right.groups.get(key).map(|g| g.device_type.clone()).unwrap_or_default();
        report.push(key, &device_type, Difference::DuplicateRow);
    }
    let right_days: std::collections::BTreeSet<Day> = right.groups.keys().map(|k| k.day).collect();
    let mut left_days: Vec<Day> = left.groups.keys().map(|k| k.day).collect();
    left_days.dedup();
    report.days_missing_right = left_days.into_iter().filter(|d| !right_days.contains(d)).collect();
    report.mismatches.sort_by(|x, y| {
        y.difference
            .weight()
            .total_cmp(&x.difference.weight())
            .then(x.key.cmp(&y.key))
    });
    report
}

/// How two groups with the same key differ: the count exactly, else the worst of min, max and
/// average beyond the relative tolerance; None when they agree.
fn difference(a: Stats, b: Stats, tolerance: f64) -> Option<Difference> {
    if a.count != b.count {
        return Some(Difference::Count {
            left: a.count,
            right: b.count,
        });
    }
    [("min", a.min, b.min), ("max", a.max, b.max), ("avg", a.avg, b.avg)]
        .into_iter()
        .filter(|(_, x, y)| relative(*x, *y) > tolerance)
        .max_by(|x, y| relative(x.1, x.2).total_cmp(&relative(y.1, y.2)))
        .map(|(field, left, right)| Difference::Value { field, left, right })
}

impl PairReport {
    /// Records a mismatch and counts it under its kind.
    fn push(&mut self, key: &GroupKey, device_type: &str, difference: Difference) {
        match difference {
            Difference::MissingRight { .. } => self.missing_right += 1,
            Difference::MissingLeft { .. } => self.missing_left += 1,
            Difference::Count { .. } => self.count_differs += 1,
            Difference::Value { .. } => self.value_drift += 1,
            Difference::DuplicateRow => self.duplicate_rows += 1,
        }
        self.mismatches.push(Mismatch {
            key: key.clone(),
            device_type: device_type.to_string(),
            difference,
        });
    }
}

/// The days a reconcile covers, split into those closed (comparable) and those still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayRange {
    pub first: Day,
    pub last: Day,
}

impl DayRange {
    /// Whether `day` can no longer receive events: its end plus the allowed lateness is past.
    pub fn is_closed(day: Day, now_ms: i64, lateness_ms: i64) -> bool {
        day.next().start_ms() + lateness_ms <= now_ms
    }

    pub fn days(&self) -> impl Iterator<Item = Day> {
        (self.first.days_since_epoch()..=self.last.days_since_epoch()).map(Day::from_days_since_epoch)
    }

    /// How many days the range spans (at least one).
    pub fn day_count(&self) -> i64 {
        self.last.days_since_epoch() - self.first.days_since_epoch() + 1
    }

    /// Splits into (closed, open) days at `now`.
    pub fn split(&self, now_ms: i64, lateness_ms: i64) -> (Vec<Day>, Vec<Day>) {
        self.days().partition(|d| DayRange::is_closed(*d, now_ms, lateness_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(day: i64, device: &str) -> GroupKey {
        GroupKey {
            day: Day::from_days_since_epoch(day),
            site: "berlin".into(),
            device_id: device.into(),
            metric: "oil_temperature".into(),
        }
    }

    fn group(count: u64, avg: f64) -> Group {
        Group {
            device_type: "press".into(),
            stats: Stats {
                count,
                min: 1.0,
                max: 9.0,
                avg,
            },
        }
    }

    fn legs() -> (LegGroups, LegGroups) {
        let mut a = LegGroups::default();
        let mut b = LegGroups::default();
        for device in ["d1", "d2", "d3"] {
            for day in [100, 101] {
                a.insert_row(key(day, device), group(10, 5.0));
                b.insert_row(key(day, device), group(10, 5.0 + 1e-12));
            }
        }
        (a, b)
    }

    #[test]
    fn equal_legs_match_within_tolerance() {
        let (a, b) = legs();
        let report = compare(Leg::Raw, &a, Leg::Batch, &b, 1e-9);
        assert!(report.passed(), "{:?}", report.mismatches);
        assert_eq!((report.groups, report.matched), (6, 6));
    }

    #[test]
    fn every_kind_of_difference_is_reported_worst_first() {
        let (a, mut b) = legs();
        b.groups.remove(&key(100, "d1"));
        b.groups.get_mut(&key(100, "d2")).unwrap().stats.count = 11;
        b.groups.get_mut(&key(101, "d3")).unwrap().stats.avg = 5.1;
        b.insert_row(key(101, "d2"), group(10, 5.0));
        b.insert_row(key(101, "d9"), group(3, 5.0));
        let report = compare(Leg::Raw, &a, Leg::Batch, &b, 1e-6);
        assert!(!report.passed());
        assert_eq!(
            (
                report.missing_right,
                report.missing_left,
                report.count_differs,
                report.value_drift,
                report.duplicate_rows
            ),
            (1, 1, 1, 1, 1)
        );
        let kinds: Vec<&Difference> = report.mismatches.iter().map(|m| &m.difference).collect();
        assert_eq!(kinds[0], &Difference::DuplicateRow);
        assert!(matches!(kinds.last().unwrap(), Difference::Value { field: "avg", .. }));
        // A looser tolerance forgives the drift but nothing else.
        let loose = compare(Leg::Raw, &a, Leg::Batch, &b, 0.1);
        assert_eq!((loose.value_drift, loose.mismatches.len()), (0, 4));
    }

    #[test]
    fn a_missing_day_is_named() {
        let (a, mut b) = legs();
        b.groups.retain(|k, _| k.day.days_since_epoch() != 101);
        let report = compare(Leg::Raw, &a, Leg::Batch, &b, 1e-9);
        assert_eq!(report.days_missing_right, vec![Day::from_days_since_epoch(101)]);
        assert_eq!(report.missing_right, 3);
    }

    #[test]
    fn days_close_after_their_lateness() {
        let day = Day::from_days_since_epoch;
        let range = DayRange {
            first: day(10),
            last: day(12),
        };
        let now = 12 * DAY_MS + 3_000;
        assert_eq!(range.split(now, 5_000), (vec![day(10)], vec![day(11), day(12)]));
        assert_eq!(range.split(now, 1_000), (vec![day(10), day(11)], vec![day(12)]));
        assert_eq!(range.day_count(), 3);
    }
}
