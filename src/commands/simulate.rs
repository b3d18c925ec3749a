//! `iotctl simulate`: publish a simulated fleet's telemetry into the telemetry stream.

use std::time::Instant;

use serde_json::json;
use time::OffsetDateTime;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::cli::SimulateArgs;
use crate::error::{CliError, Exit};
use crate::jobs::simulate::{SimulateCounts, SimulateObserver, publish};
use crate::output::Printer;
use crate::settings::Settings;
use crate::simulate::{SimulateOptions, Simulation, parse_rate};
use crate::spec::duration::Duration;
use crate::time::{DAY_MS, epoch_ms, instant_ms, rfc3339_millis};

/// `--start`: RFC 3339, a UTC day, or a duration ago. Default: `duration` before now, from UTC
/// midnight when the duration is whole days.
pub fn resolve_start(start: Option<&str>, duration_ms: u64, now: OffsetDateTime) -> Result<i64, String> {
    let now_ms = epoch_ms(now);
    match start {
        None if duration_ms.is_multiple_of(DAY_MS as u64) => {
            Ok(now_ms.div_euclid(DAY_MS) * DAY_MS - duration_ms as i64)
        }
        None => Ok((now_ms - duration_ms as i64).div_euclid(60_000) * 60_000),
        Some(text) => instant_ms(text, now),
    }
}

struct Progress<'a> {
    printer: &'a Printer,
    bar: indicatif::ProgressBar,
    started: Instant,
}

impl SimulateObserver for Progress<'_> {
    fn progress(&mut self, counts: &SimulateCounts) {
        let rate = counts.published as f64 / self.started.elapsed().as_secs_f64().max(1e-6);
        if self.printer.is_json() {
            self.printer.data(&format!(
                "{}\n",
                json!({"event": "progress", "published": counts.published, "stored": counts.stored, "rate": rate.round()})
            ));
        } else {
            self.bar.set_position(counts.published);
            self.bar.set_message(format!("{rate:.0} events/s"));
        }
    }
}

pub fn run(printer: &Printer, args: &SimulateArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let usage = |e: String| CliError::usage(anyhow::anyhow!(e));
    let interval_ms = parse_rate(&args.rate).map_err(|e| usage(format!("--rate: {e}")))?;
    let duration = Duration::parse(&args.duration).map_err(|e| usage(format!("--duration: {e}")))?;
    if duration.is_zero() {
        return Err(usage("--duration must be positive".into()));
    }
    let now = OffsetDateTime::now_utc();
    let start_ms =
        resolve_start(args.start.as_deref(), duration.as_millis(), now).map_err(|e| usage(format!("--start: {e}")))?;
    let options = SimulateOptions {
        devices: args.devices,
        interval_ms,
        start_ms,
        duration_ms: duration.as_millis(),
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        anomalies: args.anomalies,
        seed: args.seed,
    };
    let simulation = Simulation::new(spec, options).map_err(CliError::Usage)?;
    let total = simulation.total_events();
    let range = format!(
        "{} → {}",
        rfc3339_millis(start_ms),
        rfc3339_millis(start_ms + duration.as_millis() as i64)
    );
    printer.note(&format!(
        "simulating {} devices, one reading every {interval_ms} ms each, {range}: {total} events",
        args.devices
    ));
    runtime()?.block_on(async {
        let nats = Nats::connect(&settings.nats).await?;
        let bar = printer.progress(total, "simulate");
        let started = Instant::now();
        let mut observer = Progress {
            printer,
            bar: bar.clone(),
            started,
        };
        let counts = publish(&nats.client, simulation, args.dedupe_ids, &mut observer).await.map_err(|e| {
            CliError::Runtime(e.context(format!(
                "simulate stopped; is the telemetry stream applied (`iotctl apply -f {}`)?",
                args.spec.file.display()
            )))
        })?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let rate = counts.published as f64 / seconds.max(1e-6);
        if printer.is_json() {
            printer.data(&format!(
                "{}\n",
                json!({"event": "summary", "range": range, "devices": args.devices, "counts": counts, "seconds": seconds, "events_per_second": rate.round()})
            ));
        } else {
            let mut table = printer.table(&["simulate", &spec.pipeline.name.to_string()]);
            for (k, v) in [
                ("range", range),
                ("devices", args.devices.to_string()),
                ("published", counts.published.to_string()),
                ("stored", counts.stored.to_string()),
                ("already stored (same event id)", counts.duplicates.to_string()),
                ("late (out of order)", counts.late.to_string()),
                ("malformed", counts.malformed.to_string()),
                ("anomalies", counts.anomalies.to_string()),
                ("bytes", counts.bytes.to_string()),
                ("duration", format!("{seconds:.2} s ({rate:.0} events/s)")),
            ] {
                table.add_row(vec![k.to_string(), v]);
            }
            printer.data(&format!("{table}\n"));
        }
        Ok(Exit::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_defaults_to_whole_days_before_midnight() {
        let now = OffsetDateTime::from_unix_timestamp(1_779_600_000).unwrap(); // 2026-05-24T05:20Z
        let midnight = 1_779_580_800_000;
        assert_eq!(resolve_start(None, DAY_MS as u64, now), Ok(midnight - DAY_MS));
        assert_eq!(resolve_start(None, 3_600_000, now), Ok(1_779_600_000_000 - 3_600_000));
        assert_eq!(resolve_start(Some("2026-05-24"), 1, now), Ok(midnight));
        assert_eq!(resolve_start(Some("2026-05-24T00:00:00Z"), 1, now), Ok(midnight));
        assert_eq!(resolve_start(Some("1h"), 1, now), Ok(1_779_600_000_000 - 3_600_000));
        assert!(resolve_start(Some("yesterday"), 1, now).is_err());
    }
}
