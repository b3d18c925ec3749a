//! The alerts a pipeline's SLOs imply, in one catalog: each with its PromQL over the gauges of
//! `observability::metrics`, the promtool cases that prove when it fires, and what its runbook
//! says. Rules, rule tests and runbooks are all rendered from this list.

use super::chains::Pipeline;
use crate::observability::metrics::*;

/// A probe older than this counts as missing (probes run every few minutes from cron).
const PROBE_STALE_SECS: u32 = 1800;
/// A status export older than this counts as missing (a textfile collector runs it each minute).
const STATUS_STALE_SECS: u32 = 900;
/// A consumer further behind than this much traffic is backlogged.
const BACKLOG_SECS: u32 = 60;

pub const DEAD_LETTER_RATIO: &str = "iotctl:dead_letter_ratio:1h";
pub const CONSUMER_BACKLOG: &str = "iotctl:consumer_backlog:seconds";

/// A recording rule.
pub struct Recording {
    pub record: &'static str,
    pub expr: String,
}

/// One promtool case: input series (selector, values), when to evaluate, and the labels of
/// the alert expected then (None: no alert).
pub struct Case {
    pub series: Vec<(String, String)>,
    pub eval_time: &'static str,
    pub fires_with: Option<Vec<(&'static str, String)>>,
}

pub struct Alert {
    pub name: &'static str,
    pub severity: &'static str,
    pub expr: String,
    pub for_: &'static str,
    pub summary: String,
    pub description: String,
    /// What it means, for the runbook.
    pub meaning: &'static str,
    /// Commands an on-call engineer runs first; each must run as written (a test does).
    pub diagnose: Vec<String>,
    /// Commands that repair, with `<placeholders>` where a value comes from the diagnosis.
    pub repair: Vec<String>,
    /// A case that fires and a case that stays quiet.
    pub cases: [Case; 2],
}

pub fn recordings(p: &Pipeline) -> Vec<Recording> {
    let seq = |role: &str| {
        format!(
            "{}{{pipeline=\"{}\",role=\"{role}\"}}",
            STREAM_LAST_SEQUENCE.name, p.name
        )
    };
    let consumers = p.consumers().join("|");
    vec![
        Recording {
            record: DEAD_LETTER_RATIO,
            expr: format!(
                "sum by (pipeline) (delta({}[1h])) / sum by (pipeline) (delta({}[1h]))",
                seq("dead_letter"),
                seq("telemetry")
            ),
        },
        Recording {
            record: CONSUMER_BACKLOG,
            expr: format!(
                "{}{{pipeline=\"{}\",consumer=~\"{consumers}\"}} / on (pipeline, stream) group_left () (max by (pipeline, stream) (delta({}{{pipeline=\"{}\"}}[5m])) / 300)",
                CONSUMER_PENDING.name, p.name, STREAM_LAST_SEQUENCE.name, p.name
            ),
        },
    ]
}

pub fn alerts(p: &Pipeline) -> Vec<Alert> {
    let mut alerts = Vec::new();
    // Without a canary that pages, the probe's gauges never come: no alert may wait on them.
    if p.probed {
        alerts.extend([latency(p), probe_stale(p)]);
    }
    // A drop rate of 1 tolerates every loss: nothing could breach it.
    if p.max_drop_rate < 1.0 {
        alerts.extend(p.probed.then(|| canaries_lost(p)));
        alerts.push(drop_rate(p));
    }
    alerts.extend([
        dead_letters_arriving(p),
        replay_reach(p),
        consumer_backlog(p),
        status_stale(p),
        replay_failed(p),
        spec_drift(p),
    ]);
    alerts
}

fn pipeline_label(p: &Pipeline) -> (&'static str, String) {
    ("pipeline", p.name.clone())
}

fn latency(p: &Pipeline) -> Alert {
    let slo = p.latency_slo_secs;
    let series = format!(
        "{}{{pipeline=\"{}\",quantile=\"0.99\"}}",
        PROBE_ALERT_LATENCY.name, p.name
    );
    Alert {
        name: "IotctlAlertLatencyOverSlo",
        severity: "critical",
        expr: format!("{series} > {slo}"),
        for_: "10m",
        summary: format!("{}: alert latency p99 above {}", p.name, p.latency_slo),
        description: format!(
            "The last probes measured a publish-to-alert p99 above slo.alert_latency_p99 ({}): alerts reach on-call late.",
            p.latency_slo
        ),
        meaning: "Canary readings published by `iotctl probe` took longer than the SLO to come back as alerts on the alert sinks' subjects. Either RisingWave is slow to process (barrier interval, backlog, a heavy view), or the alert sinks or NATS are slow to deliver.",
        diagnose: vec![
            p.command("probe --count 5 --timeout 10s"),
            p.command("status"),
            p.command("plan"),
        ],
        repair: vec![
            "# a backlog on the ingestion consumer: see the IotctlConsumerBacklog runbook".into(),
            "# the cluster's barrier interval too close to the SLO: `iotctl plan` says so; lower barrier_interval_ms"
                .into(),
        ],
        cases: [
            Case {
                series: vec![(series.clone(), format!("{}x30", slo * 1.5))],
                eval_time: "20m",
                fires_with: Some(vec![pipeline_label(p), ("quantile", "0.99".into())]),
            },
            Case {
                series: vec![(series, format!("{}x30", slo * 0.9))],
                eval_time: "20m",
                fires_with: None,
            },
        ],
    }
}

fn canaries_lost(p: &Pipeline) -> Alert {
    let series = format!("{}{{pipeline=\"{}\"}}", PROBE_LOSS.name, p.name);
    Alert {
        name: "IotctlCanariesLost",
        severity: "critical",
        expr: format!("{series} > {}", p.max_drop_rate),
        for_: "10m",
        summary: format!("{}: probe canaries raise no alert", p.name),
        description: format!(
            "More than slo.max_drop_rate ({}) of the last probes' canaries raised no alert within the probe's timeout: real breaches may not page.",
            p.max_drop_rate
        ),
        meaning: "Canaries are valid readings beyond a critical threshold; each must come back as an alert. Lost canaries mean the alerting path drops or stalls: an ingestion table not reading, a broken alert view, an alert sink that stopped, or canaries dead-lettered (a contract change the probe's readings no longer meet).",
        diagnose: vec![
            p.command("probe --count 5 --timeout 10s"),
            p.command("dlq stats --since 1h"),
            p.command("status"),
        ],
        repair: vec![p.command("plan"), p.command("apply")],
        cases: [
            Case {
                series: vec![(
                    series.clone(),
                    format!("{}x30", (p.max_drop_rate * 2.0 + 0.01).min(1.0)),
                )],
                eval_time: "20m",
                fires_with: Some(vec![pipeline_label(p)]),
            },
            Case {
                series: vec![(series, format!("{}x30", p.max_drop_rate))],
                eval_time: "20m",
                fires_with: None,
            },
        ],
    }
}

fn drop_rate(p: &Pipeline) -> Alert {
    let seq = |role: &str| {
        format!(
            "{}{{pipeline=\"{}\",role=\"{role}\",stream=\"{}\"}}",
            STREAM_LAST_SEQUENCE.name,
            p.name,
            p.stream_of(role)
        )
    };
    // Dead letters per 1000 arrivals a minute: past the SLO, and within the arrivals.
    let breaching = ((1000.0 * p.max_drop_rate * 2.0).floor() + 1.0).min(1000.0);
    Alert {
        name: "IotctlDropRateOverSlo",
        severity: "critical",
        expr: format!("{DEAD_LETTER_RATIO}{{pipeline=\"{}\"}} > {}", p.name, p.max_drop_rate),
        for_: "15m",
        summary: format!("{}: dead-letter rate above slo.max_drop_rate", p.name),
        description: format!(
            "Over the last hour more than {} of the events arriving on the telemetry stream were dead-lettered: they count nowhere until redriven.",
            p.max_drop_rate
        ),
        meaning: "Dead letters are events that broke the contract: a firmware sending a new shape, a device with a wrong clock, a value out of range. They are kept in the dead-letter stream with their reason, not lost, but they count in no aggregate and no report until they are redriven. The rate counts every dead letter written, by RisingWave and by replays alike.",
        diagnose: vec![p.command("dlq stats --since 1h"), p.command("status")],
        repair: vec![
            "# fix the producer, or widen the contract in the spec, then:".into(),
            p.command("dlq redrive --reason '<reason>' --dry-run"),
            p.command("dlq redrive --reason '<reason>'"),
        ],
        cases: [
            Case {
                series: vec![
                    (seq("telemetry"), "0+1000x120".into()),
                    (seq("dead_letter"), format!("0+{breaching}x120")),
                ],
                eval_time: "90m",
                fires_with: Some(vec![pipeline_label(p)]),
            },
            Case {
                series: vec![
                    (seq("telemetry"), "0+1000x120".into()),
                    (seq("dead_letter"), "0x120".into()),
                ],
                eval_time: "90m",
                fires_with: None,
            },
        ],
    }
}

fn probe_stale(p: &Pipeline) -> Alert {
    let selector = format!("{}{{pipeline=\"{}\"}}", PROBE_TIMESTAMP.name, p.name);
    Alert {
        name: "IotctlProbeMissing",
        severity: "warning",
        expr: format!("time() - max by (pipeline) ({selector}) > {PROBE_STALE_SECS} or absent({selector})"),
        for_: "5m",
        summary: format!("{}: no recent probe", p.name),
        description: format!(
            "No `iotctl probe` result newer than {} minutes: the alert-latency and canary alerts are blind.",
            PROBE_STALE_SECS / 60
        ),
        meaning: "The latency and canary-loss alerts read the last probe's gauges. Without a fresh probe they can neither fire nor clear. The probe runs from cron (or a Kubernetes CronJob) with `--format openmetrics` into a node-exporter textfile directory.",
        diagnose: vec![p.command("probe --count 1 --timeout 10s --format openmetrics")],
        repair: vec![
            "# restore the cron job, e.g. every 5 minutes:".into(),
            format!(
                "{} > /var/lib/node_exporter/textfile/iotctl_probe_{}.prom",
                p.command("probe --count 5 --format openmetrics"),
                p.name
            ),
        ],
        cases: [
            Case {
                series: vec![(selector.clone(), "0x60".into())],
                eval_time: "45m",
                fires_with: Some(vec![pipeline_label(p)]),
            },
            Case {
                series: vec![(selector, "0+60x60".into())],
                eval_time: "45m",
                fires_with: None,
            },
        ],
    }
}

fn dead_letters_arriving(p: &Pipeline) -> Alert {
    let series = format!(
        "{}{{pipeline=\"{}\",role=\"dead_letter\",stream=\"{}\"}}",
        STREAM_LAST_SEQUENCE.name,
        p.name,
        p.stream_of("dead_letter")
    );
    Alert {
        name: "IotctlDeadLettersArriving",
        severity: "warning",
        expr: format!("sum by (pipeline) (delta({}{{pipeline=\"{}\",role=\"dead_letter\"}}[30m])) > 0", STREAM_LAST_SEQUENCE.name, p.name),
        for_: "5m",
        summary: format!("{}: dead letters are arriving", p.name),
        description: "Events were dead-lettered in the last 30 minutes. Below the drop-rate SLO this is a warning: find the reason before it grows.".into(),
        meaning: "The dead-letter stream grew. Each dead letter carries its reason (`iotctl dlq stats` groups them); a new reason after a firmware rollout is the usual cause.",
        diagnose: vec![p.command("dlq stats --since 30m")],
        repair: vec![p.command("dlq show <sequence>"), p.command("dlq redrive --reason '<reason>' --dry-run")],
        cases: [
            Case { series: vec![(series.clone(), "0+1x60".into())], eval_time: "45m", fires_with: Some(vec![pipeline_label(p)]) },
            Case { series: vec![(series, "5x60".into())], eval_time: "45m", fires_with: None },
        ],
    }
}

fn replay_reach(p: &Pipeline) -> Alert {
    let stream = p.stream_of("telemetry");
    let reach = format!("{}{{pipeline=\"{}\",stream=\"{stream}\"}}", REPLAY_REACH.name, p.name);
    let first = format!(
        "{}{{pipeline=\"{}\",role=\"telemetry\",stream=\"{stream}\"}}",
        STREAM_FIRST_TIMESTAMP.name, p.name
    );
    Alert {
        name: "IotctlReplayReachBelowRetention",
        severity: "critical",
        expr: format!(
            "{}{{pipeline=\"{}\"}} < {} and on (pipeline, stream) delta({}{{pipeline=\"{}\",role=\"telemetry\"}}[1h]) > 0",
            REPLAY_REACH.name, p.name, p.retention_secs, STREAM_FIRST_TIMESTAMP.name, p.name
        ),
        for_: "30m",
        summary: format!("{}: replay cannot reach back {}", p.name, p.retention),
        description: format!(
            "The telemetry stream {stream} is discarding messages younger than slo.replay_retention ({}): a replay after a rollout could not cover the window.",
            p.retention
        ),
        meaning: "The telemetry stream holds less history than the replay SLO promises while its oldest message keeps moving: a size or count limit (max_bytes, max_msgs) discards before max_age does. A stream that is simply younger than the retention does not fire.",
        diagnose: vec![
            p.command("status"),
            p.command(&format!("replay --since {} --dry-run", p.retention)),
        ],
        repair: vec![
            "# raise nats.streams.telemetry.max_bytes / max_msgs in the spec, then:".into(),
            p.command("plan"),
            p.command("apply"),
        ],
        cases: [
            Case {
                series: vec![
                    (reach.clone(), format!("{}x120", p.retention_secs / 2)),
                    (first.clone(), "1000+60x120".into()),
                ],
                eval_time: "100m",
                fires_with: Some(vec![pipeline_label(p), ("stream", stream.clone())]),
            },
            Case {
                series: vec![
                    (reach, format!("{}x120", p.retention_secs / 2)),
                    (first, "1000x120".into()),
                ],
                eval_time: "100m",
                fires_with: None,
            },
        ],
    }
}

fn consumer_backlog(p: &Pipeline) -> Alert {
    let stream = p.stream_of("telemetry");
    let consumer = p.consumers().first().cloned().unwrap_or_default();
    let pending = format!(
        "{}{{pipeline=\"{}\",stream=\"{stream}\",consumer=\"{consumer}\"}}",
        CONSUMER_PENDING.name, p.name
    );
    let seq = format!(
        "{}{{pipeline=\"{}\",role=\"telemetry\",stream=\"{stream}\"}}",
        STREAM_LAST_SEQUENCE.name, p.name
    );
    Alert {
        name: "IotctlConsumerBacklog",
        severity: "warning",
        expr: format!("{CONSUMER_BACKLOG}{{pipeline=\"{}\"}} > {BACKLOG_SECS}", p.name),
        for_: "10m",
        summary: format!("{}: RisingWave's consumer is behind", p.name),
        description: format!("A RisingWave consumer has more than {BACKLOG_SECS} s of traffic waiting: aggregates and alerts lag behind."),
        meaning: "RisingWave reads each NATS stream through a durable consumer. Its pending count divided by the stream's arrival rate is how far behind it is. A backlog delays every alert; a consumer with pending messages and no arrivals is stuck.",
        diagnose: vec![p.command("status"), p.command("reconcile --date \"$(date -u -d yesterday +%F)\"")],
        repair: vec!["# look at RisingWave's source throughput and barrier latency; scale the compute nodes, or drop a heavy view".into()],
        cases: [
            Case {
                series: vec![(pending.clone(), "6000x60".into()), (seq.clone(), "0+600x60".into())],
                eval_time: "40m",
                fires_with: Some(vec![pipeline_label(p), ("stream", stream.clone()), ("consumer", consumer.clone())]),
            },
            Case { series: vec![(pending, "100x60".into()), (seq, "0+600x60".into())], eval_time: "40m", fires_with: None },
        ],
    }
}

fn status_stale(p: &Pipeline) -> Alert {
    let selector = format!("{}{{pipeline=\"{}\"}}", STATUS_TIMESTAMP.name, p.name);
    Alert {
        name: "IotctlStatusMissing",
        severity: "warning",
        expr: format!("time() - max by (pipeline) ({selector}) > {STATUS_STALE_SECS} or absent({selector})"),
        for_: "5m",
        summary: format!("{}: no recent status export", p.name),
        description: format!(
            "No `iotctl status --format openmetrics` newer than {} minutes: stream, consumer and dead-letter alerts are blind.",
            STATUS_STALE_SECS / 60
        ),
        meaning: "Every stream, consumer and dead-letter alert reads the gauges `iotctl status --format openmetrics` writes. If the export stops, those alerts can neither fire nor clear. The usual cause is NATS being unreachable from where the export runs (status exits 3), or the cron job being gone.",
        diagnose: vec![p.command("status --format openmetrics")],
        repair: vec![
            "# restore the export, e.g. every minute:".into(),
            format!(
                "{} > /var/lib/node_exporter/textfile/iotctl_status_{}.prom",
                p.command("status --format openmetrics"),
                p.name
            ),
        ],
        cases: [
            Case {
                series: vec![(selector.clone(), "0x60".into())],
                eval_time: "30m",
                fires_with: Some(vec![pipeline_label(p)]),
            },
            Case {
                series: vec![(selector, "0+60x60".into())],
                eval_time: "30m",
                fires_with: None,
            },
        ],
    }
}

fn replay_failed(p: &Pipeline) -> Alert {
    let series = |state: &str| {
        format!(
            "{}{{pipeline=\"{}\",id=\"r1\",state=\"{state}\"}}",
            REPLAY_LAST_RUN_STATE.name, p.name
        )
    };
    Alert {
        name: "IotctlReplayFailed",
        severity: "warning",
        expr: format!(
            "{}{{pipeline=\"{}\",state=\"failed\"}} == 1",
            REPLAY_LAST_RUN_STATE.name, p.name
        ),
        for_: "0m",
        summary: format!("{}: the last replay failed", p.name),
        description:
            "The most recent replay stopped with an error. What it republished is deduplicated; resume it to finish."
                .into(),
        meaning: "A replay records its progress in the replay ledger and stops with an error when NATS or the warehouse keeps failing. Everything up to its checkpoint is done and deduplicated; resuming continues from there.",
        diagnose: vec![p.command("replay list")],
        repair: vec![p.command("replay show <id>"), p.command("replay --resume <id>")],
        cases: [
            Case {
                series: vec![(series("failed"), "1x10".into())],
                eval_time: "5m",
                fires_with: Some(vec![pipeline_label(p), ("id", "r1".into()), ("state", "failed".into())]),
            },
            Case {
                series: vec![(series("completed"), "1x10".into())],
                eval_time: "5m",
                fires_with: None,
            },
        ],
    }
}

fn spec_drift(p: &Pipeline) -> Alert {
    let series = format!("{}{{pipeline=\"{}\"}}", SPEC_IN_SYNC.name, p.name);
    Alert {
        name: "IotctlSpecDrift",
        severity: "warning",
        expr: format!("{series} == 0"),
        for_: "30m",
        summary: format!("{}: the systems drifted from the spec", p.name),
        description: "NATS streams, RisingWave objects or the warehouse no longer match the pipeline spec.".into(),
        meaning: "Someone changed a stream, a view or a table by hand, or a spec change was merged and not applied. `iotctl plan` lists each difference; destructive ones need `--allow-destructive`.",
        diagnose: vec![p.command("plan")],
        repair: vec![p.command("apply")],
        cases: [
            Case {
                series: vec![(series.clone(), "0x60".into())],
                eval_time: "45m",
                fires_with: Some(vec![pipeline_label(p)]),
            },
            Case {
                series: vec![(series, "1x60".into())],
                eval_time: "45m",
                fires_with: None,
            },
        ],
    }
}
