//! End-to-end checks against a real RisingWave, when one is configured.
//!
//! No registry ships RisingWave for these machines, so these tests are ignored by default: the
//! runner's summary counts them as ignored, never as passed. `scripts/test.sh` runs them (with
//! `--ignored`) when IOTCTL_TEST_RISINGWAVE_URL points at a RisingWave (psql-compatible URL);
//! run that way without the URL, they fail. There is no mock RisingWave.

use std::process::Command;

use crate::common::render_example;

const NEEDS_RISINGWAVE: &str = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh";

/// The RisingWave under test; a test that runs without one fails instead of passing.
fn risingwave_url() -> String {
    std::env::var("IOTCTL_TEST_RISINGWAVE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("{NEEDS_RISINGWAVE}"))
}

/// The factory pipeline's views in a throwaway schema over plain tables of the shapes the
/// connector tables have (no NATS needed): the ingestion table's raw bytes and generated
/// `received_at`, with `nats_subject` as an ordinary column that INSERT fills.
fn views_over_plain_tables(schema: &str) -> String {
    let (_, rendering) = render_example("factory");
    let replay = rendering
        .risingwave
        .iter()
        .find(|o| o.name == "telemetry_replay")
        .unwrap();
    let replay_columns: String = replay
        .ddl
        .lines()
        .skip_while(|l| !l.starts_with("CREATE TABLE"))
        .skip(1)
        .take_while(|l| !l.starts_with(')'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut script = format!(
        "CREATE SCHEMA {schema};\nCREATE TABLE {schema}.telemetry (payload BYTEA, nats_subject VARCHAR, received_at TIMESTAMPTZ AS proctime()) APPEND ONLY;\nCREATE TABLE {schema}.telemetry_replay (\n{replay_columns},\n    nats_subject VARCHAR\n) APPEND ONLY;\n"
    );
    for object in rendering
        .risingwave
        .iter()
        .filter(|o| o.kind == iotctl::render::risingwave::RwKind::MaterializedView)
    {
        script.push_str(&object.ddl.replace("factory.", &format!("{schema}.")));
        script.push('\n');
    }
    script
}

fn psql(url: &str, script: &str) -> String {
    let output = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-F", "|"])
        .arg("-c")
        .arg(script)
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "RisingWave refused the script:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
// Ignored, not skipped by an early return: no RisingWave can run on these machines, and a test
// that returns early would be counted as passed. scripts/test.sh runs it when one is configured.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn risingwave_accepts_the_rendered_views_and_sinks() {
    let url = risingwave_url();
    let schema = format!("iotctl_e2e_{}", std::process::id());
    let mut script = views_over_plain_tables(&schema);
    // reconcile's stream-leg query runs against the daily view.
    let (loaded, _) = render_example("factory");
    let day = iotctl::time::Day::parse("2026-01-01").unwrap();
    let query = iotctl::reconcile::queries::stream_sql(&loaded.spec, day, day.next(), None);
    script.push_str(&query.replace("factory.", &format!("{schema}.")));
    script.push_str(";\n");
    script.push_str(&format!("DROP SCHEMA {schema} CASCADE;\n"));
    psql(&url, &script);
}

/// Point 4: the bound the manifest names for each view is in the plan RisingWave makes of it:
/// a temporal filter becomes a dynamic filter (src/frontend/src/optimizer/rule/stream/
/// filter_with_now_to_join_rule.rs), and the whole-day views step by `date_trunc`.
#[test]
// Ignored for the same reason as the test above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn risingwave_plans_every_state_bound_the_manifest_names() {
    use iotctl::render::risingwave::{RwKind, StateBound};
    let url = risingwave_url();
    let schema = format!("iotctl_e2e_bounds_{}", std::process::id());
    psql(&url, &views_over_plain_tables(&schema));
    let (_, rendering) = render_example("factory");
    let mut checked = 0;
    for object in rendering
        .risingwave
        .iter()
        .filter(|o| o.kind == RwKind::MaterializedView)
    {
        let StateBound::Bounded(why) = object.state else {
            panic!("{}: not bounded", object.name);
        };
        if !why.contains("temporal filter") {
            continue;
        }
        let create = format!("CREATE MATERIALIZED VIEW IF NOT EXISTS factory.{} AS", object.name);
        let body = object
            .ddl
            .split_once(&create)
            .expect("one CREATE")
            .1
            .trim_end()
            .trim_end_matches(';');
        let plan = psql(
            &url,
            &format!(
                "EXPLAIN CREATE MATERIALIZED VIEW {schema}.{}_probe AS {}",
                object.name,
                body.replace("factory.", &format!("{schema}."))
            ),
        );
        assert!(plan.contains("DynamicFilter"), "{}: {why}\n{plan}", object.name);
        if why.contains("whole UTC days") {
            assert!(
                plan.contains("DateTrunc"),
                "{}: the day-step bound\n{plan}",
                object.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} views carry a temporal filter");
    psql(&url, &format!("DROP SCHEMA {schema} CASCADE;"));
}

/// Every hostile message inserted as raw bytes ends in exactly one place, as iotctl's own check
/// classifies it (tests/suite/contracts.rs holds iotctl to the same cases): valid (late or not), or
/// rejected with its reason; the accounting view adds up to the rows read.
#[test]
// Ignored for the same reason as the test above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn risingwave_classifies_every_hostile_message_like_iotctl() {
    let url = risingwave_url();
    let schema = format!("iotctl_e2e_classify_{}", std::process::id());
    let cases = crate::common::hostile_cases(time::OffsetDateTime::now_utc());
    let mut script = views_over_plain_tables(&schema);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let rows: Vec<String> = cases
        .iter()
        .map(|c| format!("(decode('{}', 'hex'), '{}')", hex(&c.payload), c.subject))
        .collect();
    script.push_str(&format!(
        "INSERT INTO {schema}.telemetry (payload, nats_subject) VALUES {};\nFLUSH;\n",
        rows.join(", ")
    ));
    script.push_str(&format!(
        "SELECT 'valid', event_id, late FROM {schema}.valid_telemetry;\n\
         SELECT 'rejected', encode(convert_to(coalesce(payload, ''), 'UTF8'), 'hex'), payload_base64, reject_reason FROM {schema}.rejected_telemetry;\n\
         SELECT 'total', sum(events) FROM {schema}.telemetry_accounting;\n\
         SELECT 'live', count(*) FROM {schema}.live_telemetry WHERE event_id = 'h-ok';\n\
         SELECT 'counted', count(*) FROM {schema}.counted_telemetry WHERE event_id = 'h-ok';\n"
    ));
    let output = psql(&url, &script);
    psql(&url, &format!("DROP SCHEMA {schema} CASCADE;"));
    println!("{output}");
    let lines: Vec<Vec<&str>> = output.lines().map(|l| l.split('|').collect()).collect();
    for case in &cases {
        match case.expected {
            crate::common::Expected::Valid { late } => {
                let id = std::str::from_utf8(&case.payload).unwrap().split('"').nth(3).unwrap();
                let late = if late { "t" } else { "f" };
                assert!(
                    lines.iter().any(|l| l[..] == ["valid", id, late]),
                    "{}: not valid with late={late}:\n{output}",
                    case.name
                );
            }
            crate::common::Expected::Rejected(reason) => {
                // A UTF-8 payload comes back as its text, any other as base64.
                let utf8 = std::str::from_utf8(&case.payload).is_ok();
                let found = lines.iter().find(|l| {
                    l[0] == "rejected"
                        && if utf8 {
                            l[1] == hex(&case.payload) && l[2].is_empty()
                        } else {
                            !l[2].is_empty()
                        }
                });
                let found = found.unwrap_or_else(|| panic!("{}: not rejected:\n{output}", case.name));
                assert!(found[3].contains(reason), "{}: reason `{}`", case.name, found[3]);
            }
        }
    }
    assert!(
        lines.iter().any(|l| l[..] == ["total", &cases.len().to_string()]),
        "the accounting must add up to {} rows:\n{output}",
        cases.len()
    );
    // Delivered twice (the classification has both rows), counted once.
    assert!(
        lines.iter().any(|l| l[..] == ["live", "1"]),
        "h-ok twice in the live view:\n{output}"
    );
    assert!(
        lines.iter().any(|l| l[..] == ["counted", "1"]),
        "h-ok counted twice:\n{output}"
    );
}

/// The full apply path against a real RisingWave (which must reach the test's nats-server on
/// loopback): everything is created, then a re-plan is empty.
#[test]
// Ignored for the same reason as the test above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn apply_to_risingwave_converges() {
    let url = risingwave_url();
    let nats = crate::harness::nats::TestNats::start();
    let spec = crate::common::root().join("examples/factory.yaml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_iotctl"))
            .args(args)
            .env("IOTCTL_WAREHOUSE_PASSWORD", "unused-by-this-test")
            .output()
            .unwrap()
    };
    let spec = spec.to_str().unwrap();
    let applied = run(&[
        "apply",
        "-f",
        spec,
        "--nats-url",
        &nats.url,
        "--risingwave-url",
        &url,
        "--only",
        "nats,risingwave",
        "--yes",
    ]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let plan = run(&[
        "plan",
        "-f",
        spec,
        "--nats-url",
        &nats.url,
        "--risingwave-url",
        &url,
        "--only",
        "risingwave",
        "--check",
    ]);
    assert!(
        plan.status.success(),
        "RisingWave did not converge:\n{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

/// The factory pipeline applied to the RisingWave under test, reading this test's nats-server,
/// in its own schema and with its own consumer, without the warehouse.
struct LivePipeline {
    url: String,
    nats: crate::harness::nats::TestNats,
    dir: tempfile::TempDir,
    schema: String,
}

impl LivePipeline {
    fn start() -> LivePipeline {
        let url = risingwave_url();
        let nats = crate::harness::nats::TestNats::start();
        let pipeline = LivePipeline {
            url,
            nats,
            dir: tempfile::tempdir().unwrap(),
            schema: format!("iotctl_e2e_live_{}", std::process::id()),
        };
        pipeline.write_spec("");
        pipeline
    }

    fn spec(&self) -> std::path::PathBuf {
        self.dir.path().join("factory.yaml")
    }

    /// The factory spec pointed at the test's server and schema; `ingestion_options` is YAML
    /// for `risingwave.ingestion.options` (a change there recreates the ingestion table).
    fn write_spec(&self, ingestion_options: &str) {
        let text = std::fs::read_to_string(crate::common::example_path("factory")).unwrap();
        let text = text
            .replace(
                "servers: [nats://127.0.0.1:4222]",
                &format!("servers: [{}]", self.nats.url),
            )
            .replace("  schema: factory\n", &format!("  schema: {}\n", self.schema))
            .replace(
                "durable_consumer: factory_risingwave",
                &format!("durable_consumer: {}", self.schema),
            )
            .replace(
                "  warehouse_sink:\n    enabled: true",
                "  warehouse_sink:\n    enabled: false",
            )
            .replace(
                "    allowed_lateness: 5s\n",
                &format!("    allowed_lateness: 5s\n{ingestion_options}"),
            );
        std::fs::write(self.spec(), text).unwrap();
    }

    fn apply(&self) {
        let output = Command::new(env!("CARGO_BIN_EXE_iotctl"))
            .args([
                "apply",
                "-f",
                self.spec().to_str().unwrap(),
                "--nats-url",
                &self.nats.url,
            ])
            .args([
                "--risingwave-url",
                &self.url,
                "--only",
                "nats,risingwave",
                "--yes",
                "--allow-destructive",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    fn query(&self, sql: &str) -> String {
        psql(&self.url, &format!("FLUSH; {sql}")).trim().to_string()
    }
}

impl Drop for LivePipeline {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.url)
            .arg("-c")
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .output();
    }
}

fn reading(id: &str, value: f64, ts: time::OffsetDateTime) -> String {
    let ts = crate::common::rfc3339(ts);
    format!(
        r#"{{"event_id":"{id}","device_id":"p-1","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":{value},"firmware_version":"1.2.0"}}"#
    )
}

/// Points 2, 3 and 5 of the hot path against a real RisingWave reading a real nats-server:
/// hostile messages are dead-lettered with their reasons; a critical breach reaches the pager
/// subject (its latency printed); a rebuild of the alert views sends no old alert again; a
/// recreated ingestion table refills from the stream, and its history pages no one.
#[test]
// Ignored for the same reason as the tests above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn alerts_are_sent_once_and_a_recreated_table_refills() {
    use futures::StreamExt;
    let live = LivePipeline::start();
    live.apply();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async_nats::connect(&live.nats.url)).unwrap();
    let mut pager = runtime.block_on(client.subscribe("alerts.iot.pager")).unwrap();
    let mut dead = runtime.block_on(client.subscribe("dlq.iot.risingwave")).unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let publish = |subject: &str, payload: Vec<u8>| {
        runtime
            .block_on(async { js.publish(subject.to_string(), payload.into()).await.unwrap().await })
            .unwrap();
    };
    let subject = "iot.berlin.press.oil_temperature";
    let now = time::OffsetDateTime::now_utc;
    for i in 0..5 {
        publish(subject, reading(&format!("ok-{i}"), 40.0, now()).into_bytes());
    }
    let hostile = crate::common::hostile_cases(now());
    let rejected = hostile
        .iter()
        .filter(|c| matches!(c.expected, crate::common::Expected::Rejected(_)))
        .count();
    for case in &hostile {
        publish(&case.subject, case.payload.clone());
    }
    let sent = std::time::Instant::now();
    publish(subject, reading("breach-1", 99.0, now()).into_bytes());
    let next = |subscriber: &mut async_nats::Subscriber, within: std::time::Duration| {
        runtime.block_on(async { tokio::time::timeout(within, subscriber.next()).await.ok().flatten() })
    };
    let alert = next(&mut pager, std::time::Duration::from_secs(30)).expect("the breach pages");
    println!("publish → pager alert: {:?}", sent.elapsed());
    assert!(String::from_utf8_lossy(&alert.payload).contains("breach-1"));
    let mut reasons = Vec::new();
    while let Some(message) = next(&mut dead, std::time::Duration::from_secs(5)) {
        reasons.push(String::from_utf8_lossy(&message.payload).into_owned());
    }
    assert_eq!(reasons.len(), rejected, "every reject dead-lettered once: {reasons:#?}");
    dlq_stats_reads_risingwave_rows(&live, rejected);
    assert!(
        next(&mut pager, std::time::Duration::from_secs(3)).is_none(),
        "one breach, one page"
    );

    // A rebuild of everything downstream of the table pages no one again.
    std::thread::sleep(std::time::Duration::from_secs(6));
    live.write_spec("    options:\n      consumer.max_ack_pending: '500000'\n");
    live.apply();
    assert!(
        next(&mut pager, std::time::Duration::from_secs(10)).is_none(),
        "a recreated pipeline sent an old alert again"
    );
    assert!(
        next(&mut dead, std::time::Duration::from_secs(2)).is_none(),
        "old dead letters sent again"
    );
    assert_refilled(&live, hostile.len(), rejected);
}

/// `dlq stats` reads RisingWave's dead-letter rows: every one, none unreadable.
fn dlq_stats_reads_risingwave_rows(live: &LivePipeline, rejected: usize) {
    let stats = Command::new(env!("CARGO_BIN_EXE_iotctl"))
        .args([
            "dlq",
            "stats",
            "-f",
            live.spec().to_str().unwrap(),
            "--nats-url",
            &live.nats.url,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        stats["stats"]["by_writer"]["risingwave"].as_u64(),
        Some(rejected as u64),
        "{stats:#}"
    );
    assert_eq!(stats["stats"]["unreadable"].as_u64(), Some(0), "{stats:#}");
}

/// The recreated table read everything the stream holds: all valid events, the old breach
/// marked late.
fn assert_refilled(live: &LivePipeline, hostile: usize, rejected: usize) {
    let schema = &live.schema;
    assert_eq!(
        live.query(&format!("SELECT count(*) FROM {schema}.valid_telemetry")),
        (5 + hostile - rejected + 1).to_string()
    );
    assert_eq!(
        live.query(&format!(
            "SELECT late FROM {schema}.valid_telemetry WHERE event_id = 'breach-1'"
        )),
        "t"
    );
    assert_eq!(
        live.query(&format!("SELECT sum(events) FROM {schema}.telemetry_accounting")),
        (5 + hostile + 1).to_string()
    );
}

/// `iotctl probe` through the real alerting path: every canary pages (RisingWave's threshold
/// view, the alert views and the NATS alert sinks), its latency is measured, and no canary
/// counts: the counted view, its aggregates and the daily statistics hold none, while the
/// accounting names them.
#[test]
// Ignored for the same reason as the tests above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn probe_canaries_page_through_risingwave_and_count_nowhere() {
    let live = LivePipeline::start();
    live.apply();
    let output = Command::new(env!("CARGO_BIN_EXE_iotctl"))
        .args([
            "probe",
            "-f",
            live.spec().to_str().unwrap(),
            "--nats-url",
            &live.nats.url,
        ])
        .args([
            "--count",
            "5",
            "--interval",
            "500ms",
            "--timeout",
            "30s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    // Exit 1 is allowed: the latency SLO may not hold on a test cluster; the loss must be 0.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("probe through RisingWave: {:#}", report["summary"]);
    assert_eq!(report["summary"]["canaries"], 10);
    assert_eq!(report["summary"]["lost"], 0, "{report:#}");
    let schema = &live.schema;
    let canaries = |view: &str| {
        live.query(&format!(
            "SELECT count(*) FROM {schema}.{view} WHERE device_id LIKE 'iotctl-canary-%'"
        ))
    };
    assert_eq!(canaries("live_telemetry"), "10");
    for view in [
        "counted_telemetry",
        "agg_press_oil_temperature_1m",
        "daily_device_metrics",
    ] {
        assert_eq!(canaries(view), "0", "{view}");
    }
    assert_eq!(
        live.query(&format!(
            "SELECT sum(events) FROM {schema}.telemetry_accounting WHERE outcome = 'canary'"
        )),
        "10"
    );
}
