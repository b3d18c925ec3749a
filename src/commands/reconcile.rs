//! `iotctl reconcile`: do raw events, the batch models and the stream aggregates agree?

use std::time::Instant;

use serde_json::json;
use time::OffsetDateTime;

use super::{Outcome, load_spec, single_thread_runtime};
use crate::backend::nats::Nats;
use crate::cli::{LegArg, ReconcileArgs};
use crate::contract::fast::FastContract;
use crate::error::{CliError, Exit};
use crate::jobs::reconcile::{read_batch, read_raw, read_stream};
use crate::output::Printer;
use crate::reconcile::raw::{RawAggregator, RawCounts};
use crate::reconcile::{DayRange, Leg, LegGroups, PairReport, compare};
use crate::settings::Settings;
use crate::spec::Spec;
use crate::spec::duration::Duration;
use crate::spec::subjects::TelemetrySubject;
use crate::time::{Day, epoch_ms, instant_ms, parse_instant};

/// The days asked for: `--date`, or every UTC day touched by [since, until).
pub fn resolve_days(args: &ReconcileArgs, now: OffsetDateTime) -> Result<DayRange, String> {
    if let Some(date) = &args.date {
        let day = Day::parse(date).ok_or_else(|| format!("--date `{date}` is not a YYYY-MM-DD day"))?;
        return Ok(DayRange { first: day, last: day });
    }
    let since = instant_ms(args.since.as_deref().unwrap_or_default(), now).map_err(|e| format!("--since: {e}"))?;
    let until = instant_ms(args.until.as_deref().unwrap_or_default(), now).map_err(|e| format!("--until: {e}"))?;
    if until <= since {
        return Err("--until must be after --since".into());
    }
    Ok(DayRange {
        first: Day::of_ms(since),
        last: Day::of_ms(until - 1),
    })
}

/// A pair's outcome: compared, or skipped with the reason.
enum PairResult {
    Compared(PairReport),
    Skipped { left: Leg, right: Leg, reason: String },
}

pub fn run(printer: &Printer, args: &ReconcileArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let usage = |e: String| CliError::usage(anyhow::anyhow!(e));
    let now = OffsetDateTime::now_utc();
    let now_ms = epoch_ms(now);
    let range = resolve_days(args, now).map_err(usage)?;
    if range.day_count() > 367 {
        return Err(usage("reconcile at most a year of days at once".into()));
    }
    if !(0.0..1.0).contains(&args.tolerance) {
        return Err(usage("--tolerance must lie in [0, 1)".into()));
    }
    let known: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
    if let Some(unknown) = args.site.iter().find(|s| !known.contains(&s.as_str())) {
        return Err(usage(format!(
            "--site `{unknown}` is not in the spec (known: {})",
            known.join(", ")
        )));
    }
    let lateness = match &args.lateness {
        Some(text) => Duration::parse(text).map_err(|e| usage(format!("--lateness: {e}")))?,
        None => spec.risingwave.ingestion.allowed_lateness,
    };
    let published_since = args
        .published_since
        .as_deref()
        .map(|t| parse_instant(t, now))
        .transpose()
        .map_err(|e| usage(format!("--published-since: {e}")))?;
    let (closed, open) = range.split(now_ms, lateness.as_millis() as i64);
    let legs: Vec<Leg> = {
        let mut legs: Vec<Leg> = args
            .legs
            .iter()
            .map(|l| match l {
                LegArg::Raw => Leg::Raw,
                LegArg::Batch => Leg::Batch,
                LegArg::Stream => Leg::Stream,
            })
            .collect();
        legs.sort();
        legs.dedup();
        legs
    };
    if legs.len() < 2 {
        return Err(usage("--legs needs at least two of raw, batch, stream".into()));
    }
    // RisingWave keeps whole days only while the telemetry stream retains them.
    let first_live = crate::render::risingwave::first_live_day(spec, now_ms);
    if legs.contains(&Leg::Stream)
        && settings.risingwave_url.is_some()
        && let Some(day) = closed.first().filter(|day| **day < first_live)
    {
        return Err(usage(format!(
            "the stream leg holds whole UTC days from {} on (the telemetry stream's retention less the clock skew); {} is older: reconcile it with --legs raw,batch",
            first_live, day
        )));
    }
    let sites = (!args.site.is_empty()).then(|| args.site.clone());
    let stream_url = settings.risingwave_url.clone();
    let batch = if legs.contains(&Leg::Batch) {
        Some(settings.batch_warehouse(spec).map_err(CliError::Usage)?)
    } else {
        None
    };
    let started = Instant::now();

    let mut raw_seconds = 0.0;
    let result: anyhow::Result<(Vec<PairResult>, Option<RawCounts>)> = single_thread_runtime()?.block_on(async {
        if closed.is_empty() {
            return Ok((Vec::new(), None));
        }
        let days = (closed[0], *closed.last().expect("not empty"));
        let mut raw_groups: Option<(LegGroups, RawCounts)> = None;
        if legs.contains(&Leg::Raw) {
            let nats = Nats::connect(&settings.nats).await?;
            let contract = FastContract::for_spec(spec);
            let aggregator = RawAggregator::new(contract, days, sites.clone());
            // The whole stream needs no filter: the server then skips matching every subject.
            let subject = match sites.as_deref() {
                Some([site]) => TelemetrySubject::of(spec).filter(Some(site), None, None),
                _ => String::new(),
            };
            let bar = printer.progress(0, "raw");
            let mut progress = |read: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(read);
            };
            let reading = Instant::now();
            let aggregator = read_raw(&nats, spec, &subject, published_since, aggregator, &mut progress).await?;
            raw_seconds = reading.elapsed().as_secs_f64();
            bar.finish_and_clear();
            raw_groups = Some(aggregator.finish());
        }
        let batch_groups = match &batch {
            Some(source) => Some(read_batch(source, spec, days, sites.as_deref()).await?),
            None => None,
        };
        let stream_groups = match (&stream_url, legs.contains(&Leg::Stream)) {
            (Some(url), true) => Some(read_stream(url, spec, days, sites.as_deref()).await?),
            _ => None,
        };
        let skipped_stream = |left: Leg| PairResult::Skipped {
            left,
            right: Leg::Stream,
            reason: "no RisingWave configured".into(),
        };
        let mut pairs = Vec::new();
        let tolerance = args.tolerance;
        let counts = raw_groups.as_ref().map(|r| r.1.clone());
        match &raw_groups {
            Some((raw, _)) => {
                if let Some(batch) = &batch_groups {
                    pairs.push(PairResult::Compared(compare(
                        Leg::Raw,
                        raw,
                        Leg::Batch,
                        batch,
                        tolerance,
                    )));
                }
                if legs.contains(&Leg::Stream) {
                    match &stream_groups {
                        Some(stream) => pairs.push(PairResult::Compared(compare(
                            Leg::Raw,
                            raw,
                            Leg::Stream,
                            stream,
                            tolerance,
                        ))),
                        _ => pairs.push(skipped_stream(Leg::Raw)),
                    }
                }
            }
            None => match (&batch_groups, &stream_groups) {
                (Some(batch), Some(stream)) => pairs.push(PairResult::Compared(compare(
                    Leg::Batch,
                    batch,
                    Leg::Stream,
                    stream,
                    tolerance,
                ))),
                _ => pairs.push(skipped_stream(Leg::Batch)),
            },
        }
        Ok((pairs, counts))
    });
    let (pairs, raw_counts) = result.map_err(CliError::Runtime)?;
    let failed = pairs
        .iter()
        .any(|p| matches!(p, PairResult::Compared(report) if !report.passed()));
    report(
        printer,
        spec,
        args,
        &Summary {
            closed: &closed,
            open: &open,
            lateness,
            raw: raw_counts.as_ref(),
            pairs: &pairs,
            batch: batch.as_ref().map(|b| b.describe()),
            seconds: started.elapsed().as_secs_f64(),
            raw_seconds,
        },
    );
    Ok(if failed { Exit::CheckFailed } else { Exit::Ok })
}

struct Summary<'a> {
    closed: &'a [Day],
    open: &'a [Day],
    lateness: Duration,
    raw: Option<&'a RawCounts>,
    pairs: &'a [PairResult],
    batch: Option<String>,
    seconds: f64,
    /// Time spent reading the telemetry stream.
    raw_seconds: f64,
}

fn days_text(days: &[Day]) -> String {
    match days {
        [] => "none".into(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} … {last} ({} days)", days.len()),
    }
}

fn report(printer: &Printer, spec: &Spec, args: &ReconcileArgs, s: &Summary) {
    let rate = s.raw.map(|r| r.read as f64 / s.raw_seconds.max(1e-6));
    if printer.is_json() {
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
        return;
    }
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
            "raw: {} messages read in {:.2} s ({:.0}/s): {} counted, {} invalid (dead-letter), {} outside the days or sites",
            raw.read,
            s.raw_seconds,
            rate.unwrap_or_default(),
            raw.counted,
            raw.invalid,
            raw.outside,
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
        let PairResult::Compared(r) = pair else { continue };
        if r.passed() {
            continue;
        }
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
        let shown = r.mismatches.len().min(args.limit);
        printer.data(&format!(
            "worst {shown} of {} mismatches, {} ↔ {}:\n",
            r.mismatches.len(),
            r.left.as_str(),
            r.right.as_str()
        ));
        let mut worst = printer.table(&["day", "site", "device", "metric", "difference"]);
        for m in r.mismatches.iter().take(args.limit) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ReconcileArgs {
        let mut argv = vec!["iotctl", "reconcile", "-f", "x.yaml"];
        argv.extend(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Reconcile(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn days_resolve_from_a_date_or_a_range() {
        let now = OffsetDateTime::from_unix_timestamp(1_779_600_000).unwrap(); // 2026-05-24T05:20Z
        let today = 1_779_600_000 / crate::time::DAY_SECS;
        let day = |back: i64| Day::from_days_since_epoch(today - back);
        let range = resolve_days(&args(&["--date", "2026-05-20"]), now).unwrap();
        assert_eq!((range.first, range.last), (day(4), day(4)));
        let range = resolve_days(&args(&["--since", "2026-05-20", "--until", "2026-05-22"]), now).unwrap();
        assert_eq!((range.first, range.last), (day(4), day(3)));
        let range = resolve_days(&args(&["--since", "2d", "--until", "0s"]), now).unwrap();
        assert_eq!((range.first, range.last), (day(2), day(0)));
        assert!(resolve_days(&args(&["--since", "2026-05-22", "--until", "2026-05-20"]), now).is_err());
        assert!(resolve_days(&args(&["--date", "20-05-2026"]), now).is_err());
    }
}
