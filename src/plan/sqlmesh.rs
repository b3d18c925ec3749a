//! SQLMesh: what its own state says about the project (from `backend::sqlmesh::observe`), and
//! the changes that bring it in line: a plan when the project differs from prod, a run for
//! closed days not built yet, a restatement for built days the warehouse has changed under.

use serde::{Deserialize, Serialize};

use super::Change;
use crate::time::Day;

/// SQLMesh's state of one project on one gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ProjectState {
    /// Whether prod exists: a first plan that failed leaves none.
    pub prod: bool,
    /// Whether the local project differs from prod.
    pub has_changes: bool,
    /// Per model, the closed days `sqlmesh run` would build now.
    pub missing: Vec<MissingDays>,
    /// Built days whose stored rows differ from the model's query over the warehouse now.
    pub stale_days: Vec<StaleDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MissingDays {
    pub model: String,
    pub days: Vec<Day>,
}

/// A built day whose rows no longer match the warehouse: late data that arrived after the
/// day was built (beyond the lookback), a repaired load, or a restatement that deleted the
/// day and failed before writing it again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct StaleDay {
    pub day: Day,
    /// Rows the device-metrics model's query counts in the warehouse for the day.
    pub warehouse_rows: u64,
    /// Readings the device-metrics model holds for the day.
    pub model_rows: u64,
    /// Readings the site rollup holds for the day.
    pub rollup_rows: u64,
}

impl StaleDay {
    pub fn describe(&self) -> String {
        format!(
            "{}: warehouse {} readings, device metrics {}, site rollup {}",
            self.day, self.warehouse_rows, self.model_rows, self.rollup_rows
        )
    }
}

/// The first and last of a set of days.
pub fn span(days: impl IntoIterator<Item = Day>) -> Option<(Day, Day)> {
    days.into_iter().fold(None, |span, day| match span {
        None => Some((day, day)),
        Some((first, last)) => Some((first.min(day), last.max(day))),
    })
}

/// The changes that bring SQLMesh in line with the rendered project and the warehouse.
pub fn diff(project_dir: &str, gateway: &str, changed_files: Vec<String>, state: &ProjectState) -> Vec<Change> {
    let mut changes = Vec::new();
    if !changed_files.is_empty() || !state.prod || state.has_changes {
        changes.push(Change::ApplySqlmesh {
            project_dir: project_dir.to_string(),
            gateway: gateway.to_string(),
            changed_files,
            prod: state.prod,
        });
        // The plan backfills what is missing and the restatement check needs prod as it
        // will be: apply checks the built days again after the plan.
        return changes;
    }
    let mut missing: Vec<Day> = state.missing.iter().flat_map(|m| m.days.iter().copied()).collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        changes.push(Change::BuildSqlmeshDays {
            gateway: gateway.to_string(),
            days: missing.clone(),
        });
    }
    // A day `sqlmesh run` builds anyway needs no restatement.
    let stale: Vec<StaleDay> = state
        .stale_days
        .iter()
        .filter(|d| missing.binary_search(&d.day).is_err())
        .cloned()
        .collect();
    if !stale.is_empty() {
        changes.push(Change::RestateSqlmeshDays {
            gateway: gateway.to_string(),
            days: stale,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(prod: bool, has_changes: bool) -> ProjectState {
        ProjectState {
            prod,
            has_changes,
            ..Default::default()
        }
    }

    fn day(text: &str) -> Day {
        Day::parse(text).unwrap()
    }

    fn stale(text: &str) -> StaleDay {
        StaleDay {
            day: day(text),
            warehouse_rows: 337,
            model_rows: 336,
            rollup_rows: 336,
        }
    }

    #[test]
    fn in_sync_only_when_prod_exists_matches_and_nothing_is_missing_or_stale() {
        assert!(diff("p", "duckdb", vec![], &state(true, false)).is_empty());
        // Files on disk match, but no plan ever finished: prod is missing.
        assert!(matches!(
            diff("p", "duckdb", vec![], &state(false, true)).as_slice(),
            [Change::ApplySqlmesh { prod: false, .. }]
        ));
        // Files match, but prod runs another version of the project.
        assert!(matches!(
            diff("p", "duckdb", vec![], &state(true, true)).as_slice(),
            [Change::ApplySqlmesh { prod: true, .. }]
        ));
        assert!(matches!(
            diff("p", "duckdb", vec!["models/a.sql".into()], &state(true, false)).as_slice(),
            [Change::ApplySqlmesh { .. }]
        ));
    }

    #[test]
    fn new_days_are_built_and_stale_days_restated() {
        let mut live = state(true, false);
        live.missing = vec![
            MissingDays {
                model: "m.daily_site_rollup".into(),
                days: vec![day("2026-12-03")],
            },
            MissingDays {
                model: "m.daily_device_metrics".into(),
                days: vec![day("2026-12-02"), day("2026-12-03")],
            },
        ];
        live.stale_days = vec![stale("2026-11-20"), stale("2026-12-02")];
        let changes = diff("p", "postgres", vec![], &live);
        assert_eq!(
            changes,
            vec![
                Change::BuildSqlmeshDays {
                    gateway: "postgres".into(),
                    days: vec![day("2026-12-02"), day("2026-12-03")],
                },
                Change::RestateSqlmeshDays {
                    gateway: "postgres".into(),
                    days: vec![stale("2026-11-20")],
                },
            ]
        );
        assert_eq!(
            changes[1].describe(),
            "~ restate 1 built day(s) on gateway postgres whose warehouse rows changed (2026-11-20: warehouse 337 readings, device metrics 336, site rollup 336)"
        );
    }

    #[test]
    fn span_of_days() {
        assert_eq!(
            span(["2026-01-03", "2026-01-01", "2026-01-02"].map(day)),
            Some((day("2026-01-01"), day("2026-01-03")))
        );
        assert_eq!(span(Vec::new()), None);
    }
}
