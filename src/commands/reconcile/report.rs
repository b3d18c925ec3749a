//! How a reconcile is shown: one JSON document, or a summary, a table of pairs and the worst
//! mismatches of each failed pair.

use serde_json::json;

use super::PairResult;
use crate::cli::ReconcileArgs;
use crate::output::Printer;
use crate::reconcile::PairReport;
use crate::reconcile::raw::RawCounts;
use crate::spec::Spec;
use crate::spec::duration::Duration;
use crate::time::Day;

pub(super) struct Summary<'a> {
    pub closed: &'a [Day],
    pub open: &'a [Day],
    pub lateness: Duration,
    pub raw: Option<&'a RawCounts>,
    pub pairs: &'a [PairResult],
    pub batch: Option<String>,
    pub seconds: f64,
    /// Time spent reading the telemetry stream.
    pub raw_seconds: f64,
}

fn days_text(days: &[Day]) -> String {
    match days {
        [] => "none".into(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} … {last} ({} days)", days.len()),
    }
}

pub(super) fn print(printer: &Printer, spec: &Spec, args: &ReconcileArgs, s: &Summary) {
    if printer.is_json() {
        print_json(printer, spec, args, s);
    } else {
        print_human(printer, spec, args, s);
    }
}

fn raw_rate(s: &Summary) -> Option<f64> {
    s.raw.map(|r| r.read as f64 / s.raw_seconds.max(1e-6))
}

fn print_json(printer: &Printer, spec: &Spec, args: &ReconcileArgs, s: &Summary) {
    let rate = raw_rate(s);
    let pairs: Vec<serde_json::Value> = s
        .pairs
        .iter()
        .map(|p| match p {
            PairResult::Compared(r) => {
                let mut value = serde_json::to_value(r).unwrap_or_default();
                value["status"] = json!(if r.passed() { "pass" } else { "fail" });
                value["mismatch_count"] = json!(r.mismatches.len());
                if let Some(list) = value["mismatches"].as_array_mut() {
                    list.truncate(args.limit);
                }
                value
            }
            PairResult::Skipped { left, right, reason } => {
                json!({"left": left, "right": right, "status": "skipped", "reason": reason})
            }
        })
        .collect();
    let ok = !s
        .pairs
        .iter()
        .any(|p| matches!(p, PairResult::Compared(r) if !r.passed()));
    printer.json(&json!({
        "ok": ok,
        "pipeline": spec.pipeline.name.to_string(),
        "days": {"compared": s.closed, "open": s.open},
        "lateness": s.lateness.to_string(),
        "tolerance": args.tolerance,
        "raw": s.raw,
        "batch_source": s.batch,
        "pairs": pairs,
        "seconds": s.seconds,
        "raw_seconds": s.raw_seconds,
        "peak_rss_kib": crate::output::peak_rss_kib(),
        "raw_events_per_second": rate.map(f64::round),
    }));
}

fn print_human(printer: &Printer, spec: &Spec, args: &ReconcileArgs, s: &Summary) {
    let rate = raw_rate(s);
    printer.note(&format!(
        "reconcile {}: days {} closed, {} still open (lateness {}); tolerance {:e}",
        spec.pipeline.name,
        days_text(s.closed),
        days_text(s.open),
        s.lateness,
        args.tolerance
    ));
    if s.closed.is_empty() {
        printer.note("nothing to compare: every asked day can still receive events");
        return;
    }
    if let Some(raw) = s.raw {
        printer.note(&format!(
            "raw: {} messages read in {:.2} s ({:.0}/s): {} counted, {} invalid (dead-letter), {} outside the days or sites, {} probe canaries",
            raw.read,
            s.raw_seconds,
            rate.unwrap_or_default(),
            raw.counted,
            raw.invalid,
            raw.outside,
            raw.canaries,
        ));
    }
    if let Some(batch) = &s.batch {
        printer.note(&format!("batch: {batch}"));
    }
    let mut table = printer.table(&[
        "legs",
        "groups",
        "matched",
        "missing right",
        "only right",
        "count differs",
        "value drift",
        "duplicates",
        "result",
    ]);
    for pair in s.pairs {
        match pair {
            PairResult::Compared(r) => table.add_row(vec![
                format!("{} ↔ {}", r.left.as_str(), r.right.as_str()),
                r.groups.to_string(),
                r.matched.to_string(),
                r.missing_right.to_string(),
                r.missing_left.to_string(),
                r.count_differs.to_string(),
                r.value_drift.to_string(),
                r.duplicate_rows.to_string(),
                if r.passed() {
                    printer.paint("pass", "32")
                } else {
                    printer.paint("FAIL", "31;1")
                },
            ]),
            PairResult::Skipped { left, right, reason } => table.add_row(vec![
                format!("{} ↔ {}", left.as_str(), right.as_str()),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("skipped: {reason}"),
            ]),
        };
    }
    printer.data(&format!("{table}\n"));
    for pair in s.pairs {
        if let PairResult::Compared(r) = pair
            && !r.passed()
        {
            print_worst(printer, r, args.limit);
        }
    }
}

/// A failed pair: the days one leg lacks entirely, then the worst mismatches.
fn print_worst(printer: &Printer, r: &PairReport, limit: usize) {
    if !r.days_missing_right.is_empty() {
        printer.data(&format!(
            "{} has nothing at all for {}\n",
            r.right.as_str(),
            r.days_missing_right
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let shown = r.mismatches.len().min(limit);
    printer.data(&format!(
        "worst {shown} of {} mismatches, {} ↔ {}:\n",
        r.mismatches.len(),
        r.left.as_str(),
        r.right.as_str()
    ));
    let mut worst = printer.table(&["day", "site", "device", "metric", "difference"]);
    for m in r.mismatches.iter().take(limit) {
        worst.add_row(vec![
            m.key.day.to_string(),
            m.key.site.clone(),
            m.key.device_id.clone(),
            m.key.metric.clone(),
            m.difference.describe(r.left, r.right),
        ]);
    }
    printer.data(&format!("{worst}\n"));
}
