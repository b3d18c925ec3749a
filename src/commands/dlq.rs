//! `iotctl dlq stats | show | redrive`: what was dead-lettered and why, and sending it back
//! once the contract or the spec is fixed.

use std::time::Instant;

use async_nats::jetstream::consumer;
use serde_json::json;
use time::OffsetDateTime;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::cli::{DlqCommand, DlqFilterArgs, DlqShowArgs, DlqStatsArgs, RedriveArgs, RedriveCommand, RedriveRunArgs};
use crate::dlq::DlqFilters;
use crate::dlq::stats::DlqStats;
use crate::error::{CliError, Exit};
use crate::jobs::dlq::redrive::{self, Judge, Observer, Redrive, RunOutcome};
use crate::jobs::dlq::{self as job, RedriveLedger, RedriveRecord, RedriveStatus};
use crate::output::Printer;
use crate::settings::Settings;
use crate::spec::Spec;
use crate::spec::subjects::TelemetrySubject;
use crate::time::{epoch_ms, parse_instant, rfc3339_millis};

pub fn run(printer: &Printer, command: &DlqCommand) -> Outcome {
    match command {
        DlqCommand::Stats(args) => stats(printer, args),
        DlqCommand::Show(args) => show(printer, args),
        DlqCommand::Redrive(args) => redrive(printer, args),
    }
}

fn usage(message: String) -> CliError {
    CliError::usage(anyhow::anyhow!(message))
}

/// An unknown reason is a usage error naming the reasons the stream holds.
fn check_reason(reason: &Option<String>, known: impl Iterator<Item = String>) -> Result<(), CliError> {
    let Some(reason) = reason else {
        return Ok(());
    };
    let known: Vec<String> = known.collect();
    if known.iter().any(|k| k == reason) {
        return Ok(());
    }
    let list = if known.is_empty() {
        "none".to_string()
    } else {
        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    };
    Err(usage(format!(
        "--reason `{reason}` is not a reason of any dead letter in the range (reasons: {list})"
    )))
}

fn stats(printer: &Printer, args: &DlqStatsArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let f: &DlqFilterArgs = &args.filters;
    f.place.check(spec).map_err(usage)?;
    let now = OffsetDateTime::now_utc();
    let instant = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| parse_instant(t, now))
            .transpose()
            .map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let (since, until) = (instant("since", &f.since)?, instant("until", &f.until)?);
    let filters = DlqFilters {
        site: f.place.site.clone(),
        device_type: f.place.device_type.clone(),
        metric: f.place.metric.clone(),
        reason: None,
    };
    let layout = TelemetrySubject::of(spec);
    let (all, selected) = runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        let start = since.map_or(consumer::DeliverPolicy::All, |start_time| {
            consumer::DeliverPolicy::ByStartTime { start_time }
        });
        let (mut all, mut selected) = (DlqStats::default(), DlqStats::default());
        job::read_letters(&nats, spec, start, until.map(epoch_ms), |read| match read {
            Ok(letter) => {
                all.add(&letter, &layout);
                let reason_ok = f.reason.as_ref().is_none_or(|r| *r == letter.reason_class());
                if reason_ok && filters.matches(&letter, &layout) {
                    selected.add(&letter, &layout);
                }
            }
            Err(_) => {
                all.unreadable += 1;
                selected.unreadable += u64::from(filters.is_empty() && f.reason.is_none());
            }
        })
        .await?;
        Ok::<_, anyhow::Error>((all, selected))
    })?;
    check_reason(&f.reason, all.by_reason.keys().cloned())?;
    print_stats(printer, &selected);
    Ok(Exit::Ok)
}

fn print_stats(printer: &Printer, stats: &DlqStats) {
    if printer.is_json() {
        printer.json(&json!({"stats": stats}));
        return;
    }
    let time = |ms: Option<i64>| ms.map_or_else(|| "-".to_string(), rfc3339_millis);
    printer.note(&format!(
        "{} dead letters ({} unreadable), stored {} … {}",
        stats.total,
        stats.unreadable,
        time(stats.first_ms),
        time(stats.last_ms)
    ));
    if stats.total == 0 {
        printer.note("no dead letter matches");
        return;
    }
    let mut reasons = printer.table(&["reason", "count", "examples (sequence: payload)"]);
    for (reason, count) in &stats.by_reason {
        let examples: Vec<String> = count
            .example_sequences
            .iter()
            .zip(&count.examples)
            .map(|(seq, text)| format!("{seq}: {text}"))
            .collect();
        reasons.add_row(vec![reason.clone(), count.count.to_string(), examples.join("\n")]);
    }
    printer.data(&format!("{reasons}\n"));
    let mut places = printer.table(&["site.device_type.metric", "count"]);
    for (place, count) in &stats.by_place {
        places.add_row(vec![place.clone(), count.to_string()]);
    }
    printer.data(&format!("{places}\n"));
}

fn show(printer: &Printer, args: &DlqShowArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let letters = runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        let mut letters = Vec::new();
        for sequence in &args.sequences {
            match job::letter_at(&nats, spec, *sequence).await? {
                Some(read) => letters.push(read),
                None => {
                    let state = job::dead_letter_stream(&nats, spec).await?.cached_info().state.clone();
                    let holds = match state.messages {
                        0 => "the dead-letter stream is empty".to_string(),
                        _ => format!("the stream holds {} … {}", state.first_sequence, state.last_sequence),
                    };
                    return Err(usage(format!("no dead letter at sequence {sequence}: {holds}")));
                }
            }
        }
        Ok(letters)
    })?;
    for read in &letters {
        print_letter(printer, read);
    }
    Ok(Exit::Ok)
}

fn print_letter(printer: &Printer, read: &job::Read) {
    let letter = match read {
        Ok(letter) => letter,
        Err((sequence, why)) => {
            printer.data(&format!(
                "sequence {sequence}: not a dead letter of iotctl or RisingWave ({why})\n"
            ));
            return;
        }
    };
    let payload = String::from_utf8_lossy(&letter.payload).to_string();
    if printer.is_json() {
        printer.data(&format!(
            "{}\n",
            json!({"dead_letter": letter, "payload": payload, "reason_class": letter.reason_class()})
        ));
        return;
    }
    let mut table = printer.table(&["dead letter", &letter.sequence.to_string()]);
    table.add_row(vec!["stored".to_string(), rfc3339_millis(letter.stored_ms)]);
    table.add_row(vec![
        "writer".to_string(),
        format!("{:?}", letter.writer).to_lowercase(),
    ]);
    table.add_row(vec![
        "original subject".to_string(),
        letter.original_subject.clone().unwrap_or_else(|| "-".into()),
    ]);
    table.add_row(vec![
        "original sequence".to_string(),
        letter.original_sequence.map_or_else(|| "-".into(), |s| s.to_string()),
    ]);
    table.add_row(vec!["reason".to_string(), letter.reason.clone()]);
    table.add_row(vec!["redrives".to_string(), letter.redrive_count.to_string()]);
    for (name, value) in &letter.headers {
        table.add_row(vec![format!("header {name}"), value.clone()]);
    }
    table.add_row(vec!["payload".to_string(), letter.payload_excerpt(4096)]);
    printer.data(&format!("{table}\n"));
}

fn redrive(printer: &Printer, args: &RedriveArgs) -> Outcome {
    match &args.command {
        Some(RedriveCommand::List(list)) => {
            let (loaded, _) = load_spec(printer, &list.spec.file)?;
            let settings = Settings::resolve(&list.connection, &loaded.spec).map_err(CliError::Usage)?;
            let records = runtime()?.block_on(async {
                let nats = Nats::connect(&settings.nats).await?;
                RedriveLedger::open(&nats.js).await?.list().await
            })?;
            print_records(printer, &records);
            Ok(Exit::Ok)
        }
        Some(RedriveCommand::Show(show)) => {
            let (loaded, _) = load_spec(printer, &show.spec.file)?;
            let settings = Settings::resolve(&show.connection, &loaded.spec).map_err(CliError::Usage)?;
            let record = runtime()?.block_on(async {
                let nats = Nats::connect(&settings.nats).await?;
                RedriveLedger::open(&nats.js).await?.get(&show.id).await
            })?;
            let Some(record) = record else {
                return Err(usage(format!(
                    "no redrive `{}` in the ledger (see `iotctl dlq redrive list`)",
                    show.id
                )));
            };
            print_record(printer, &record, None);
            Ok(Exit::Ok)
        }
        None => redrive_run(printer, &args.run),
    }
}

fn print_records(printer: &Printer, records: &[RedriveRecord]) {
    if printer.is_json() {
        printer.json(&json!({"redrives": records}));
        return;
    }
    let mut table = printer.table(&[
        "id",
        "status",
        "target",
        "read",
        "redriven",
        "still failing",
        "checkpoint",
    ]);
    for r in records {
        table.add_row(vec![
            r.id.clone(),
            format!("{:?}", r.status).to_lowercase(),
            format!("{:?}", r.target).to_lowercase(),
            r.counts.read.to_string(),
            r.counts.redriven.to_string(),
            r.counts.still_failing.to_string(),
            format!("{} / {}", r.checkpoint, r.end_sequence),
        ]);
    }
    printer.data(&format!("{table}\n"));
}

fn print_record(printer: &Printer, record: &RedriveRecord, seconds: Option<f64>) {
    if printer.is_json() {
        printer.data(&format!(
            "{}\n",
            json!({"event": "summary", "redrive": record, "seconds": seconds})
        ));
        return;
    }
    let mut table = printer.table(&["redrive", &record.id]);
    let c = &record.counts;
    for (name, value) in [
        ("status", format!("{:?}", record.status).to_lowercase()),
        ("target", format!("{:?}", record.target).to_lowercase()),
        ("read", c.read.to_string()),
        ("selected", c.matched.to_string()),
        ("redriven (removed from the dead-letter stream)", c.redriven.to_string()),
        ("already in the target (deduplicated)", c.duplicates.to_string()),
        ("still failing (stay)", c.still_failing.to_string()),
        (
            "checkpoint",
            format!("sequence {} (end {})", record.checkpoint, record.end_sequence),
        ),
    ] {
        table.add_row(vec![name.to_string(), value]);
    }
    for (reason, count) in &record.still_failing {
        table.add_row(vec![format!("  stays: {reason}"), count.to_string()]);
    }
    if let Some(seconds) = seconds {
        table.add_row(vec![
            "duration".to_string(),
            format!(
                "{seconds:.2} s ({:.0} dead letters/s)",
                c.read as f64 / seconds.max(1e-6)
            ),
        ]);
    }
    printer.data(&format!("{table}\n"));
}

struct Progress<'a> {
    printer: &'a Printer,
    bar: indicatif::ProgressBar,
}

impl Observer for Progress<'_> {
    fn progress(&mut self, record: &RedriveRecord, rate: f64) {
        if self.printer.is_json() {
            let c = &record.counts;
            self.printer.data(&format!(
                "{}\n",
                json!({"event": "progress", "id": record.id, "read": c.read, "redriven": c.redriven, "still_failing": c.still_failing, "checkpoint": record.checkpoint, "rate": rate.round()})
            ));
        } else {
            self.bar.set_position(record.checkpoint);
            self.bar.set_message(format!(
                "{} redriven, {} stay, {rate:.0}/s",
                record.counts.redriven, record.counts.still_failing
            ));
        }
    }
}

fn redrive_run(printer: &Printer, args: &RedriveRunArgs) -> Outcome {
    let Some(file) = &args.file else {
        return Err(usage("dlq redrive needs -f SPEC".into()));
    };
    let (loaded, _) = load_spec(printer, file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    args.place.check(spec).map_err(usage)?;
    let filters = DlqFilters {
        site: args.place.site.clone(),
        device_type: args.place.device_type.clone(),
        metric: args.place.metric.clone(),
        reason: args.reason.clone(),
    };
    runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        let ledger = RedriveLedger::open(&nats.js).await?;
        let mut record = match &args.resume {
            Some(id) => match ledger.get(id).await? {
                Some(record) if record.status == RedriveStatus::Completed => {
                    printer.note(&format!("redrive {id} already completed; nothing to resume"));
                    return Ok(Exit::Ok);
                }
                Some(record) => record,
                None => {
                    return Err(usage(format!(
                        "no redrive `{id}` in the ledger (see `iotctl dlq redrive list`)"
                    )));
                }
            },
            None => {
                redrive::new_record(
                    &nats,
                    spec,
                    (filters.clone(), args.to),
                    (args.limit, args.rate),
                    OffsetDateTime::now_utc(),
                )
                .await?
            }
        };
        let judge = Judge::new(spec, record.target)?;
        if args.resume.is_none() {
            check_reason_in_stream(&nats, spec, &filters.reason).await?;
        }
        if args.dry_run {
            let found = redrive::dry_run(&nats, spec, &judge, &record.filters, record.limit).await?;
            print_dry_run(printer, &found);
            return Ok(Exit::Ok);
        }
        execute(printer, &nats, spec, &ledger, &judge, &mut record, file).await
    })
}

/// `--reason` must be one the dead-letter stream holds.
async fn check_reason_in_stream(nats: &Nats, spec: &Spec, reason: &Option<String>) -> Result<(), CliError> {
    if reason.is_none() {
        return Ok(());
    }
    let mut classes = std::collections::BTreeSet::new();
    job::read_letters(nats, spec, consumer::DeliverPolicy::All, None, |read| {
        if let Ok(letter) = read {
            classes.insert(letter.reason_class());
        }
    })
    .await?;
    check_reason(reason, classes.into_iter())
}

fn print_dry_run(printer: &Printer, found: &redrive::DryRun) {
    if printer.is_json() {
        printer.json(&json!({"dry_run": true, "found": found}));
        return;
    }
    let mut table = printer.table(&["dry run", "dead letters"]);
    table.add_row(vec!["read".to_string(), found.read.to_string()]);
    table.add_row(vec!["selected".to_string(), found.matched.to_string()]);
    table.add_row(vec!["would be redriven".to_string(), found.would_redrive.to_string()]);
    for (reason, count) in &found.would_stay {
        table.add_row(vec![format!("would stay: {reason}"), count.to_string()]);
    }
    printer.data(&format!("{table}\n"));
    printer.note("dry run: nothing was written");
}

async fn execute(
    printer: &Printer,
    nats: &Nats,
    spec: &Spec,
    ledger: &RedriveLedger,
    judge: &Judge,
    record: &mut RedriveRecord,
    file: &std::path::Path,
) -> Outcome {
    let job = Redrive {
        nats,
        spec,
        ledger,
        judge,
    };
    if record.counts.read == 0 {
        job.finish_pending_deletes().await?;
    }
    let bar = printer.progress(record.end_sequence, &format!("redrive {}", record.id));
    let mut observer = Progress {
        printer,
        bar: bar.clone(),
    };
    let started = Instant::now();
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = job.run(record, &mut observer, stop).await;
    bar.finish_and_clear();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            record.status = RedriveStatus::Failed;
            let _ = ledger.save(record).await;
            let hint = format!(
                "redrive {} failed; resume with: iotctl dlq redrive -f {} --resume {}",
                record.id,
                file.display(),
                record.id
            );
            return Err(CliError::Runtime(e.context(hint)));
        }
    };
    print_record(printer, record, Some(started.elapsed().as_secs_f64()));
    if outcome == RunOutcome::Interrupted {
        printer.note(&format!(
            "interrupted; checkpoint saved. resume with: iotctl dlq redrive -f {} --resume {}",
            file.display(),
            record.id
        ));
        return Ok(Exit::Runtime);
    }
    if record.counts.matched == 0 {
        printer.note("no dead letter matches the filters: nothing was redriven");
    }
    Ok(Exit::Ok)
}
