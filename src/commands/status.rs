//! `iotctl status`: what the streams hold, how far back a replay can reach, consumers and
//! their backlog, and whether anything drifted from the spec. `--format openmetrics` adds the
//! dead letters by reason and the last replay, as gauges for Prometheus.

use std::collections::BTreeMap;

use async_nats::jetstream::consumer::DeliverPolicy;
use futures::TryStreamExt;
use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::backend::nats::Nats;
use crate::cli::StatusArgs;
use crate::engine::{Live, Selection};
use crate::error::{CliError, Exit};
use crate::jobs::{dlq, replay::Ledger};
use crate::observability::status::{ConsumerStatus, LastReplay, StatusSnapshot, StreamStatus};
use crate::output::{Format, Printer};
use crate::plan::Plan;
use crate::render::{render_all, templates::Templates};
use crate::settings::Settings;
use crate::spec::Spec;
use crate::spec::streams::StreamRole;
use crate::time::{rfc3339_secs, unix_now};

pub fn run(printer: &Printer, args: &StatusArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let rendering = render_all(spec, &Templates::embedded())?;
    let metrics = printer.format == Format::Openmetrics;
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let live = Live::connect(spec, &settings, Selection::default(), &mut plan).await?;
        let mut snapshot = StatusSnapshot {
            pipeline: spec.pipeline.name.to_string(),
            taken_at: unix_now(),
            replay_slo: spec.slo.replay_retention,
            streams: streams(spec, &live.nats).await?,
            dead_letters: None,
            last_replay: None,
            in_sync: None,
        };
        if metrics {
            snapshot.dead_letters = Some(dead_letters(spec, &live.nats).await?);
            snapshot.last_replay = last_replay(spec, &live.nats).await?;
        }
        live.observe_and_diff(spec, &rendering, &mut plan).await?;
        let drifted = !plan.is_empty() || !plan.conflicts.is_empty();
        snapshot.in_sync = Some(!drifted);
        match printer.format {
            Format::Openmetrics => printer.data(&snapshot.exposition().text()),
            Format::Json => printer.json(&json!({"pipeline": spec.pipeline.name, "streams": streams_json(&snapshot), "drift": plan.changes, "conflicts": plan.conflicts, "skipped": plan.skipped, "in_sync": !drifted})),
            Format::Human | Format::Github => print_human(printer, &snapshot, &plan),
        }
        Ok(if args.check && drifted { Exit::CheckFailed } else { Exit::Ok })
    })
}

/// The spec's streams as the server holds them, with their consumers.
async fn streams(spec: &Spec, nats: &Nats) -> Result<Vec<StreamStatus>, CliError> {
    let observed = nats.observe().await?;
    let mut streams = Vec::new();
    for want in spec.streams() {
        let have = observed.iter().find(|o| o.config.name == want.name);
        let mut consumers = Vec::new();
        if have.is_some()
            && let Ok(stream) = nats.js.get_stream(want.name.as_str()).await
        {
            let infos: Vec<_> = stream.consumers().try_collect().await.unwrap_or_default();
            consumers = infos
                .into_iter()
                .map(|info| ConsumerStatus {
                    name: info.name,
                    pending: info.num_pending,
                    ack_pending: info.num_ack_pending as u64,
                    redelivered: info.num_redelivered as u64,
                })
                .collect();
        }
        streams.push(StreamStatus {
            name: want.name.to_string(),
            role: want.role,
            max_age: want.max_age,
            state: have.map(|h| h.state.clone()),
            consumers,
        });
    }
    Ok(streams)
}

/// Dead letters by reason class and writer; unreadable messages count as their own reason.
async fn dead_letters(spec: &Spec, nats: &Nats) -> Result<BTreeMap<(String, &'static str), u64>, CliError> {
    let mut counts = BTreeMap::new();
    if nats
        .js
        .get_stream(spec.stream(StreamRole::DeadLetter).name.as_str())
        .await
        .is_err()
    {
        return Ok(counts);
    }
    dlq::read_letters(nats, spec, DeliverPolicy::All, None, |read| {
        let key = match read {
            Ok(letter) => (letter.reason_class(), letter.writer.as_str()),
            Err(_) => ("unreadable".to_string(), "unknown"),
        };
        *counts.entry(key).or_default() += 1;
    })
    .await?;
    Ok(counts)
}

/// The pipeline's most recently started replay, if the ledger holds one.
async fn last_replay(spec: &Spec, nats: &Nats) -> Result<Option<LastReplay>, CliError> {
    let Some(ledger) = Ledger::existing(&nats.js).await else {
        return Ok(None);
    };
    let records = ledger.list().await?;
    let last = records
        .into_iter()
        .rev()
        .find(|r| r.pipeline == spec.pipeline.name.as_str());
    Ok(last.map(|r| LastReplay {
        id: r.id,
        state: r.status.as_str(),
        run_seconds: r.run_seconds,
        read: r.counts.read,
        total: r.total,
    }))
}

fn streams_json(snapshot: &StatusSnapshot) -> Vec<serde_json::Value> {
    snapshot
        .streams
        .iter()
        .map(|s| {
            let state = s.state.as_ref();
            json!({
                "name": s.name, "role": s.role, "present": state.is_some(),
                "messages": state.map(|h| h.messages), "bytes": state.map(|h| h.bytes),
                "first": state.and_then(|h| h.first_timestamp).map(rfc3339_secs),
                "last": state.and_then(|h| h.last_timestamp).map(rfc3339_secs),
                "replay_reach": s.replay_reach(snapshot.taken_at).map(|c| c.to_string()),
                "replay_slo": (s.role == StreamRole::Telemetry).then(|| snapshot.replay_slo.to_string()),
                "consumers": s.consumers.iter().map(|c| json!({"name": c.name, "pending": c.pending, "ack_pending": c.ack_pending, "redelivered": c.redelivered})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn print_human(printer: &Printer, snapshot: &StatusSnapshot, plan: &Plan) {
    let mut table = printer.table(&[
        "stream",
        "role",
        "messages",
        "bytes",
        "first",
        "last",
        "replay reach",
        "consumers (pending)",
    ]);
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    for s in &snapshot.streams {
        let state = s.state.as_ref();
        let reach = s.replay_reach(snapshot.taken_at).map(|r| match s.role {
            StreamRole::Telemetry => format!("{r} (SLO {})", snapshot.replay_slo),
            _ => r.to_string(),
        });
        let consumers: Vec<String> = s
            .consumers
            .iter()
            .map(|c| format!("{} ({})", c.name, c.pending))
            .collect();
        let name = if state.is_some() {
            s.name.clone()
        } else {
            format!("{} (missing)", s.name)
        };
        table.add_row(vec![
            name,
            s.role.key().to_string(),
            or_dash(state.map(|h| h.messages.to_string())),
            or_dash(state.map(|h| h.bytes.to_string())),
            or_dash(state.and_then(|h| h.first_timestamp).map(rfc3339_secs)),
            or_dash(state.and_then(|h| h.last_timestamp).map(rfc3339_secs)),
            or_dash(reach),
            consumers.join(", "),
        ]);
    }
    printer.data(&format!("{table}\n"));
    printer.data(&plan.render_human());
}
