//! `iotctl replay`: preflight, dry run, run / resume, and the ledger (`list`, `show`).

use std::time::Instant;

use serde_json::json;
use time::OffsetDateTime;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::backend::warehouse_load::WarehouseLoader;
use crate::cli::{ReplayArgs, ReplayCommand, ReplayRunArgs, ReplayTarget};
use crate::error::{CliError, Exit};
use crate::jobs::reconcile::BatchSource;
use crate::jobs::replay::{
    self, Filters, Ledger, Observer, Replay, ReplayRecord, ReplayStatus, RestateStatus, RunOutcome, Target,
};
use crate::output::Printer;
use crate::output::peak_rss_kib;
use crate::settings::Settings;
use crate::spec::Spec;
use crate::spec::streams::StreamRole;
use crate::spec::subjects::TelemetrySubject;
use crate::time::{parse_instant, rfc3339};

/// Rate used for duration estimates (messages/s); measured on these machines, see README.
const ESTIMATE_RATE: f64 = 100_000.0;

pub fn run(printer: &Printer, args: &ReplayArgs) -> Outcome {
    match &args.command {
        Some(ReplayCommand::List(list)) => {
            let (loaded, _) = load_spec(printer, &list.spec.file)?;
            let settings = Settings::resolve(&list.connection, &loaded.spec).map_err(CliError::Usage)?;
            runtime()?.block_on(async {
                let nats = Nats::connect(&settings.nats).await?;
                let records = Ledger::open(&nats.js).await?.list().await?;
                if printer.is_json() {
                    printer.json(&json!({"replays": records}));
                } else {
                    let mut table = printer.table(&[
                        "id",
                        "status",
                        "since",
                        "until",
                        "filter",
                        "read",
                        "published",
                        "dead-lettered",
                        "checkpoint",
                    ]);
                    for r in &records {
                        table.add_row(vec![
                            r.id.clone(),
                            r.status.as_str().to_string(),
                            rfc3339(r.since),
                            r.until.map_or_else(|| "-".into(), rfc3339),
                            r.subject_filter.clone(),
                            r.counts.read.to_string(),
                            r.counts.published.to_string(),
                            r.counts.dead_lettered.to_string(),
                            format!("{} / {}", r.checkpoint, r.end_sequence),
                        ]);
                    }
                    printer.data(&format!("{table}\n"));
                }
                Ok(Exit::Ok)
            })
        }
        Some(ReplayCommand::Show(show)) => {
            let (loaded, _) = load_spec(printer, &show.spec.file)?;
            let settings = Settings::resolve(&show.connection, &loaded.spec).map_err(CliError::Usage)?;
            runtime()?.block_on(async {
                let nats = Nats::connect(&settings.nats).await?;
                let Some(record) = Ledger::open(&nats.js).await?.get(&show.id).await? else {
                    return Err(CliError::usage(anyhow::anyhow!(
                        "no replay `{}` in the ledger (see `iotctl replay list`)",
                        show.id
                    )));
                };
                if printer.is_json() {
                    printer.json(&serde_json::to_value(&record).unwrap_or_default());
                } else {
                    printer.data(&summary(printer, &record, None, None));
                }
                Ok(Exit::Ok)
            })
        }
        None => run_replay(printer, &args.run),
    }
}

fn summary(printer: &Printer, record: &ReplayRecord, elapsed: Option<f64>, helper_peak_rss_kib: Option<u64>) -> String {
    let mut table = printer.table(&["replay", &record.id]);
    let mut row = |k: &str, v: String| {
        table.add_row(vec![k.to_string(), v]);
    };
    row("status", record.status.as_str().to_string());
    row(
        "range",
        format!(
            "{} → {}",
            rfc3339(record.since),
            record
                .until
                .map_or_else(|| format!("sequence {}", record.end_sequence), rfc3339)
        ),
    );
    row("subject filter", record.subject_filter.clone());
    if let Some(device) = &record.filters.device {
        row("device", device.clone());
    }
    row("read", format!("{} of {}", record.counts.read, record.total));
    row("published to replay", record.counts.published.to_string());
    row("already present (deduplicated)", record.counts.duplicates.to_string());
    row("dead-lettered", record.counts.dead_lettered.to_string());
    row("skipped by filter", record.counts.skipped.to_string());
    if record.counts.canaries > 0 {
        row("probe canaries (left out)", record.counts.canaries.to_string());
    }
    row("bytes read", record.counts.bytes.to_string());
    if record.run_seconds > 0.0 {
        let rate = record.counts.read as f64 / record.run_seconds;
        row(
            "run time, every run",
            format!("{:.2} s ({rate:.0} msg/s)", record.run_seconds),
        );
    }
    row(
        "checkpoint",
        format!("sequence {} (end {})", record.checkpoint, record.end_sequence),
    );
    if let Some(seconds) = elapsed {
        row(
            "duration",
            format!(
                "{seconds:.2} s ({:.0} msg/s)",
                record.counts.read as f64 / seconds.max(1e-6)
            ),
        );
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        match (peak_rss_kib(), helper_peak_rss_kib) {
            (Some(own), Some(helper)) => row("peak RSS", format!("{} (DuckDB helper {})", mib(own), mib(helper))),
            (Some(own), None) => row("peak RSS", mib(own)),
            _ => {}
        }
    }
    format!("{table}\n")
}

struct Progress<'a> {
    printer: &'a Printer,
    bar: indicatif::ProgressBar,
}

impl Observer for Progress<'_> {
    fn progress(&mut self, record: &ReplayRecord, rate: f64) {
        if self.printer.is_json() {
            self.printer.data(&format!(
                "{}\n",
                json!({"event": "progress", "id": record.id, "read": record.counts.read, "total": record.total, "published": record.counts.published, "dead_lettered": record.counts.dead_lettered, "checkpoint": record.checkpoint, "rate": rate.round(), "eta_seconds": ((record.total.saturating_sub(record.counts.read)) as f64 / rate.max(1.0)).round()})
            ));
        } else {
            self.bar.set_position(record.counts.read);
            self.bar.set_message(format!(
                "{} published, {} dead-lettered, {:.0} msg/s",
                record.counts.published, record.counts.dead_lettered, rate
            ));
        }
    }
}

/// `--since` / `--until`, parsed and checked before anything connects.
struct Range {
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

/// Every flag error exits 2 before anything connects.
fn checked_flags(args: &ReplayRunArgs, spec: &Spec, now: OffsetDateTime) -> Result<Range, CliError> {
    let usage = |message: String| CliError::usage(anyhow::anyhow!(message));
    args.place.check(spec).map_err(usage)?;
    let instant = |flag: &str, text: Option<&str>| {
        text.map(|t| parse_instant(t, now))
            .transpose()
            .map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let until = instant("until", args.until.as_deref())?;
    let since = match args.resume {
        Some(_) => None,
        None => instant("since", args.since.as_deref())?,
    };
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(usage("--until must be after --since".into()));
    }
    if args.restate && args.to == ReplayTarget::Replay && args.resume.is_none() {
        return Err(usage("--restate rebuilds the daily models from the warehouse, which `--to replay` does not write; use --to warehouse, or restate later with `iotctl apply --only sqlmesh`".into()));
    }
    Ok(Range { since, until })
}

fn run_replay(printer: &Printer, args: &ReplayRunArgs) -> Outcome {
    // Checked here rather than by clap, which cannot mix required flags with `list`/`show`.
    let Some(file) = &args.file else {
        return Err(CliError::usage(anyhow::anyhow!("replay needs -f SPEC")));
    };
    if args.since.is_none() && args.resume.is_none() {
        return Err(CliError::usage(anyhow::anyhow!(
            "replay needs --since (or --resume ID)"
        )));
    }
    let (loaded, _) = load_spec(printer, file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let now = OffsetDateTime::now_utc();
    let range = checked_flags(args, spec, now)?;
    // One warehouse per run: the load, the restatement and reconcile use the same one.
    settings.check_one_warehouse(spec).map_err(CliError::Usage)?;
    if args.to == ReplayTarget::Warehouse && args.resume.is_none() {
        settings.batch_warehouse(spec).map_err(CliError::Usage)?;
    }
    let job = JobContext {
        printer,
        spec,
        settings: &settings,
        file,
    };
    runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        let ledger = Ledger::open(&nats.js).await?;
        let record = match &args.resume {
            Some(id) => resumed(&job, &ledger, id).await?,
            None => started(&job, &nats, args, &range, now).await?,
        };
        match record {
            Next::Run(mut record) => execute(&job, &nats, &ledger, &mut record, args.rate).await,
            Next::Restate(mut record) => restate_days(&job, &ledger, &mut record).await,
            Next::Done(exit) => Ok(exit),
        }
    })
}

/// What a replay command works with once the flags are checked.
struct JobContext<'a> {
    printer: &'a Printer,
    spec: &'a Spec,
    settings: &'a Settings,
    file: &'a std::path::Path,
}

/// What is left to do for a replay.
enum Next {
    Run(ReplayRecord),
    /// Every event was loaded; the restatement is still pending.
    Restate(ReplayRecord),
    Done(Exit),
}

async fn resumed(job: &JobContext<'_>, ledger: &Ledger, id: &str) -> Result<Next, CliError> {
    let Some(record) = ledger.get(id).await? else {
        return Err(CliError::usage(anyhow::anyhow!(
            "no replay `{id}` in the ledger (see `iotctl replay list`)"
        )));
    };
    if record.status != ReplayStatus::Completed {
        return Ok(Next::Run(record));
    }
    if record.restate == Some(RestateStatus::Pending) {
        job.printer
            .note(&format!("replay {id} loaded every event; retrying its restatement"));
        return Ok(Next::Restate(record));
    }
    job.printer
        .note(&format!("replay {id} already completed; nothing to resume"));
    Ok(Next::Done(Exit::Ok))
}

/// A new replay: its preflight, then (unless a dry run, or history is missing) its record.
async fn started(
    job: &JobContext<'_>,
    nats: &Nats,
    args: &ReplayRunArgs,
    range: &Range,
    now: OffsetDateTime,
) -> Result<Next, CliError> {
    let (printer, spec) = (job.printer, job.spec);
    let since = range
        .since
        .expect("--since is required without --resume and parsed above");
    let filters = Filters {
        site: args.place.site.clone(),
        device_type: args.place.device_type.clone(),
        metric: args.place.metric.clone(),
        device: args.device.clone(),
    };
    let subject = filters.subject(&TelemetrySubject::of(spec));
    let source = spec.stream(StreamRole::Telemetry).name.to_string();
    let mut stream = nats.js.get_stream(&source).await.map_err(|e| {
        CliError::Runtime(anyhow::anyhow!(
            "no telemetry stream `{source}`: {e} (run `iotctl apply` first)"
        ))
    })?;
    let preflight = replay::preflight(&mut stream, &subject, since).await?;
    if args.dry_run {
        print_dry_run(printer, &preflight, args.rate);
        return Ok(Next::Done(Exit::Ok));
    }
    if let Some(missing) = &preflight.missing
        && !args.allow_partial
    {
        printer.error(
            &anyhow::anyhow!(
                "--since is {missing} older than the oldest message the stream retains ({}); nothing was replayed",
                preflight.oldest.clone().unwrap_or_default()
            ),
            Some("replay what remains with --allow-partial, or pick a later --since"),
        );
        return Ok(Next::Done(Exit::CheckFailed));
    }
    Ok(Next::Run(ReplayRecord {
        id: replay::new_id(now),
        pipeline: spec.pipeline.name.to_string(),
        source_stream: source,
        since,
        until: range.until,
        subject_filter: subject,
        filters,
        end_sequence: preflight.end_sequence,
        total: preflight.messages,
        checkpoint: preflight.start_sequence.saturating_sub(1),
        status: ReplayStatus::Running,
        counts: Default::default(),
        started_at: now,
        updated_at: now,
        rate_limit: args.rate,
        run_seconds: 0.0,
        target: args.to,
        first_day: None,
        last_day: None,
        restate: args.restate.then_some(RestateStatus::Pending),
    }))
}

fn print_dry_run(printer: &Printer, preflight: &replay::Preflight, rate: Option<u64>) {
    let seconds = preflight.messages as f64 / rate.map_or(ESTIMATE_RATE, |r| (r as f64).min(ESTIMATE_RATE));
    if printer.is_json() {
        printer.json(&json!({"dry_run": true, "preflight": preflight, "estimated_seconds": seconds}));
        return;
    }
    let mut table = printer.table(&[
        "subject filter",
        "messages",
        "bytes (est.)",
        "duration (est.)",
        "missing from retention",
    ]);
    table.add_row(vec![
        preflight.subject_filter.clone(),
        preflight.messages.to_string(),
        preflight.estimated_bytes.to_string(),
        format!("{seconds:.1} s"),
        preflight.missing.clone().unwrap_or_else(|| "-".into()),
    ]);
    printer.data(&format!("{table}\n"));
    printer.note("dry run: nothing was written");
}

/// Runs the replay with progress, then its restatement if one is pending.
async fn execute(
    job: &JobContext<'_>,
    nats: &Nats,
    ledger: &Ledger,
    record: &mut ReplayRecord,
    rate: Option<u64>,
) -> Outcome {
    let (printer, file) = (job.printer, job.file);
    let bar = printer.progress(record.total, &format!("replay {}", record.id));
    let mut observer = Progress {
        printer,
        bar: bar.clone(),
    };
    let started = Instant::now();
    let replay = Replay {
        js: &nats.js,
        spec: job.spec,
        ledger,
        rate_limit: rate.or(record.rate_limit),
    };
    let mut target = match record.target {
        ReplayTarget::Warehouse => match job.settings.batch_warehouse(job.spec).map_err(CliError::Usage)? {
            BatchSource::Postgres(url) => Target::Warehouse(WarehouseLoader::connect(&url, job.spec).await?),
            BatchSource::Duckdb(duckdb) => Target::Warehouse(WarehouseLoader::connect_duckdb(&duckdb, job.spec).await?),
        },
        ReplayTarget::Replay => Target::Stream,
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = replay.run(record, &mut target, &mut observer, stop).await;
    bar.finish_and_clear();
    // Releases the embedded DuckDB file before SQLMesh restates from it.
    let closed = match target {
        Target::Warehouse(loader) => loader.close().await,
        Target::Stream => Ok(Default::default()),
    };
    let (outcome, load_stats) = match result.and_then(|outcome| closed.map(|stats| (outcome, stats))) {
        Ok(done) => done,
        Err(e) => {
            record.status = ReplayStatus::Failed;
            let _ = ledger.save(record).await;
            return Err(CliError::Runtime(e.context(format!(
                "replay {} failed; resume with: iotctl replay -f {} --resume {}",
                record.id,
                file.display(),
                record.id
            ))));
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    if printer.is_json() {
        printer.data(&format!("{}\n", json!({"event": "summary", "replay": record, "seconds": elapsed, "peak_rss_kib": peak_rss_kib(), "helper_peak_rss_kib": load_stats.helper_peak_rss_kib})));
    } else {
        printer.data(&summary(printer, record, Some(elapsed), load_stats.helper_peak_rss_kib));
    }
    if outcome == RunOutcome::Interrupted {
        printer.note(&format!(
            "interrupted; checkpoint saved. resume with: iotctl replay -f {} --resume {}",
            file.display(),
            record.id
        ));
        return Ok(Exit::Runtime);
    }
    if record.restate == Some(RestateStatus::Pending) {
        return restate_days(job, ledger, record).await;
    }
    Ok(Exit::Ok)
}

/// Restates the daily models over the days the replay wrote, checks that each day then
/// matches the warehouse, and only then marks the restatement done in the ledger: a
/// restatement that fails, or leaves a hole (DuckDB has no transactions), stays pending and
/// is retried by `--resume`.
async fn restate_days(job: &JobContext<'_>, ledger: &Ledger, record: &mut ReplayRecord) -> Outcome {
    let (printer, spec, settings, file) = (job.printer, job.spec, job.settings, job.file);
    let Some(sqlmesh) = &settings.sqlmesh else {
        return Err(CliError::usage(anyhow::anyhow!(
            "replay {} has a restatement pending: set --sqlmesh-dir or IOTCTL_SQLMESH_DIR",
            record.id
        )));
    };
    let (Some(first), Some(last)) = (record.first_day, record.last_day) else {
        printer.note("no event was written: nothing to restate");
        record.restate = Some(RestateStatus::Done);
        ledger.save(record).await?;
        return Ok(Exit::Ok);
    };
    let names = crate::render::sqlmesh::model_names(spec);
    printer.note(&format!(
        "restating {} and {} for {first} … {last} on gateway {}",
        names.device_metrics,
        names.site_rollup,
        sqlmesh.gateway_name()
    ));
    let models = [names.device_metrics.as_str(), names.site_rollup.as_str()];
    let restated = async {
        crate::backend::sqlmesh::restate(sqlmesh, &models, (first, last), |line| {
            printer.tool_line("sqlmesh", line)
        })
        .await?;
        crate::engine::sqlmesh_steps::verify_span(sqlmesh, &names, (first, last)).await
    }
    .await;
    if let Err(e) = restated {
        return Err(CliError::Runtime(e.context(format!(
            "replay {} loaded every event but the restatement of {first} … {last} did not finish; repair the cause, then resume with: iotctl replay -f {} --resume {}",
            record.id,
            file.display(),
            record.id
        ))));
    }
    record.restate = Some(RestateStatus::Done);
    ledger.save(record).await?;
    printer.note(&format!("restated {first} … {last}: every day matches the warehouse"));
    Ok(Exit::Ok)
}
