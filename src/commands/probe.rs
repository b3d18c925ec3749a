//! `iotctl probe`: canaries through the alerting path, measured against the spec's SLOs.

use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::cli::ProbeArgs;
use crate::error::{CliError, Exit};
use crate::jobs::probe::Probe;
use crate::output::{Format, Printer};
use crate::probe::summary::seconds;
use crate::probe::{Summary, alert_subjects, targets};
use crate::settings::Settings;
use crate::time::unix_now_ms;

pub fn run(printer: &Printer, args: &ProbeArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let usage = |text: String| CliError::Usage(anyhow::anyhow!(text));
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    if args.timeout.is_zero() {
        return Err(usage("--timeout must be longer than 0".into()));
    }
    let probe = Probe {
        spec,
        targets: targets(spec, &args.site).map_err(usage)?,
        alert_subjects: alert_subjects(spec).map_err(usage)?,
        rounds: args.count,
        interval: std::time::Duration::from_millis(args.interval.as_millis()),
        timeout: std::time::Duration::from_millis(args.timeout.as_millis()),
    };
    let canaries = u64::from(args.count) * probe.targets.len() as u64;
    printer.note(&format!(
        "probing {}: {canaries} canaries ({} per round, every {}), alerts awaited on {} for up to {}",
        spec.pipeline.name,
        probe.targets.len(),
        args.interval,
        probe.alert_subjects.join(", "),
        args.timeout
    ));
    let bar = printer.progress(canaries, "canaries");
    let summary = runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        probe.run(&nats, |n| bar.set_position(n)).await
    })?;
    bar.finish_and_clear();
    let verdict = summary.verdict(&spec.slo);
    match printer.format {
        Format::Openmetrics => {
            let finished = unix_now_ms() as f64 / 1000.0;
            printer.data(&summary.exposition(spec.pipeline.name.as_str(), &spec.slo, finished).text());
        }
        Format::Json => printer.json(&json!({
            "pipeline": spec.pipeline.name, "summary": summary, "verdict": verdict, "slo_met": verdict.met(),
            "slo": {"alert_latency_p99": spec.slo.alert_latency_p99.to_string(), "max_drop_rate": spec.slo.max_drop_rate},
        })),
        Format::Human | Format::Github => print_human(printer, &summary, spec),
    }
    for breach in &verdict.breaches {
        printer.diagnostic(&format!("{}: {breach}\n", printer.paint("SLO breached", "31;1")));
    }
    Ok(if verdict.met() { Exit::Ok } else { Exit::CheckFailed })
}

fn print_human(printer: &Printer, summary: &Summary, spec: &crate::spec::Spec) {
    let mut table = printer.table(&["", "measured", "SLO"]);
    let latency = |v: Option<f64>| v.map_or_else(|| "-".to_string(), seconds);
    table.add_row(vec![
        "canaries".to_string(),
        summary.canaries.to_string(),
        String::new(),
    ]);
    table.add_row(vec![
        "lost (no alert in time)".to_string(),
        format!("{} ({:.2} %)", summary.lost, summary.loss_ratio * 100.0),
        format!("≤ {} %", spec.slo.max_drop_rate * 100.0),
    ]);
    table.add_row(vec!["latency p50".to_string(), latency(summary.p50), String::new()]);
    table.add_row(vec!["latency p95".to_string(), latency(summary.p95), String::new()]);
    table.add_row(vec![
        "latency p99".to_string(),
        latency(summary.p99),
        format!("≤ {}", spec.slo.alert_latency_p99),
    ]);
    table.add_row(vec!["latency max".to_string(), latency(summary.max), String::new()]);
    printer.data(&format!("{table}\n"));
}
