//! What operators watch, against a real nats-server: `status --format openmetrics` read by the
//! Prometheus Python client's strict parser and compared with the server's own `/jsz`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;

use super::probe::start_responder;
use super::replay::{apply, events, malformed, publish};
use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::{parse_openmetrics, promtool, venv_bin};
use iotctl::render::observability::runbooks::diagnose_commands;

type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?} in {samples:?}"))
        .2
}

/// A durable pull consumer with unacknowledged and redelivered messages, so that every
/// consumer gauge has something to show.
fn busy_consumer(nats: &TestNats) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
        let stream = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
        let config = async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("dashboard".into()),
            ack_wait: Duration::from_millis(300),
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.unwrap();
        for _ in 0..2 {
            // Fetched and never acked: after ack_wait they are delivered again.
            let mut batch = consumer.fetch().max_messages(7).messages().await.unwrap();
            while let Some(message) = batch.next().await {
                message.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
}

/// Prometheus's own text parser and linter (a textfile collector reads that format).
fn promtool_check_metrics(text: &[u8]) {
    let mut lint = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), text).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        stdout(&lint),
        stderr(&lint)
    );
}

/// Every FACTORY_ stream's gauges equal `/jsz`'s state, and so do its durable consumers'.
fn assert_streams_equal_jsz(samples: &Samples, jsz: &serde_json::Value) {
    let details: Vec<_> = jsz["account_details"][0]["stream_detail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"].as_str().unwrap().starts_with("FACTORY_"))
        .collect();
    assert_eq!(details.len(), 4, "{jsz}");
    for detail in details {
        let stream = detail["name"].as_str().unwrap();
        let state = &detail["state"];
        let at = [("stream", stream)];
        assert_eq!(
            value(samples, "iotctl_stream_messages", &at),
            state["messages"].as_f64().unwrap(),
            "{stream}"
        );
        assert_eq!(
            value(samples, "iotctl_stream_bytes", &at),
            state["bytes"].as_f64().unwrap(),
            "{stream}"
        );
        assert_eq!(
            value(samples, "iotctl_stream_last_sequence", &at),
            state["last_seq"].as_f64().unwrap(),
            "{stream}"
        );
        if state["messages"].as_u64() > Some(0) {
            for (gauge, key) in [
                ("iotctl_stream_first_timestamp_seconds", "first_ts"),
                ("iotctl_stream_last_timestamp_seconds", "last_ts"),
            ] {
                let text = state[key].as_str().unwrap();
                let seconds = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp();
                assert_eq!(value(samples, gauge, &at), seconds as f64, "{stream} {key}");
            }
        }
        // A replay's ephemeral consumer may be gone by the time /jsz is read: the durable ones
        // are compared, and the test's own durable consumer must be among them.
        let durable = |c: &&serde_json::Value| c["name"] == "dashboard";
        for consumer in detail["consumer_detail"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(durable)
        {
            let name = consumer["name"].as_str().unwrap();
            let at = [("stream", stream), ("consumer", name)];
            assert_eq!(
                value(samples, "iotctl_consumer_pending_messages", &at),
                consumer["num_pending"].as_f64().unwrap()
            );
            assert_eq!(
                value(samples, "iotctl_consumer_ack_pending_messages", &at),
                consumer["num_ack_pending"].as_f64().unwrap()
            );
            assert_eq!(
                value(samples, "iotctl_consumer_redelivered_messages", &at),
                consumer["num_redelivered"].as_f64().unwrap()
            );
        }
    }
}

#[test]
fn status_openmetrics_parses_and_equals_what_the_server_reports() {
    let nats = TestNats::start();
    let spec = root().join("examples/factory.yaml");
    apply(&spec, &nats);
    // Before any replay: status reads the replay ledger only if it exists, never creating it.
    let before = hermetic(&[
        "status",
        "-f",
        "examples/factory.yaml",
        "--format",
        "openmetrics",
        "--nats-url",
        &nats.url,
    ])
    .output()
    .unwrap();
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    assert!(
        !nats.streams().contains_key("KV_iotctl_replays"),
        "status created the replay ledger"
    );
    let mut all = events("3", "600");
    all.extend(malformed());
    publish(&nats, &all);
    let replay = hermetic(&[
        "replay",
        "-f",
        "examples/factory.yaml",
        "--since",
        "2d",
        "--nats-url",
        &nats.url,
    ])
    .output()
    .unwrap();
    assert!(replay.status.success(), "{}", stderr(&replay));
    busy_consumer(&nats);

    let output = hermetic(&[
        "status",
        "-f",
        "examples/factory.yaml",
        "--format",
        "openmetrics",
        "--nats-url",
        &nats.url,
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let samples = parse_openmetrics(&stdout(&output));
    promtool_check_metrics(&output.stdout);
    assert_streams_equal_jsz(&samples, &nats.monitoring("/jsz?streams=true&consumers=true"));
    let dashboard = [("consumer", "dashboard")];
    assert!(
        value(&samples, "iotctl_consumer_redelivered_messages", &dashboard) > 0.0,
        "the test's consumer redelivered nothing"
    );
    assert!(value(&samples, "iotctl_consumer_ack_pending_messages", &dashboard) > 0.0);

    // Dead letters by reason add up to the dead-letter stream; the replay wrote them all.
    let dead: Vec<_> = samples.iter().filter(|(n, _, _)| n == "iotctl_dead_letters").collect();
    let held = value(&samples, "iotctl_stream_messages", &[("role", "dead_letter")]);
    assert_eq!(dead.iter().map(|(_, _, v)| v).sum::<f64>(), held);
    assert!(held >= malformed().len() as f64 && dead.len() >= 2, "{dead:?}");
    assert!(dead.iter().all(|(_, l, _)| l["writer"] == "iotctl"));
    // The last replay: completed, with its run time and rate.
    assert_eq!(
        value(&samples, "iotctl_replay_last_run_state", &[("state", "completed")]),
        1.0
    );
    assert!(value(&samples, "iotctl_replay_last_run_duration_seconds", &[]) > 0.0);
    assert!(value(&samples, "iotctl_replay_last_run_messages_per_second", &[]) > 0.0);
    assert_eq!(value(&samples, "iotctl_replay_last_run_progress_ratio", &[]), 1.0);
    assert_eq!(value(&samples, "iotctl_replay_reach_slo_seconds", &[]), 7.0 * 86_400.0);
    assert_eq!(value(&samples, "iotctl_spec_in_sync", &[]), 1.0);
    assert!(samples.iter().all(|(_, l, _)| l["pipeline"] == "factory"));
}

#[test]
fn openmetrics_is_refused_where_no_command_writes_it() {
    let output = hermetic(&["validate", "-f", "examples/factory.yaml", "--format", "openmetrics"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("status") && stderr(&output).contains("probe"),
        "{}",
        stderr(&output)
    );
}

/// Every command in every rendered runbook's Diagnose section runs, as written, against a live
/// stack: NATS with the pipeline's streams, the embedded DuckDB warehouse with SQLMesh's
/// models, and the test responder answering the probe's canaries (in place of RisingWave's
/// alerting path). A runbook naming a command or flag that does not exist fails here.
#[test]
fn runbook_diagnose_commands_run_against_the_live_stack() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let env = [
        ("SPEC", "examples/factory.yaml".to_string()),
        ("IOTCTL_NATS_URL", nats.url.clone()),
        ("IOTCTL_SQLMESH_DIR", project.display().to_string()),
        ("IOTCTL_SQLMESH_BIN", venv_bin("sqlmesh").display().to_string()),
    ];
    // As the demo does: streams, a day of events loaded into DuckDB, then everything.
    let run = |args: &[&str]| {
        let output = hermetic(args).envs(env.clone()).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    };
    run(&["apply", "-f", "examples/factory.yaml", "--yes", "--only", "nats"]);
    publish(&nats, &events("2", "3600"));
    run(&[
        "replay",
        "-f",
        "examples/factory.yaml",
        "--since",
        "1h",
        "--to",
        "warehouse",
    ]);
    run(&["apply", "-f", "examples/factory.yaml", "--yes"]);
    let _responder = start_responder(&nats.url);

    let out = dir.path().join("rendered");
    let rendered = hermetic(&[
        "render",
        "-q",
        "-f",
        "examples/factory.yaml",
        "--out",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let mut commands = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(out.join("observability/runbooks")).unwrap() {
        let path = entry.unwrap().path();
        let found = diagnose_commands(&std::fs::read_to_string(&path).unwrap());
        assert!(!found.is_empty(), "{} has nothing to run", path.display());
        commands.extend(found);
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_iotctl"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for command in &commands {
        let mut shell = std::process::Command::new("sh");
        shell
            .args(["-c", command])
            .current_dir(root())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .envs(env.clone());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("IOTCTL_")) {
            shell.env_remove(key);
        }
        let output = shell.envs(env.clone()).output().unwrap();
        // 0: ok; 1: a check found something (drift, an SLO breached). Never a usage error (2)
        // or a failure to run (3).
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "`{command}` exited {:?}: {}",
            output.status.code(),
            stderr(&output)
        );
    }
    assert!(commands.len() >= 8, "{commands:?}");
}
