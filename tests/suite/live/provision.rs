//! `iotctl plan` / `apply` / `status` against a real nats-server. Results are read back through
//! the server's monitoring endpoint, independently of iotctl's own NATS code.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::kill_after;

fn iotctl(args: &[&str]) -> Output {
    hermetic(args).output().expect("iotctl runs")
}

fn command(args: &[&str]) -> std::process::Command {
    hermetic(args)
}

/// The factory example with `edit` applied, written to `dir/name.yaml`.
fn factory_variant(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn apply(spec: &Path, nats: &TestNats, extra: &[&str]) -> Output {
    let mut args = vec![
        "apply",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--only",
        "nats",
        "--yes",
    ];
    args.extend_from_slice(extra);
    iotctl(&args)
}

fn plan_check(spec: &Path, nats: &TestNats) -> Output {
    iotctl(&[
        "plan",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--only",
        "nats",
        "--check",
        "--format",
        "json",
    ])
}

const SECOND_NS: u64 = 1_000_000_000;

#[test]
fn apply_creates_every_stream_exactly_as_specified_and_reapply_writes_nothing() {
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    let first = apply(&spec, &nats, &[]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    let streams = nats.streams();
    let expected = [
        ("FACTORY_TELEMETRY", "iot.>", 7 * 86_400, 10_737_418_240_i64, -1_i64),
        ("FACTORY_REPLAY", "replay.iot.>", 2 * 86_400, -1, -1),
        ("FACTORY_DLQ", "dlq.iot.>", 14 * 86_400, -1, -1),
        ("FACTORY_ALERTS", "alerts.iot.>", 7 * 86_400, -1, 10_000_000),
    ];
    for (name, subject, max_age_secs, max_bytes, max_msgs) in expected {
        let config = &streams
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", streams.keys()))["config"];
        assert_eq!(config["subjects"], serde_json::json!([subject]), "{name}");
        assert_eq!(config["max_age"].as_u64(), Some(max_age_secs * SECOND_NS), "{name}");
        assert_eq!(config["max_bytes"].as_i64(), Some(max_bytes), "{name}");
        assert_eq!(config["max_msgs"].as_i64(), Some(max_msgs), "{name}");
        assert_eq!(config["storage"], "file", "{name}");
        assert_eq!(config["retention"], "limits", "{name}");
        assert_eq!(config["discard"], "old", "{name}");
        assert_eq!(config["num_replicas"], 1, "{name}");
        assert_eq!(config["duplicate_window"].as_u64(), Some(120 * SECOND_NS), "{name}");
        assert_eq!(config["compression"], "s2", "{name}");
        assert_eq!(config["metadata"]["iotctl.pipeline"], "factory", "{name}");
    }

    let second = apply(&spec, &nats, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(stderr(&second).contains("no changes"), "{}", stderr(&second));
    let after: Vec<_> = nats
        .streams()
        .values()
        .map(|s| (s["name"].clone(), s["config"].clone(), s["created"].clone()))
        .collect();
    let before: Vec<_> = streams
        .values()
        .map(|s| (s["name"].clone(), s["config"].clone(), s["created"].clone()))
        .collect();
    // Only the lock bucket may have appeared; the pipeline's streams are untouched.
    let after: Vec<_> = after
        .into_iter()
        .filter(|(name, _, _)| name != "KV_iotctl_locks")
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(name, _, _)| name != "KV_iotctl_locks")
        .collect();
    assert_eq!(before, after);
    let plan = plan_check(&spec, &nats);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    assert_eq!(plan["empty"], true);
}

/// Runs an async block against the server with a raw async-nats client.
fn with_client<T>(nats: &TestNats, f: impl AsyncFnOnce(async_nats::jetstream::Context) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(&nats.url).await.unwrap();
        f(async_nats::jetstream::new(client)).await
    })
}

fn publish(nats: &TestNats, count: usize) {
    with_client(nats, async |js| {
        let mut acks = Vec::new();
        for i in 0..count {
            acks.push(
                js.publish(
                    format!("iot.berlin.press.oil_temperature.{}", i % 3),
                    format!("{{\"n\":{i}}}").into(),
                )
                .await
                .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap();
        }
    });
}

#[test]
fn out_of_band_edits_are_shown_and_reverted() {
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    with_client(&nats, async |js| {
        let mut stream = js.get_stream("FACTORY_ALERTS").await.unwrap();
        let mut config = stream.info().await.unwrap().config.clone();
        config.max_age = Duration::from_secs(86_400);
        js.update_stream(config).await.unwrap();
    });
    let plan = plan_check(&spec, &nats);
    assert_eq!(plan.status.code(), Some(1), "drift must fail plan --check");
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let change = &plan["changes"][0];
    assert_eq!(change["op"], "update_stream");
    assert_eq!(
        change["fields"][0],
        serde_json::json!({"field": "max_age", "from": "1d", "to": "7d"})
    );
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    assert_eq!(
        nats.streams()["FACTORY_ALERTS"]["config"]["max_age"].as_u64(),
        Some(7 * 86_400 * SECOND_NS)
    );
    assert_eq!(plan_check(&spec, &nats).status.code(), Some(0));
}

#[test]
fn shrinking_retention_below_held_data_is_refused_without_allow_destructive() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = root().join("examples/factory.yaml");
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    publish(&nats, 100);
    let shrunk = factory_variant(dir.path(), "shrunk", |t| {
        t.replace(
            "      max_bytes: 10737418240\n",
            "      max_bytes: 10737418240\n      max_msgs: 10\n",
        )
    });
    let refused = apply(&shrunk, &nats, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("refusing 1 destructive change"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("90 of 100 messages"), "{}", stderr(&refused));
    assert_eq!(
        nats.streams()["FACTORY_TELEMETRY"]["state"]["messages"],
        100,
        "nothing may be applied"
    );
    let allowed = apply(&shrunk, &nats, &["--allow-destructive"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert_eq!(nats.streams()["FACTORY_TELEMETRY"]["state"]["messages"], 10);
}

#[test]
fn storage_change_is_planned_as_a_destructive_replace() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = root().join("examples/factory.yaml");
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    let memory = factory_variant(dir.path(), "memory", |t| {
        t.replace(
            "    replay:\n      max_age: 2d\n",
            "    replay:\n      max_age: 2d\n      storage: memory\n",
        )
    });
    let plan = plan_check(&memory, &nats);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let change = &plan["changes"][0];
    assert_eq!(change["op"], "replace_stream", "{plan}");
    assert!(change["data_loss"].as_str().unwrap().contains("deletes the stream"));
    assert_eq!(plan["summary"]["destructive"], 1);
    assert_eq!(apply(&memory, &nats, &[]).status.code(), Some(1));
    assert_eq!(apply(&memory, &nats, &["--allow-destructive"]).status.code(), Some(0));
    assert_eq!(nats.streams()["FACTORY_REPLAY"]["config"]["storage"], "memory");
}

#[test]
fn apply_killed_at_random_points_converges_without_losing_messages() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let base = root().join("examples/factory.yaml");
    assert_eq!(apply(&base, &nats, &[]).status.code(), Some(0));
    publish(&nats, 500);
    // Two specs that differ in every stream, so each apply has several changes to make.
    let variants = [
        factory_variant(dir.path(), "a", |t| {
            t.replace("max_age: 2d", "max_age: 3d")
                .replace("max_age: 14d", "max_age: 15d")
                .replace("      max_msgs: 10000000", "      max_msgs: 20000000")
                .replace("duplicate_window: 2m", "duplicate_window: 3m")
        }),
        factory_variant(dir.path(), "b", |t| {
            t.replace("max_age: 2d", "max_age: 4d")
                .replace("max_age: 14d", "max_age: 16d")
                .replace("      max_msgs: 10000000", "      max_msgs: 30000000")
                .replace("duplicate_window: 2m", "duplicate_window: 4m")
        }),
    ];
    let mut seed: u64 = 0x5eed;
    let mut interrupted = 0;
    for trial in 0..24 {
        let spec = &variants[trial % 2];
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // An apply takes some tens of milliseconds here: kill within that span.
        let delay = Duration::from_micros((seed >> 33) % 30_000);
        let mut apply_command = command(&[
            "apply",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            &nats.url,
            "--only",
            "nats",
            "--yes",
        ]);
        if kill_after(&mut apply_command, delay) {
            interrupted += 1;
        }
        let rerun = apply(spec, &nats, &[]);
        assert_eq!(
            rerun.status.code(),
            Some(0),
            "trial {trial} (killed after {delay:?}): {}",
            stderr(&rerun)
        );
        let check = plan_check(spec, &nats);
        assert_eq!(
            check.status.code(),
            Some(0),
            "trial {trial}: did not converge: {}",
            stdout(&check)
        );
        assert_eq!(
            nats.streams()["FACTORY_TELEMETRY"]["state"]["messages"],
            500,
            "trial {trial}: messages lost"
        );
    }
    assert!(
        interrupted >= 12,
        "only {interrupted} of 24 applies were killed while running"
    );
}

#[test]
fn concurrent_applies_never_both_write() {
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    // Someone else holds the lock (a live process: this test).
    with_client(&nats, async |js| {
        let store = js.get_key_value("iotctl_locks").await.unwrap();
        let holder = serde_json::json!({"host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), "pid": std::process::id(), "since": "now"});
        store
            .create("factory", serde_json::to_vec(&holder).unwrap().into())
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let changed = factory_variant(dir.path(), "changed", |t| t.replace("max_age: 2d", "max_age: 3d"));
    let blocked = apply(&changed, &nats, &["--lock-timeout", "1"]);
    assert_eq!(blocked.status.code(), Some(3), "{}", stderr(&blocked));
    assert!(
        stderr(&blocked).contains("another apply of pipeline `factory` is running"),
        "{}",
        stderr(&blocked)
    );
    assert_eq!(
        nats.streams()["FACTORY_REPLAY"]["config"]["max_age"].as_u64(),
        Some(2 * 86_400 * SECOND_NS),
        "a blocked apply wrote"
    );
    with_client(&nats, async |js| {
        js.get_key_value("iotctl_locks")
            .await
            .unwrap()
            .delete("factory")
            .await
            .unwrap()
    });

    // Two applies racing: both finish, one after the other, and the result is one spec whole.
    let other = factory_variant(dir.path(), "other", |t| {
        t.replace("max_age: 2d", "max_age: 5d")
            .replace("max_age: 14d", "max_age: 20d")
    });
    let spawn = |spec: &Path| {
        command(&[
            "apply",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            &nats.url,
            "--only",
            "nats",
            "--yes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn(&changed), spawn(&other));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let streams = nats.streams();
    let replay = streams["FACTORY_REPLAY"]["config"]["max_age"].as_u64().unwrap() / SECOND_NS / 86_400;
    let dlq = streams["FACTORY_DLQ"]["config"]["max_age"].as_u64().unwrap() / SECOND_NS / 86_400;
    assert!(
        matches!((replay, dlq), (3, 14) | (5, 20)),
        "interleaved result: replay {replay}d, dlq {dlq}d"
    );
}

#[test]
fn unmanaged_streams_are_never_touched_and_overlaps_block_the_plan() {
    let nats = TestNats::start();
    with_client(&nats, async |js| {
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "LEGACY".into(),
            subjects: vec!["iot.legacy.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let spec = root().join("examples/factory.yaml");
    let blocked = apply(&spec, &nats, &[]);
    assert_eq!(blocked.status.code(), Some(1), "{}", stderr(&blocked));
    assert!(stdout(&blocked).contains("LEGACY"), "{}", stdout(&blocked));
    let streams = nats.streams();
    assert_eq!(
        streams.keys().filter(|k| k.starts_with("FACTORY")).count(),
        0,
        "nothing may be created while a conflict exists"
    );
    assert!(streams.contains_key("LEGACY"));
}

#[test]
fn status_reports_streams_coverage_and_drift() {
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    assert_eq!(apply(&spec, &nats, &[]).status.code(), Some(0));
    publish(&nats, 25);
    // A durable consumer that has read nothing: status must show its backlog.
    with_client(&nats, async |js| {
        let stream = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
        let config = async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("dashboard".into()),
            ..Default::default()
        };
        stream.create_consumer(config).await.unwrap();
    });
    let status = iotctl(&[
        "status",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--format",
        "json",
        "--check",
    ]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let report: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    let telemetry = &report["streams"][0];
    assert_eq!(telemetry["name"], "FACTORY_TELEMETRY");
    assert_eq!(telemetry["messages"], 25);
    assert_eq!(telemetry["replay_slo"], "7d");
    assert!(telemetry["replay_reach"].is_string());
    assert_eq!(report["in_sync"], true);
    assert_eq!(
        telemetry["consumers"],
        serde_json::json!([{"name": "dashboard", "pending": 25, "ack_pending": 0, "redelivered": 0}])
    );
    with_client(&nats, async |js| js.delete_stream("FACTORY_DLQ").await.unwrap());
    let drifted = iotctl(&[
        "status",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--check",
    ]);
    assert_eq!(drifted.status.code(), Some(1));
    assert!(
        stdout(&drifted).contains("FACTORY_DLQ (missing)"),
        "{}",
        stdout(&drifted)
    );
}

#[test]
fn unreachable_nats_is_a_runtime_failure() {
    let spec = root().join("examples/factory.yaml");
    let output = iotctl(&["plan", "-f", spec.to_str().unwrap(), "--nats-url", "nats://127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{}",
        stderr(&output)
    );
}

/// A recreated ingestion table must read everything the stream retains. RisingWave reuses a
/// durable consumer of the same name with its ack floor (its `build_consumer` gets or creates
/// it), so the plan resets the consumer between dropping and creating the table. Here the
/// consumer is made and advanced the way RisingWave does, and the reset is the plan's own
/// change run by the NATS executor.
#[test]
fn a_reset_consumer_is_read_again_from_the_start_of_the_stream() {
    use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy};
    use futures::StreamExt;
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    let applied = apply(&spec, &nats, &[]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    publish(&nats, 5);
    let config = || consumer::pull::Config {
        durable_name: Some("factory_risingwave".into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        filter_subjects: vec!["iot.>".into()],
        ..Default::default()
    };
    // The table's consumer reads and acks three messages, and the table is dropped.
    let pending = |js: async_nats::jetstream::Context| async move {
        let stream = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
        let mut consumer: consumer::PullConsumer = stream
            .get_or_create_consumer("factory_risingwave", config())
            .await
            .unwrap();
        consumer.info().await.unwrap().num_pending
    };
    with_client(&nats, async |js| {
        let stream = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer("factory_risingwave", config())
            .await
            .unwrap();
        let mut messages = consumer.fetch().max_messages(3).messages().await.unwrap();
        while let Some(message) = messages.next().await {
            message.unwrap().double_ack().await.unwrap();
        }
    });
    // Created again without a reset, the table would start after those three.
    assert_eq!(with_client(&nats, pending), 2);
    let settings = iotctl::settings::NatsSettings {
        servers: vec![nats.url.clone()],
        auth: iotctl::settings::NatsAuth::None,
        tls_ca: None,
        tls_required: false,
    };
    let reset = iotctl::plan::Change::ResetConsumer {
        stream: "FACTORY_TELEMETRY".into(),
        consumer: "factory_risingwave".into(),
        table: "telemetry".into(),
    };
    with_client(&nats, async |_| {
        let backend = iotctl::backend::nats::Nats::connect(&settings).await.unwrap();
        backend.execute(&reset, "factory").await.unwrap();
        // Resetting what is not there (again, or on a stream that does not exist) is fine.
        backend.execute(&reset, "factory").await.unwrap();
        let elsewhere = iotctl::plan::Change::ResetConsumer {
            stream: "NO_SUCH_STREAM".into(),
            consumer: "x".into(),
            table: "t".into(),
        };
        backend.execute(&elsewhere, "factory").await.unwrap();
    });
    assert_eq!(
        with_client(&nats, pending),
        5,
        "after the reset the table reads all the stream holds"
    );
}
