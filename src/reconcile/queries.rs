//! The SQL the batch and stream legs run, and the parsing of their rows. Every column is cast
//! to text so PostgreSQL, DuckDB and RisingWave rows parse alike (their float text is exact).

use super::{Day, Group, GroupKey, LegGroups, Stats};
use crate::quoting::sql::{ident_of as q, literal_of as lit, qualified};
use crate::render::{STREAM_DAILY_VIEW, sqlmesh::model_names};
use crate::spec::Spec;

fn site_filter(sites: Option<&[String]>) -> String {
    match sites {
        Some(sites) if !sites.is_empty() => format!(
            "\n  AND site IN ({})",
            sites.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", ")
        ),
        _ => String::new(),
    }
}

/// The SQLMesh daily device model over `first` … `last` (inclusive).
pub fn batch_sql(spec: &Spec, first: Day, last: Day, sites: Option<&[String]>) -> String {
    format!(
        "SELECT CAST(event_date AS VARCHAR), site, device_type, device_id, metric,\n  \
         CAST(sample_count AS VARCHAR), CAST(min_value AS VARCHAR), CAST(max_value AS VARCHAR), CAST(avg_value AS VARCHAR)\n\
         FROM {}\nWHERE event_date BETWEEN CAST({} AS DATE) AND CAST({} AS DATE){}",
        qualified(&model_names(spec).device_metrics),
        lit(&first.to_string()),
        lit(&last.to_string()),
        site_filter(sites)
    )
}

/// RisingWave's daily device aggregate over the same days; the day comes as epoch seconds of
/// the window start, which no session time zone can shift.
pub fn stream_sql(spec: &Spec, first: Day, last: Day, sites: Option<&[String]>) -> String {
    let at = |day: Day| lit(&day.midnight());
    format!(
        "SELECT CAST(CAST(EXTRACT(EPOCH FROM window_start) AS BIGINT) AS VARCHAR), site, device_type, device_id, metric,\n  \
         CAST(samples AS VARCHAR), CAST(min_value AS VARCHAR), CAST(max_value AS VARCHAR), CAST(avg_value AS VARCHAR)\n\
         FROM {}.{}\nWHERE window_start >= CAST({} AS TIMESTAMPTZ) AND window_start < CAST({} AS TIMESTAMPTZ){}",
        q(spec.risingwave.schema.as_str()),
        q(STREAM_DAILY_VIEW),
        at(first),
        at(last.next()),
        site_filter(sites)
    )
}

/// How a row names its day.
#[derive(Debug, Clone, Copy)]
pub enum DayColumn {
    /// `YYYY-MM-DD`
    Date,
    /// Epoch seconds of the day's start.
    EpochSeconds,
}

/// Adds rows of `batch_sql` / `stream_sql` to a leg; a malformed row is an error.
pub fn parse_rows(rows: &[Vec<Option<String>>], day_column: DayColumn) -> anyhow::Result<LegGroups> {
    let mut leg = LegGroups::default();
    for row in rows {
        let text = |i: usize| row.get(i).and_then(|v| v.as_deref());
        let number = |i: usize| -> anyhow::Result<f64> {
            match text(i) {
                None => Ok(f64::NAN),
                Some(v) => v.parse().map_err(|_| anyhow::anyhow!("`{v}` is not a number")),
            }
        };
        let day_text = text(0).ok_or_else(|| anyhow::anyhow!("a row without a day"))?;
        let day = match day_column {
            DayColumn::Date => Day::parse(day_text),
            DayColumn::EpochSeconds => day_text.parse::<i64>().ok().map(|s| Day::of_ms(s * 1000)),
        }
        .ok_or_else(|| anyhow::anyhow!("`{day_text}` is not a day"))?;
        let name = |i: usize| text(i).unwrap_or_default().to_string();
        let count_text = text(5).unwrap_or("0");
        let count: u64 = count_text
            .parse()
            .map_err(|_| anyhow::anyhow!("`{count_text}` is not a count"))?;
        leg.insert_row(
            GroupKey {
                day,
                site: name(1),
                device_id: name(3),
                metric: name(4),
            },
            Group {
                device_type: name(2),
                stats: Stats {
                    count,
                    min: number(6)?,
                    max: number(7)?,
                    avg: number(8)?,
                },
            },
        );
    }
    Ok(leg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        crate::spec::load::parse("factory.yaml", include_str!("../../examples/factory.yaml").as_bytes())
            .unwrap()
            .spec
    }

    #[test]
    fn queries_name_the_models_and_bound_the_days() {
        let spec = spec();
        let day = Day::parse("2026-11-20").unwrap();
        let sites = vec!["berlin".to_string(), "o'hare".to_string()];
        let batch = batch_sql(&spec, day, day.next(), Some(&sites));
        assert!(batch.contains("FROM device_health.daily_device_metrics"), "{batch}");
        assert!(batch.contains("BETWEEN CAST('2026-11-20' AS DATE) AND CAST('2026-11-21' AS DATE)"));
        assert!(batch.contains("site IN ('berlin', 'o''hare')"));
        let stream = stream_sql(&spec, day, day, None);
        assert!(stream.contains("FROM factory.daily_device_metrics"), "{stream}");
        assert!(stream.contains("window_start < CAST('2026-11-21T00:00:00Z' AS TIMESTAMPTZ)"));
    }

    #[test]
    fn rows_parse_and_duplicates_are_kept_apart() {
        let row = |day: &str| -> Vec<Option<String>> {
            [day, "berlin", "press", "d1", "oil_temperature", "3", "1.5", "2.5", "2"]
                .iter()
                .map(|s| Some(s.to_string()))
                .collect()
        };
        let leg = parse_rows(
            &[row("2026-11-20"), row("2026-11-20"), row("2026-11-21")],
            DayColumn::Date,
        )
        .unwrap();
        assert_eq!((leg.groups.len(), leg.duplicates.len()), (2, 1));
        let stream = parse_rows(&[row("1779580800")], DayColumn::EpochSeconds).unwrap();
        assert_eq!(stream.groups.keys().next().unwrap().day, Day::of_ms(1_779_580_800_000));
        assert!(parse_rows(&[row("someday")], DayColumn::Date).is_err());
    }
}
