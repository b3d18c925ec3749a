//! `iotctl replay` against a real nats-server: exact ranges, idempotence, dead letters,
//! kill -9 and resume, and a server restart mid-replay. The replay stream is read back with a
//! plain async-nats consumer, independent of iotctl's reader.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::kill_after;

fn iotctl(args: &[&str]) -> Output {
    hermetic(args).output().expect("iotctl runs")
}

fn command(args: &[&str]) -> std::process::Command {
    hermetic(args)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn apply(spec: &Path, nats: &TestNats) {
    let output = iotctl(&[
        "apply",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--only",
        "nats",
        "--yes",
        "--allow-destructive",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Valid sample events from `iotctl sample` as (subject, payload), plus `malformed` broken ones.
pub(super) fn events(devices: &str, interval: &str) -> Vec<(String, String)> {
    let output = iotctl(&[
        "sample",
        "-f",
        "examples/factory.yaml",
        "--days",
        "1",
        "--devices",
        devices,
        "--interval",
        interval,
        "--encoding",
        "ndjson",
    ]);
    assert!(output.status.success());
    stdout(&output)
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                format!(
                    "iot.{}.{}.{}",
                    value["site"].as_str().unwrap(),
                    value["device_type"].as_str().unwrap(),
                    value["metric"].as_str().unwrap()
                ),
                line.to_string(),
            )
        })
        .collect()
}

pub(super) fn malformed() -> Vec<(String, String)> {
    vec![
        ("iot.berlin.press.oil_temperature".into(), "{not json".into()),
        ("iot.berlin.press.oil_temperature".into(), r#"{"event_id":"x1","device_id":"d","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"2026-01-01T00:00:00Z","value":999,"firmware_version":"1"}"#.into()),
        ("iot.berlin.press.oil_temperature".into(), r#"{"event_id":"x2","device_id":"d","site":"lyon","device_type":"press","metric":"oil_temperature","ts":"2026-01-01T00:00:00Z","value":20,"firmware_version":"1"}"#.into()),
        ("iot.lyon.press.oil_temperature".into(), r#"{"event_id":"x3"}"#.into()),
    ]
}

pub(super) fn publish(nats: &TestNats, events: &[(String, String)]) {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
        let mut acks = std::collections::VecDeque::new();
        for (subject, payload) in events {
            acks.push_back(js.publish(subject.clone(), payload.clone().into()).await.unwrap());
            if acks.len() > 1000 {
                acks.pop_front().unwrap().await.unwrap();
            }
        }
        for ack in acks {
            ack.await.unwrap();
        }
    });
}

/// Everything in `stream`: (subject, payload, headers as "k=v" list).
pub(super) fn read_stream(nats: &TestNats, stream: &str) -> Vec<(String, String, Vec<String>)> {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
        let mut source = js.get_stream(stream).await.unwrap();
        let count = source.info().await.unwrap().state.messages;
        if count == 0 {
            return Vec::new();
        }
        let consumer = source
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::new();
        while (out.len() as u64) < count {
            let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let headers = message
                .headers
                .as_ref()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| format!("{k}={}", v.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")))
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                message.subject.to_string(),
                String::from_utf8_lossy(&message.payload).into_owned(),
                headers,
            ));
        }
        out
    })
}

/// Order-independent checksum of (subject, payload) pairs.
fn checksum<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> (usize, String) {
    let mut lines: Vec<String> = items.map(|(s, p)| format!("{s}\n{p}")).collect();
    lines.sort();
    let digest = Sha256::digest(lines.join("\n").as_bytes());
    (lines.len(), digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// (identity, value, sequence) of each event, sorted by identity: the warehouse rows a load of
/// `events` must leave.
pub(super) fn expected_rows(events: &[(String, String)]) -> Vec<(String, f64, i64)> {
    let mut rows: Vec<(String, f64, i64)> = events
        .iter()
        .map(|(_, payload)| {
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            (
                v["event_id"].as_str().unwrap().to_string(),
                v["value"].as_f64().unwrap(),
                v["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// A published event: (subject, payload).
pub(super) type Event = (String, String);

/// A range the warehouse partly holds, as the stream sees it: the first 100 events again
/// under their identities, then 50 of them under new ones. Returns (what to publish, the new).
pub(super) fn republished(valid: &[Event]) -> (Vec<Event>, Vec<Event>) {
    let fresh: Vec<(String, String)> = valid
        .iter()
        .take(50)
        .map(|(subject, payload)| {
            let mut v: serde_json::Value = serde_json::from_str(payload).unwrap();
            v["event_id"] = format!("{}-resent", v["event_id"].as_str().unwrap()).into();
            (subject.clone(), v.to_string())
        })
        .collect();
    let mut again: Vec<(String, String)> = valid.iter().take(100).cloned().collect();
    again.extend(fresh.iter().cloned());
    (again, fresh)
}

fn expected_replay(events: &[(String, String)], site: Option<&str>) -> (usize, String) {
    checksum(
        events
            .iter()
            .filter(|(s, _)| site.is_none_or(|site| s.starts_with(&format!("iot.{site}."))))
            .map(|(s, p)| (s.as_str(), p.as_str())),
    )
}

fn replayed(nats: &TestNats) -> (usize, String) {
    let items = read_stream(nats, "FACTORY_REPLAY");
    let stripped: Vec<(String, String)> = items
        .into_iter()
        .map(|(s, p, _)| (s.trim_start_matches("replay.").to_string(), p))
        .collect();
    checksum(stripped.iter().map(|(s, p)| (s.as_str(), p.as_str())))
}

fn replay(nats: &TestNats, args: &[&str]) -> Output {
    let mut all = vec!["replay", "-f", "examples/factory.yaml", "--nats-url", &nats.url];
    all.extend_from_slice(args);
    iotctl(&all)
}

/// `iotctl replay list|show …`: the subcommand comes first.
fn ledger(nats: &TestNats, args: &[&str]) -> Output {
    let mut all = vec![
        "replay",
        args[0],
        "-f",
        "examples/factory.yaml",
        "--nats-url",
        &nats.url,
    ];
    all.extend_from_slice(&args[1..]);
    iotctl(&all)
}

#[test]
fn replay_of_a_sub_range_is_exact_idempotent_and_dead_letters_malformed_events() {
    let nats = TestNats::start();
    apply(&root().join("examples/factory.yaml"), &nats);
    let first = events("1", "3600");
    let bad = malformed();
    publish(&nats, &first);
    publish(&nats, &bad);
    std::thread::sleep(Duration::from_millis(1100));
    let until = crate::common::rfc3339(time::OffsetDateTime::now_utc());
    std::thread::sleep(Duration::from_millis(1100));
    publish(&nats, &events("2", "7200")); // after --until: must not be replayed

    let dry = replay(
        &nats,
        &[
            "--since",
            "1h",
            "--until",
            &until,
            "--site",
            "berlin",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert_eq!(
        read_stream(&nats, "FACTORY_REPLAY").len(),
        0,
        "a dry run writes nothing"
    );

    let run = replay(
        &nats,
        &[
            "--since", "1h", "--until", &until, "--site", "berlin", "--format", "json",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    let berlin_valid: Vec<(String, String)> = first
        .iter()
        .filter(|(s, _)| s.starts_with("iot.berlin."))
        .cloned()
        .collect();
    assert_eq!(
        replayed(&nats),
        expected_replay(&berlin_valid, None),
        "the replay stream must hold exactly the valid berlin events before --until"
    );

    three_berlin_dead_letters_with_reasons(&nats);

    // Again: nothing new is stored.
    let again = replay(
        &nats,
        &[
            "--since", "1h", "--until", &until, "--site", "berlin", "--format", "json",
        ],
    );
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(replayed(&nats), expected_replay(&berlin_valid, None));
    assert_eq!(read_stream(&nats, "FACTORY_DLQ").len(), 3);
    let summary: serde_json::Value = serde_json::from_str(stdout(&again).lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["replay"]["counts"]["duplicates"].as_u64(),
        Some(berlin_valid.len() as u64 + 3)
    );
    // Its completion time is in the ledger, for the replay SLO.
    let run_seconds = summary["replay"]["run_seconds"].as_f64().unwrap();
    assert!(run_seconds > 0.0 && run_seconds < 60.0, "{run_seconds}");

    // The ledger knows both runs.
    let list = ledger(&nats, &["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(list["replays"].as_array().unwrap().len(), 2);
    assert_eq!(list["replays"][0]["status"], "completed");
    let id = list["replays"][0]["id"].as_str().unwrap();
    let show = ledger(&nats, &["show", id]);
    assert!(stdout(&show).contains("published to replay"), "{}", stdout(&show));
}

/// Dead letters: the three malformed berlin events, each with its reason.
fn three_berlin_dead_letters_with_reasons(nats: &TestNats) {
    let dead = read_stream(nats, "FACTORY_DLQ");
    assert_eq!(dead.len(), 3, "{dead:#?}");
    let reasons: Vec<String> = dead
        .iter()
        .map(|(_, _, h)| {
            h.iter()
                .find(|x| x.starts_with("Iotctl-Reason="))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(reasons[0].contains("not a JSON object"), "{reasons:?}");
    assert!(reasons[1].contains("/value"), "{reasons:?}");
    assert!(reasons[2].contains("does not match subject"), "{reasons:?}");
    for (subject, _, headers) in &dead {
        assert_eq!(subject, "dlq.iot.berlin.press.oil_temperature");
        assert!(
            headers
                .iter()
                .any(|h| h == "Iotctl-Original-Subject=iot.berlin.press.oil_temperature")
        );
        assert!(headers.iter().any(|h| h.starts_with("Iotctl-Original-Sequence=")));
    }
}

/// Recreates the replay stream (which also clears its dedupe memory) for a fresh trial.
fn reset_replay_stream(nats: &TestNats) {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
        let _ = js.delete_stream("FACTORY_REPLAY").await;
    });
    apply(&root().join("examples/factory.yaml"), nats);
}

pub(super) fn ledger_ids(nats: &TestNats) -> BTreeSet<String> {
    let list = ledger(nats, &["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    list["replays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn replay_killed_at_random_points_and_resumed_yields_exactly_the_range() {
    let nats = TestNats::start();
    apply(&root().join("examples/factory.yaml"), &nats);
    let all = events("12", "1200"); // 2 sites × 7 metrics × 12 devices × 72 = 12096 events
    publish(&nats, &all);
    let expected = expected_replay(&all, None);
    let mut seed: u64 = 0xfeed;
    let mut interrupted = 0;
    for trial in 0..20 {
        reset_replay_stream(&nats);
        let before = ledger_ids(&nats);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 400);
        let mut replay_command = command(&[
            "replay",
            "-f",
            "examples/factory.yaml",
            "--nats-url",
            &nats.url,
            "--since",
            "1h",
        ]);
        if kill_after(&mut replay_command, delay) {
            interrupted += 1;
        }
        let new: Vec<String> = ledger_ids(&nats).difference(&before).cloned().collect();
        let finish = match new.first() {
            Some(id) => replay(&nats, &["--resume", id]),
            None => replay(&nats, &["--since", "1h"]), // killed before its ledger entry existed
        };
        assert_eq!(finish.status.code(), Some(0), "trial {trial}: {}", stderr(&finish));
        assert_eq!(
            replayed(&nats),
            expected,
            "trial {trial} (killed after {delay:?}): replay stream differs"
        );
    }
    assert!(
        interrupted >= 10,
        "only {interrupted} of 20 replays were killed while running"
    );
}

#[test]
fn a_server_restart_mid_replay_does_not_stop_it() {
    let mut nats = TestNats::start();
    apply(&root().join("examples/factory.yaml"), &nats);
    let all = events("6", "1200");
    publish(&nats, &all);
    // Slow enough that the restart lands in the middle.
    let child = command(&[
        "replay",
        "-f",
        "examples/factory.yaml",
        "--nats-url",
        &nats.url,
        "--since",
        "1h",
        "--rate",
        "3000",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    nats.restart();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(replayed(&nats), expected_replay(&all, None));
}

#[test]
fn a_since_older_than_retention_is_refused_unless_partial() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.yaml");
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    std::fs::write(
        &spec,
        text.replace(
            "      max_bytes: 10737418240\n",
            "      max_bytes: 10737418240\n      max_msgs: 100\n",
        ),
    )
    .unwrap();
    apply(&spec, &nats);
    publish(&nats, &events("1", "3600")[..150]);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "replay",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            &nats.url,
            "--since",
            "1h",
        ];
        a.extend_from_slice(extra);
        iotctl(&a)
    };
    let refused = args(&[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("older than the oldest message the stream retains"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(read_stream(&nats, "FACTORY_REPLAY").len(), 0);
    let partial = args(&["--allow-partial"]);
    assert_eq!(partial.status.code(), Some(0), "{}", stderr(&partial));
    assert_eq!(read_stream(&nats, "FACTORY_REPLAY").len(), 100);
}

#[test]
fn replay_to_the_warehouse_is_exact_twice_and_restates_the_daily_models() {
    use crate::harness::postgres::TestPostgres;
    use crate::harness::tools::venv_bin;
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let url = pg.url();
    let env = pg.sqlmesh_env("IOTCTL_WAREHOUSE_PASSWORD");
    let bin = venv_bin("sqlmesh");
    let with_env = |args: &[&str]| {
        let mut c = command(args);
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c.output().unwrap()
    };
    let sqlmesh_args = [
        "--sqlmesh-dir",
        project.to_str().unwrap(),
        "--sqlmesh-bin",
        bin.to_str().unwrap(),
        "--sqlmesh-gateway",
        "postgres",
    ];
    let mut apply_args = vec![
        "apply",
        "-f",
        "examples/factory.yaml",
        "--nats-url",
        &nats.url,
        "--warehouse-url",
        &url,
        "--yes",
    ];
    apply_args.extend_from_slice(&sqlmesh_args);
    let applied = with_env(&apply_args);
    assert!(applied.status.success(), "{}", stderr(&applied));

    let valid = events("2", "1800");
    publish(&nats, &valid);
    publish(&nats, &malformed());
    let mut replay_args = vec![
        "replay",
        "-f",
        "examples/factory.yaml",
        "--nats-url",
        &nats.url,
        "--warehouse-url",
        &url,
        "--since",
        "1h",
        "--to",
        "warehouse",
        "--restate",
        "--format",
        "json",
    ];
    replay_args.extend_from_slice(&sqlmesh_args);
    loads_exactly_twice(&|| with_env(&replay_args), &pg, &valid);
    values_match_and_days_were_restated(&pg, &valid);

    // A range the table partly holds, with an identity twice in one batch: the direct COPY is
    // refused and the staged upsert loads exactly the missing rows, once each.
    pg.psql(&[
        "-c",
        "DELETE FROM iot_raw.telemetry WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry ORDER BY event_id LIMIT 10)",
    ]);
    let (again, fresh) = republished(&valid);
    publish(&nats, &again);
    let output = with_env(&replay_args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        rows(&pg),
        expected_rows(&[valid, fresh].concat()),
        "a partly loaded range with repeated identities"
    );
}

/// Two replays into the warehouse: each publishes every valid event, dead-letters the four
/// malformed ones, and leaves exactly the source's rows.
fn loads_exactly_twice(
    run: &dyn Fn() -> std::process::Output,
    pg: &crate::harness::postgres::TestPostgres,
    valid: &[(String, String)],
) {
    let expected = expected_rows(valid);
    for round in 0..2 {
        let output = run();
        assert_eq!(output.status.code(), Some(0), "round {round}: {}", stderr(&output));
        let summary: serde_json::Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
        assert_eq!(
            summary["replay"]["counts"]["published"].as_u64(),
            Some(valid.len() as u64),
            "round {round}"
        );
        assert_eq!(
            summary["replay"]["counts"]["dead_lettered"].as_u64(),
            Some(4),
            "round {round}"
        );
        assert_eq!(
            rows(pg),
            expected,
            "round {round}: warehouse rows differ from the source events"
        );
    }
}

/// Every warehouse row's identity, value and sequence, sorted: compared with the source events.
fn rows(pg: &crate::harness::postgres::TestPostgres) -> Vec<(String, f64, i64)> {
    let mut rows: Vec<(String, f64, i64)> = pg
        .psql(&["-F", "|", "-c", "SELECT event_id, value, seq FROM iot_raw.telemetry"])
        .lines()
        .map(|line| {
            let mut parts = line.split('|');
            let id = parts.next().unwrap().to_string();
            (
                id,
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// The loaded values sum to the source's, and `--restate` re-ran the daily models.
fn values_match_and_days_were_restated(pg: &crate::harness::postgres::TestPostgres, valid: &[(String, String)]) {
    // Values equal the source exactly (a second load changed nothing).
    let sum: f64 = pg
        .psql(&["-c", "SELECT sum(value) FROM iot_raw.telemetry"])
        .trim()
        .parse()
        .unwrap();
    let expected_sum: f64 = valid
        .iter()
        .map(|(_, p)| {
            serde_json::from_str::<serde_json::Value>(p).unwrap()["value"]
                .as_f64()
                .unwrap()
        })
        .sum();
    assert!(
        (sum - expected_sum).abs() < 1e-6 * expected_sum.abs().max(1.0),
        "{sum} vs {expected_sum}"
    );
    // --restate re-ran the daily models for the covered day.
    let batch: u64 = pg
        .psql(&[
            "-c",
            "SELECT COALESCE(SUM(sample_count), 0) FROM device_health.daily_device_metrics",
        ])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        batch,
        valid.len() as u64,
        "restated batch counts differ from the loaded events"
    );
}

/// A whole-stream replay reads `iot.>`: an event published on a subject of the wrong shape is
/// dead-lettered with its reason, not passed over.
#[test]
fn a_whole_stream_replay_dead_letters_events_on_malformed_subjects() {
    let nats = TestNats::start();
    apply(&root().join("examples/factory.yaml"), &nats);
    let valid = events("1", "7200");
    let (_, payload) = valid[0].clone();
    publish(&nats, &valid);
    publish(&nats, &[("iot.berlin.press".to_string(), payload)]);
    let run = replay(&nats, &["--since", "1h", "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    assert_eq!(read_stream(&nats, "FACTORY_REPLAY").len(), valid.len());
    let dead = read_stream(&nats, "FACTORY_DLQ");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let (subject, _, headers) = &dead[0];
    assert_eq!(subject, "dlq.iot.berlin.press");
    let reason = headers.iter().find(|h| h.starts_with("Iotctl-Reason=")).unwrap();
    assert!(
        reason.contains("is not {prefix}.{site}.{device_type}.{metric}"),
        "{reason}"
    );
}
