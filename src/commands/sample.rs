//! `iotctl sample`: deterministic telemetry for loading a warehouse without a live pipeline.

use std::io::Write;

use anyhow::Context;

use super::{Outcome, load_spec};
use crate::cli::{SampleArgs, SampleFormat};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::sample::{SampleOptions, csv_header, csv_line, generate, json_line};
use crate::spec::event::event_fields;

pub fn run(printer: &Printer, args: &SampleArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let options = SampleOptions {
        start: args.start.clone().unwrap_or_else(|| spec.sqlmesh.start.clone()),
        days: args.days,
        devices_per_type: args.devices,
        interval_secs: args.interval,
    };
    if crate::time::Day::parse(&options.start).is_none() {
        return Err(CliError::usage(anyhow::anyhow!(
            "--start `{}` is not a YYYY-MM-DD date",
            options.start
        )));
    }
    let fields = event_fields(spec);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::with_capacity(256);
    let mut io_error = None;
    if args.encoding == SampleFormat::Csv {
        out.write_all(csv_header(spec).as_bytes())
            .context("cannot write to stdout")?;
    }
    let count = generate(spec, &options, |event| {
        if io_error.is_some() {
            return;
        }
        line.clear();
        match args.encoding {
            SampleFormat::Csv => csv_line(event, &mut line),
            SampleFormat::Ndjson => json_line(&fields, event, &mut line),
        }
        if let Err(e) = out.write_all(line.as_bytes()) {
            io_error = Some(e);
        }
    })
    .map_err(CliError::Usage)?;
    if let Some(e) = io_error {
        return Err(CliError::Runtime(
            anyhow::Error::new(e).context("cannot write to stdout"),
        ));
    }
    out.flush().context("cannot write to stdout")?;
    printer.note(&format!(
        "wrote {count} events ({} days from {})",
        options.days, options.start
    ));
    Ok(Exit::Ok)
}
