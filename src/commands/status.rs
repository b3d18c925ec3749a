//! `iotctl status`: what the streams hold, how far back a replay can reach, consumers and
//! their backlog, and whether anything drifted from the spec.

use futures::TryStreamExt;
use serde_json::json;

use super::{Outcome, load_spec, runtime};
use crate::cli::StatusArgs;
use crate::engine::{Live, Selection};
use crate::error::{CliError, Exit};
use crate::output::Printer;
use crate::plan::Plan;
use crate::render::{render_all, templates::Templates};
use crate::settings::Settings;
use crate::spec::duration::Duration;
use crate::spec::streams::StreamRole;
use crate::time::{rfc3339_secs, unix_now};

pub fn run(printer: &Printer, args: &StatusArgs) -> Outcome {
    let (loaded, _) = load_spec(printer, &args.spec.file)?;
    let spec = &loaded.spec;
    let settings = Settings::resolve(&args.connection, spec).map_err(CliError::Usage)?;
    let rendering = render_all(spec, &Templates::embedded())?;
    runtime()?.block_on(async {
        let mut plan = Plan::default();
        let live = Live::connect(spec, &settings, Selection::default(), &mut plan).await?;
        let nats = &live.nats;
        let observed = nats.observe().await?;
        let now = unix_now();
        let mut streams = Vec::new();
        for want in spec.streams() {
            let have = observed.iter().find(|o| o.config.name == want.name);
            let mut consumers = Vec::new();
            if have.is_some()
                && let Ok(stream) = nats.js.get_stream(want.name.as_str()).await
            {
                let infos: Vec<_> = stream.consumers().try_collect().await.unwrap_or_default();
                for info in infos {
                    consumers.push(json!({"name": info.name, "pending": info.num_pending, "ack_pending": info.num_ack_pending}));
                }
            }
            let coverage = have.and_then(|h| h.state.first_timestamp).map(|first| Duration::from_secs(now.saturating_sub(first).max(0) as u64));
            streams.push(json!({
                "name": want.name, "role": want.role, "present": have.is_some(),
                "messages": have.map(|h| h.state.messages), "bytes": have.map(|h| h.state.bytes),
                "first": have.and_then(|h| h.state.first_timestamp).map(rfc3339_secs),
                "last": have.and_then(|h| h.state.last_timestamp).map(rfc3339_secs),
                "replay_reach": coverage.map(|c| c.min(want.max_age).to_string()),
                "replay_slo": (want.role == StreamRole::Telemetry).then(|| spec.slo.replay_retention.to_string()),
                "consumers": consumers,
            }));
        }
        live.observe_and_diff(spec, &rendering, &mut plan).await?;
        let drifted = !plan.is_empty() || !plan.conflicts.is_empty();
        if printer.is_json() {
            printer.json(&json!({"pipeline": spec.pipeline.name, "streams": streams, "drift": plan.changes, "conflicts": plan.conflicts, "skipped": plan.skipped, "in_sync": !drifted}));
        } else {
            let mut table = printer.table(&["stream", "role", "messages", "bytes", "first", "last", "replay reach", "consumers (pending)"]);
            for s in &streams {
                let text = |v: &serde_json::Value| match v {
                    serde_json::Value::Null => "-".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let reach = match (&s["replay_reach"], &s["replay_slo"]) {
                    (serde_json::Value::String(r), serde_json::Value::String(slo)) => format!("{r} (SLO {slo})"),
                    (r, _) => text(r),
                };
                let consumers = s["consumers"].as_array().map(|c| c.iter().map(|c| format!("{} ({})", text(&c["name"]), text(&c["pending"]))).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                let name = if s["present"] == true { text(&s["name"]) } else { format!("{} (missing)", text(&s["name"])) };
                table.add_row(vec![name, text(&s["role"]), text(&s["messages"]), text(&s["bytes"]), text(&s["first"]), text(&s["last"]), reach, consumers]);
            }
            printer.data(&format!("{table}\n"));
            printer.data(&plan.render_human());
        }
        Ok(if args.check && drifted { Exit::CheckFailed } else { Exit::Ok })
    })
}
