//! Time, in one place: UTC days, RFC 3339 in both directions, the grammar every time flag
//! reads (`--since`, `--until`, `--start`, `--date`), and the form a timestamp takes in the
//! warehouse.
//!
//! Flags and ledgers go through the `time` crate. The per-event paths (the contract check,
//! the loaders, reconcile's raw leg) run at hundreds of thousands of events a second, so they
//! use the hand-written parsers below, which allocate nothing; `tests` pins them against the
//! `time` crate.

use std::borrow::Cow;
use std::fmt;

use ::time::format_description::well_known::Rfc3339;
use ::time::{OffsetDateTime, UtcOffset};

use crate::spec::duration::Duration;

pub const DAY_SECS: i64 = 86_400;

/// `date-time` as the contract's JSON Schema asserts it: RFC 3339 with an explicit zone
/// (RisingWave needs the zone to read a TIMESTAMPTZ). The schema's format check and
/// RisingWave's cast add the calendar; `is_rfc3339_with_zone` is the same rule in iotctl.
pub const RFC3339_WITH_ZONE_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";
/// How RisingWave's NATS sink writes a TIMESTAMPTZ: UTC, no zone suffix.
pub const RISINGWAVE_SINK_TIMESTAMP_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$";
pub const DAY_MS: i64 = DAY_SECS * 1000;

/// A UTC calendar day, stored as days since 1970-01-01; written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(i64);

impl Day {
    pub const fn from_days_since_epoch(days: i64) -> Day {
        Day(days)
    }

    pub const fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// A strict `YYYY-MM-DD` that names a real calendar day (no 2026-02-30).
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return None;
        }
        let (year, month, day) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]));
        ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day))
            .then(|| Day(days_from_civil(year as i64, month as i64, day as i64)))
    }

    /// The UTC day an instant (epoch milliseconds) falls on.
    pub const fn of_ms(epoch_ms: i64) -> Day {
        Day(epoch_ms.div_euclid(DAY_MS))
    }

    /// Epoch milliseconds of the day's midnight (UTC).
    pub const fn start_ms(self) -> i64 {
        self.0 * DAY_MS
    }

    pub const fn next(self) -> Day {
        Day(self.0 + 1)
    }

    /// The day's midnight as RFC 3339 (`2026-11-21T00:00:00Z`).
    pub fn midnight(self) -> String {
        rfc3339_secs(self.0 * DAY_SECS)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Day, D::Error> {
        let text = String::deserialize(d)?;
        Day::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a YYYY-MM-DD day")))
    }
}

/// Days of `month` (1–12) in `year`: the JSON Schema's date-time check and RisingWave's parser
/// (speedate, `src/date.rs`) both refuse 2026-02-30 and 2026-04-31.
pub const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of days since 1970-01-01.
const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
pub fn rfc3339_secs(epoch_secs: i64) -> String {
    let secs = epoch_secs.rem_euclid(DAY_SECS);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Day(epoch_secs.div_euclid(DAY_SECS)),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of epoch milliseconds.
pub fn rfc3339_millis(epoch_ms: i64) -> String {
    let text = rfc3339_secs(epoch_ms.div_euclid(1000));
    format!("{}.{:03}Z", &text[..19], epoch_ms.rem_euclid(1000))
}

/// RFC 3339 of an instant, in its own offset.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the epoch, now.
pub fn unix_now_ms() -> i64 {
    epoch_ms(OffsetDateTime::now_utc())
}

/// Epoch milliseconds of an instant.
pub fn epoch_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The grammar of every time flag: an RFC 3339 instant, or a duration before `now` (`6h`,
/// `2d`); `--start`, `--date` and reconcile's range also take a UTC day (its midnight).
pub fn parse_instant(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    if let Some(day) = Day::parse(text) {
        return OffsetDateTime::from_unix_timestamp(day.days_since_epoch() * DAY_SECS).map_err(|e| e.to_string());
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at.to_offset(UtcOffset::UTC));
    }
    match Duration::parse(text) {
        Ok(ago) => Ok(now - std::time::Duration::from_millis(ago.as_millis())),
        Err(_) => Err(format!(
            "`{text}` is neither an RFC 3339 time (2026-11-21T18:00:00Z), a UTC day (2026-11-21) \
             nor a duration before now (6h, 2d)"
        )),
    }
}

/// `parse_instant`, as epoch milliseconds.
pub fn instant_ms(text: &str, now: OffsetDateTime) -> Result<i64, String> {
    parse_instant(text, now).map(epoch_ms)
}

/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`
/// plus RFC 3339's value ranges, as the schema's `format: date-time` asserts them.
pub fn is_rfc3339_with_zone(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 || !matches!(b.get(10), Some(b'T' | b't')) || Day::parse(&text[..10]).is_none() {
        return false;
    }
    let all_digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !all_digits(11..13) || b[13] != b':' || !all_digits(14..16) || b[16] != b':' || !all_digits(17..19) {
        return false;
    }
    let Some(zone_at) = fraction_end(b) else {
        return false;
    };
    let zone_ok = match &b[zone_at..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    zone_ok && digits(&b[11..13]) < 24 && digits(&b[14..16]) < 60 && digits(&b[17..19]) <= 60
}

/// Where the zone starts after `HH:MM:SS[.fff…]`; None for a dot without digits.
fn fraction_end(b: &[u8]) -> Option<usize> {
    if b.get(19) != Some(&b'.') {
        return Some(19);
    }
    let count = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
    (count > 0).then_some(20 + count)
}

/// Epoch milliseconds of an RFC 3339 time the contract already accepted (zone required).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    time_of_day_ms(text, Day::parse(text.get(0..10)?)?)
}

/// Epoch milliseconds of an RFC 3339 time on `day` (its first ten characters, already read):
/// the loaders cache the day of the previous event, as most of a batch shares one.
pub fn time_of_day_ms(text: &str, day: Day) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then(|| i64::from(digits(part)))
    };
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let zone_at = fraction_end(b)?;
    // Milliseconds from the first three fraction digits (missing ones are zeros), as
    // TIMESTAMPTZ keeps micros and the aggregates compare at milliseconds.
    let millis = (0..3).fold(0i64, |acc, k| {
        let at = 20 + k;
        let digit = if at < zone_at { i64::from(b[at] - b'0') } else { 0 };
        acc * 10 + digit
    });
    let offset_minutes = match b.get(zone_at)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let minutes = num(zone_at + 1..zone_at + 3)? * 60 + num(zone_at + 4..zone_at + 6)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    Some((day.days_since_epoch() * DAY_SECS + h * 3600 + m * 60 + s - offset_minutes * 60) * 1000 + millis)
}

/// An RFC 3339 time with at most six fraction digits, the rest cut off. PostgreSQL rounds
/// extra digits (23:59:59.9999996 becomes the next day) where DuckDB and RisingWave
/// (`Timestamptz::from_str`, `timestamp_micros`) truncate; iotctl writes every warehouse
/// the truncated text, so a reading falls on the same day everywhere.
pub fn truncate_to_micros(text: &str) -> Cow<'_, str> {
    if text.get(19..20) != Some(".") {
        return text.into();
    }
    let count = text[20..].bytes().take_while(u8::is_ascii_digit).count();
    if count <= 6 {
        return text.into();
    }
    format!("{}{}", &text[..26], &text[20 + count..]).into()
}

/// A contract-valid RFC 3339 time as every warehouse reads it alike: at most six fraction
/// digits (`truncate_to_micros`), and a leap second (`23:59:60`, which RFC 3339 and the JSON
/// Schema allow) written as the next second in UTC: PostgreSQL and RisingWave (chrono's
/// parser, after speedate refuses second 60) read it so, and DuckDB refuses the `:60` form.
pub fn warehouse_timestamp(text: &str) -> Cow<'_, str> {
    let cut = truncate_to_micros(text);
    if cut.get(17..19) != Some("60") {
        return cut;
    }
    let before = format!("{}59{}", &cut[..17], &cut[19..]);
    match OffsetDateTime::parse(&before, &Rfc3339) {
        Ok(at) => (at + ::time::Duration::SECOND)
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_or(cut, Cow::Owned),
        Err(_) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    #[test]
    fn days_parse_strictly_and_print_back() {
        assert_eq!(Day::parse("1970-01-02"), Some(Day(1)));
        assert_eq!(Day::parse("2026-11-21").unwrap().to_string(), "2026-11-21");
        assert_eq!(Day::parse("2024-02-29").unwrap().next().to_string(), "2024-03-01");
        assert_eq!(Day::parse("2026-12-31").unwrap().next().to_string(), "2027-01-01");
        for bad in [
            "2026-02-30",
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01x",
            "２026-01-01",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(Day::parse("2026-03-01").unwrap().midnight(), "2026-03-01T00:00:00Z");
    }

    #[test]
    fn days_agree_with_the_time_crate_across_four_centuries() {
        let mut date = ::time::Date::from_calendar_date(1900, ::time::Month::January, 1).unwrap();
        while date.year() < 2300 {
            let text = date.to_string();
            let day = Day::parse(&text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(day.to_string(), text);
            let midnight = date.midnight().assume_utc().unix_timestamp();
            assert_eq!(day.days_since_epoch() * DAY_SECS, midnight, "{text}");
            date = date.next_day().unwrap();
        }
    }

    #[test]
    fn instants_read_rfc3339_days_or_durations_ago() {
        let now = at("2026-11-22T12:00:00Z");
        assert_eq!(parse_instant("6h", now).unwrap(), at("2026-11-22T06:00:00Z"));
        assert_eq!(
            rfc3339(parse_instant("2026-11-21T18:00:00+01:00", now).unwrap()),
            "2026-11-21T17:00:00Z"
        );
        assert_eq!(instant_ms("1970-01-02", now), Ok(DAY_MS));
        let error = parse_instant("yesterday", now).unwrap_err();
        assert!(error.contains("`yesterday`") && error.contains("6h"), "{error}");
    }

    #[test]
    fn fast_parser_agrees_with_the_time_crate() {
        for text in [
            "1970-01-01T00:00:01Z",
            "1970-01-02T00:30:00+01:00",
            "1970-01-01T23:30:00-01:00",
            "2026-11-21T18:00:00.123999Z",
            "2024-02-29T23:59:59.5+05:30",
            "1969-12-31T23:59:59.999Z",
        ] {
            assert!(is_rfc3339_with_zone(text), "{text}");
            let expected = at(text).unix_timestamp() * 1000 + i64::from(at(text).millisecond());
            assert_eq!(parse_rfc3339_ms(text), Some(expected), "{text}");
        }
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.25Z"), Some(1250));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:0xZ"), None);
    }

    #[test]
    fn contract_times_need_a_zone_and_a_real_calendar_day() {
        for bad in [
            "2026-11-21T18:00:00",
            "2026-11-21 18:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T18:00:00.Z",
            "2026-11-21T18:00:00+0100",
        ] {
            assert!(!is_rfc3339_with_zone(bad), "{bad}");
        }
        assert!(is_rfc3339_with_zone("2016-12-31T23:59:60Z"));
    }

    #[test]
    fn warehouse_form_truncates_to_micros_and_moves_leap_seconds() {
        assert_eq!(
            truncate_to_micros("2026-11-21T23:59:59.9999996Z"),
            "2026-11-21T23:59:59.999999Z"
        );
        assert_eq!(
            truncate_to_micros("2026-11-21T23:59:59.5+01:00"),
            "2026-11-21T23:59:59.5+01:00"
        );
        assert_eq!(warehouse_timestamp("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00Z");
        assert_eq!(
            warehouse_timestamp("2016-12-31T23:59:60.25+00:00"),
            "2017-01-01T00:00:00.25Z"
        );
        assert_eq!(
            truncate_to_micros("2026-01-01T23:59:59.123456789+02:00"),
            "2026-01-01T23:59:59.123456+02:00"
        );
        assert_eq!(
            truncate_to_micros("2026-01-01T23:59:59.123456Z"),
            "2026-01-01T23:59:59.123456Z"
        );
        assert_eq!(warehouse_timestamp("2026-12-31T23:59:60+01:00"), "2026-12-31T23:00:00Z");
        assert_eq!(
            warehouse_timestamp("2026-12-31T23:59:60.12345678Z"),
            "2027-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            warehouse_timestamp("2026-06-30T12:00:00+02:00"),
            "2026-06-30T12:00:00+02:00"
        );
        assert_eq!(rfc3339_millis(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(
            rfc3339_secs(Day::parse("2026-03-01").unwrap().days_since_epoch() * DAY_SECS + 3661),
            "2026-03-01T01:01:01Z"
        );
    }

    #[test]
    fn the_fast_parser_places_a_reading_where_the_warehouse_does() {
        // A leap second lands where its warehouse form does…
        let leap = "2026-12-31T23:59:60.5Z";
        assert_eq!(parse_rfc3339_ms(leap), parse_rfc3339_ms(&warehouse_timestamp(leap)));
        // …and so does a time with more digits than micros, on the same UTC day.
        let fine = "2026-01-01T23:59:59.9999996Z";
        let day = |text: &str| parse_rfc3339_ms(text).map(Day::of_ms);
        assert_eq!(day(fine), day(&truncate_to_micros(fine)));
        assert_eq!(day(fine), Day::parse("2026-01-01"));
    }
}
