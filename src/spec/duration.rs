//! Durations written as `500ms`, `5s`, `1m`, `1h30m`, `7d`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// Milliseconds of a unit as a rate writes it (`/min`, `/h`): the duration units plus
    /// their spelled-out names.
    pub fn unit_millis(unit: &str) -> Option<u64> {
        let short = match unit {
            "sec" | "second" => "s",
            "min" | "minute" => "m",
            "hour" => "h",
            "day" => "d",
            other => other,
        };
        UNITS.iter().find(|(name, _)| *name == short).map(|(_, ms)| *ms)
    }

    pub const fn from_days(days: u64) -> Self {
        Duration {
            millis: days * UNITS[0].1,
        }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Duration { millis: secs * 1000 }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    pub fn as_millis(self) -> u64 {
        self.millis
    }

    pub fn as_secs_f64(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    pub fn as_nanos(self) -> u128 {
        u128::from(self.millis) * 1_000_000
    }

    pub fn is_zero(self) -> bool {
        self.millis == 0
    }

    /// Parses `1h30m`-style text. Units: d, h, m, s, ms; at least one part; no sign.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration; write e.g. `5s`, `10m`, `7d`".into());
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(format!(
                    "invalid duration `{text}`: expected a number at `{}`",
                    &text[i..]
                ));
            }
            let number: u64 = text[start..i]
                .parse()
                .map_err(|_| format!("invalid duration `{text}`: number too large"))?;
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &text[unit_start..i];
            let factor = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    if unit.is_empty() {
                        format!("invalid duration `{text}`: missing unit after {number} (use d, h, m, s or ms)")
                    } else {
                        format!("invalid duration `{text}`: unknown unit `{unit}` (use d, h, m, s or ms)")
                    }
                })?;
            total = number
                .checked_mul(factor)
                .and_then(|part| total.checked_add(part))
                .ok_or_else(|| format!("invalid duration `{text}`: too large"))?;
        }
        Ok(Duration { millis: total })
    }

    /// A SQL interval literal body in the largest exact unit among seconds, minutes, hours and
    /// days, e.g. `5 minutes`. With `max_unit_hours`, days are written as hours (RisingWave RANGE
    /// frames refuse intervals with a day part).
    pub fn sql_interval(self, max_unit_hours: bool) -> String {
        let ms = self.millis;
        let units: &[(u64, &str)] = if max_unit_hours {
            &[(3_600_000, "hour"), (60_000, "minute"), (1_000, "second")]
        } else {
            &[
                (86_400_000, "day"),
                (3_600_000, "hour"),
                (60_000, "minute"),
                (1_000, "second"),
            ]
        };
        for (factor, name) in units {
            if ms >= *factor && ms.is_multiple_of(*factor) {
                let n = ms / factor;
                return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
            }
        }
        // RisingWave's interval parser has no millisecond unit and reads a number before a
        // unit as an integer; fractions of a second exist only in the `H:MM:SS.fff` form
        // (src/common/src/types/interval.rs: convert_digit, convert_hms).
        let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
        let (minutes, rest) = (rest / 60_000, rest % 60_000);
        format!("{hours:02}:{minutes:02}:{:02}.{:03}", rest / 1_000, rest % 1_000)
    }

    /// A compact name usable inside identifiers, e.g. `5m`, `1h30m`.
    pub fn compact(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (name, factor) in UNITS {
            if rest >= factor {
                write!(f, "{}{name}", rest / factor)?;
                rest %= factor;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::ops::Mul<u64> for Duration {
    type Output = Duration;
    fn mul(self, factor: u64) -> Duration {
        Duration::from_millis(self.as_millis().saturating_mul(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_units() {
        assert_eq!(Duration::parse("1h30m").unwrap().as_millis(), 5_400_000);
        assert_eq!(Duration::parse("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(Duration::parse("250ms").unwrap().as_millis(), 250);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "5", "m", "5x", "-5s", "1.5h", "99999999999999999999d"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_round_trip() {
        for text in ["7d", "1h30m", "5s", "1d2h3m4s5ms"] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn sql_interval_uses_largest_exact_unit() {
        assert_eq!(Duration::parse("5m").unwrap().sql_interval(false), "5 minutes");
        assert_eq!(Duration::parse("1d").unwrap().sql_interval(false), "1 day");
        assert_eq!(Duration::parse("1d").unwrap().sql_interval(true), "24 hours");
        assert_eq!(Duration::parse("90s").unwrap().sql_interval(false), "90 seconds");
        assert_eq!(Duration::parse("1500ms").unwrap().sql_interval(false), "00:00:01.500");
        assert_eq!(Duration::parse("500ms").unwrap().sql_interval(true), "00:00:00.500");
        assert_eq!(
            Duration::parse("1h1m30s5ms").unwrap().sql_interval(false),
            "01:01:30.005"
        );
        assert_eq!(Duration::parse("25h5ms").unwrap().sql_interval(false), "25:00:00.005");
    }
}
