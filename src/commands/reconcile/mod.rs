//! `iotctl reconcile`: do raw events, the batch models and the stream aggregates agree?

mod report;

use std::time::Instant;

use time::OffsetDateTime;

use super::{Outcome, load_spec, single_thread_runtime};
use crate::backend::nats::Nats;
use crate::cli::{LegArg, ReconcileArgs};
use crate::contract::fast::FastContract;
use crate::error::{CliError, Exit};
use crate::jobs::reconcile::{BatchSource, read_batch, read_raw, read_stream};
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
pub(super) enum PairResult {
    Compared(PairReport),
    Skipped { left: Leg, right: Leg, reason: String },
}

/// What the flags ask for, checked before anything connects.
struct Request {
    closed: Vec<Day>,
    open: Vec<Day>,
    lateness: Duration,
    published_since: Option<OffsetDateTime>,
    legs: Vec<Leg>,
    sites: Option<Vec<String>>,
    batch: Option<BatchSource>,
}

fn checked_request(
    args: &ReconcileArgs,
    spec: &Spec,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Request, CliError> {
    let usage = |e: String| CliError::usage(anyhow::anyhow!(e));
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
        .transpose();
    let published_since = published_since.map_err(|e| usage(format!("--published-since: {e}")))?;
    let (closed, open) = range.split(now_ms, lateness.as_millis() as i64);
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
            "the stream leg holds whole UTC days from {first_live} on (the telemetry stream's retention less the clock skew); {day} is older: reconcile it with --legs raw,batch"
        )));
    }
    let batch = match legs.contains(&Leg::Batch) {
        true => Some(settings.batch_warehouse(spec).map_err(CliError::Usage)?),
        false => None,
    };
    let sites = (!args.site.is_empty()).then(|| args.site.clone());
    Ok(Request {
        closed,
        open,
        lateness,
        published_since,
        legs,
        sites,
        batch,
    })
}

pub fn run(printer: &Printer, args: &ReconcileArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let request = checked_request(args, spec, &settings, OffsetDateTime::now_utc())?;
    let started = Instant::now();
    let legs = single_thread_runtime()?
        .block_on(read_legs(printer, spec, &settings, &request))
        .map_err(CliError::Runtime)?;
    let pairs = legs
        .as_ref()
        .map(|legs| pairs(legs, &request.legs, args.tolerance))
        .unwrap_or_default();
    let failed = pairs
        .iter()
        .any(|p| matches!(p, PairResult::Compared(report) if !report.passed()));
    let raw = legs.as_ref().and_then(|legs| legs.raw.as_ref());
    let summary = report::Summary {
        closed: &request.closed,
        open: &request.open,
        lateness: request.lateness,
        raw: raw.map(|(_, counts)| counts),
        pairs: &pairs,
        batch: request.batch.as_ref().map(|b| b.describe()),
        seconds: started.elapsed().as_secs_f64(),
        raw_seconds: legs.as_ref().map_or(0.0, |legs| legs.raw_seconds),
    };
    report::print(printer, spec, args, &summary);
    Ok(if failed { Exit::CheckFailed } else { Exit::Ok })
}

/// What each leg holds over the closed days.
struct Legs {
    raw: Option<(LegGroups, RawCounts)>,
    batch: Option<LegGroups>,
    stream: Option<LegGroups>,
    /// Time spent reading the telemetry stream.
    raw_seconds: f64,
}

/// Reads every asked leg; None when no asked day is closed yet.
async fn read_legs(
    printer: &Printer,
    spec: &Spec,
    settings: &Settings,
    request: &Request,
) -> anyhow::Result<Option<Legs>> {
    let (Some(first), Some(last)) = (request.closed.first(), request.closed.last()) else {
        return Ok(None);
    };
    let days = (*first, *last);
    let sites = request.sites.as_deref();
    let mut legs = Legs {
        raw: None,
        batch: None,
        stream: None,
        raw_seconds: 0.0,
    };
    if request.legs.contains(&Leg::Raw) {
        let reading = Instant::now();
        legs.raw = Some(read_raw_leg(printer, spec, settings, request, days).await?);
        legs.raw_seconds = reading.elapsed().as_secs_f64();
    }
    if let Some(source) = &request.batch {
        legs.batch = Some(read_batch(source, spec, days, sites).await?);
    }
    if let (Some(url), true) = (&settings.risingwave_url, request.legs.contains(&Leg::Stream)) {
        legs.stream = Some(read_stream(url, spec, days, sites).await?);
    }
    Ok(Some(legs))
}

async fn read_raw_leg(
    printer: &Printer,
    spec: &Spec,
    settings: &Settings,
    request: &Request,
    days: (Day, Day),
) -> anyhow::Result<(LegGroups, RawCounts)> {
    let nats = Nats::connect(&settings.nats).await?;
    let aggregator = RawAggregator::new(FastContract::for_spec(spec), days, request.sites.clone());
    // The whole stream needs no filter: the server then skips matching every subject.
    let subject = match request.sites.as_deref() {
        Some([site]) => TelemetrySubject::of(spec).filter(Some(site), None, None),
        _ => String::new(),
    };
    let bar = printer.progress(0, "raw");
    let mut progress = |read: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(read);
    };
    let aggregator = read_raw(
        &nats,
        spec,
        &subject,
        request.published_since,
        aggregator,
        &mut progress,
    )
    .await?;
    bar.finish_and_clear();
    Ok(aggregator.finish())
}

/// The pairs compared: raw against each other leg when raw was read, else batch ↔ stream.
fn pairs(legs: &Legs, asked: &[Leg], tolerance: f64) -> Vec<PairResult> {
    let skipped_stream = |left: Leg| PairResult::Skipped {
        left,
        right: Leg::Stream,
        reason: "no RisingWave configured".into(),
    };
    let compared = |l: Leg, left: &LegGroups, r: Leg, right: &LegGroups| {
        PairResult::Compared(compare(l, left, r, right, tolerance))
    };
    let mut pairs = Vec::new();
    match &legs.raw {
        Some((raw, _)) => {
            if let Some(batch) = &legs.batch {
                pairs.push(compared(Leg::Raw, raw, Leg::Batch, batch));
            }
            if asked.contains(&Leg::Stream) {
                pairs.push(match &legs.stream {
                    Some(stream) => compared(Leg::Raw, raw, Leg::Stream, stream),
                    None => skipped_stream(Leg::Raw),
                });
            }
        }
        None => pairs.push(match (&legs.batch, &legs.stream) {
            (Some(batch), Some(stream)) => compared(Leg::Batch, batch, Leg::Stream, stream),
            _ => skipped_stream(Leg::Batch),
        }),
    }
    pairs
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
