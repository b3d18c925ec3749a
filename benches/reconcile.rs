//! simulate and reconcile on loopback, against one fresh nats-server per simulate round:
//!   simulate: 1,000 devices × 1 day × one reading a minute = 1,440,000 events, with acks
//!             (target ≥ 150k events/s);
//!   a plain read of the same stream by an ordered push consumer (no parsing), for context,
//!             each round right before a reconcile round;
//!   reconcile raw ↔ batch for that day, the batch built by SQLMesh on the embedded DuckDB
//!   warehouse (target ≥ 400k events/s on the raw leg; memory bounded by the group count).
//! Run: `cargo build --release && cargo bench --bench reconcile` (IOTCTL_BENCH_DEVICES to change 1000).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "../tests/suite/harness/mod.rs"]
#[expect(dead_code, reason = "the benches use part of the test harness")]
mod harness;
use harness::nats::TestNats;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;

const ROUNDS: usize = 3;
/// Reads are cheap and the host is noisy: more rounds, each a plain read then a reconcile, so
/// both see the same moment of the machine.
const READ_ROUNDS: usize = 5;

fn run(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let output = Command::new(binary)
        .args(args)
        .envs(env.iter().copied())
        .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
        .output()
        .unwrap();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The last JSON document (or NDJSON line) of a command's stdout.
fn json(output: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .expect("a JSON summary")
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Reads the whole telemetry stream with an ordered push consumer, doing nothing with it.
async fn plain_read(url: &str, expected: u64) -> f64 {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client.clone());
    let stream = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
    let started = Instant::now();
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: "iot.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut read = 0u64;
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        read += 1;
        std::hint::black_box(message.payload.len());
        if read == expected {
            break;
        }
    }
    read as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let server = harness::nats::binary_path();
    let binary = root.join("target/release/iotctl");
    let sqlmesh = root.join(".venv/bin/sqlmesh");
    if !server.exists() || !binary.exists() || !sqlmesh.exists() {
        println!(
            "skipped: needs .tools/nats-server and .venv (scripts/setup.sh) and target/release/iotctl (cargo build --release)"
        );
        return;
    }
    let devices = std::env::var("IOTCTL_BENCH_DEVICES").unwrap_or_else(|_| "1000".into());
    let spec = root.join("examples/factory.yaml");
    let spec = spec.to_str().unwrap();
    let day = (time::OffsetDateTime::now_utc().date() - time::Duration::days(1)).to_string();

    let (simulate_rates, published, nats) = simulate_rounds(&binary, spec, &devices, &day);
    let url = nats.url.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let project = project.to_str().unwrap();
    let sqlmesh_env = [
        ("IOTCTL_SQLMESH_DIR", project),
        ("IOTCTL_SQLMESH_BIN", sqlmesh.to_str().unwrap()),
    ];
    let (load_seconds, models_seconds) = build_batch(&binary, spec, &url, &sqlmesh_env);

    let mut plain = Vec::new();
    let mut raw_rates = Vec::new();
    let mut rss = Vec::new();
    let mut groups = 0;
    for _ in 0..READ_ROUNDS {
        plain.push(runtime.block_on(plain_read(&url, published)));
        let output = run(
            &binary,
            &[
                "reconcile",
                "-f",
                spec,
                "--nats-url",
                &url,
                "--date",
                &day,
                "--legs",
                "raw,batch",
                "--sqlmesh-gateway",
                "duckdb",
                "--format",
                "json",
            ],
            &sqlmesh_env,
        );
        let report = json(&output);
        assert_eq!(report["ok"], true, "raw and batch agree: {report:#}");
        assert_eq!(report["raw"]["read"].as_u64(), Some(published));
        raw_rates.push(report["raw_events_per_second"].as_f64().unwrap());
        rss.push(report["peak_rss_kib"].as_f64().unwrap_or_default() / 1024.0);
        groups = report["pairs"][0]["groups"].as_u64().unwrap();
    }

    let measured = Measured {
        published,
        groups,
        simulate_rates,
        plain,
        raw_rates,
        rss,
        load_seconds,
        models_seconds,
    };
    print_table(&measured);
}

/// Simulate: each round into a fresh server; the last one's stream is reconciled. Returns the
/// rates, the events published per round and the last server.
fn simulate_rounds(binary: &std::path::Path, spec: &str, devices: &str, day: &str) -> (Vec<f64>, u64, TestNats) {
    let mut simulate_rates = Vec::new();
    let mut published = 0;
    let mut nats = None;
    for _ in 0..ROUNDS {
        let server = TestNats::start();
        run(
            binary,
            &[
                "apply",
                "-f",
                spec,
                "--nats-url",
                &server.url,
                "--only",
                "nats",
                "--yes",
                "-q",
            ],
            &[],
        );
        let output = run(
            binary,
            &[
                "simulate",
                "-f",
                spec,
                "--nats-url",
                &server.url,
                "--devices",
                devices,
                "--rate",
                "1/min",
                "--duration",
                "1d",
                "--start",
                day,
                "--format",
                "json",
            ],
            &[],
        );
        let summary = json(&output);
        published = summary["counts"]["published"].as_u64().unwrap();
        assert_eq!(summary["counts"]["stored"].as_u64(), Some(published));
        simulate_rates.push(summary["events_per_second"].as_f64().unwrap());
        nats = Some(server);
    }
    (simulate_rates, published, nats.unwrap())
}

/// The batch: a replay into the embedded DuckDB warehouse, then SQLMesh's daily models.
/// Returns the seconds each took.
fn build_batch(binary: &std::path::Path, spec: &str, url: &str, sqlmesh_env: &[(&str, &str)]) -> (f64, f64) {
    let started = Instant::now();
    run(
        binary,
        &[
            "replay",
            "-f",
            spec,
            "--nats-url",
            url,
            "--since",
            "1h",
            "--to",
            "warehouse",
            "--sqlmesh-gateway",
            "duckdb",
            "-q",
        ],
        sqlmesh_env,
    );
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    run(
        binary,
        &[
            "apply",
            "-f",
            spec,
            "--nats-url",
            url,
            "--yes",
            "-q",
            "--sqlmesh-gateway",
            "duckdb",
        ],
        sqlmesh_env,
    );
    let models_seconds = started.elapsed().as_secs_f64();
    (load_seconds, models_seconds)
}

/// What the bench measured.
struct Measured {
    published: u64,
    groups: u64,
    simulate_rates: Vec<f64>,
    plain: Vec<f64>,
    raw_rates: Vec<f64>,
    rss: Vec<f64>,
    load_seconds: f64,
    models_seconds: f64,
}

fn print_table(m: &Measured) {
    let Measured {
        published,
        groups,
        simulate_rates,
        plain,
        raw_rates,
        rss,
        load_seconds,
        models_seconds,
    } = m;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["measure", "median", "runs", "target"]);
    let runs = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    table.add_row(vec![
        format!("simulate {published} events, acked (events/s)"),
        format!("{:.0}", median(simulate_rates.clone())),
        runs(simulate_rates),
        "≥ 150000".into(),
    ]);
    table.add_row(vec![
        "plain ordered-push read, no parsing (events/s)".into(),
        format!("{:.0}", median(plain.clone())),
        runs(plain),
        "-".into(),
    ]);
    table.add_row(vec![
        "reconcile raw leg (events/s)".into(),
        format!("{:.0}", median(raw_rates.clone())),
        runs(raw_rates),
        "≥ 400000".into(),
    ]);
    table.add_row(vec![
        format!("reconcile peak RSS (MiB), {groups} groups"),
        format!("{:.1}", median(rss.clone())),
        runs(rss),
        "bounded by groups".into(),
    ]);
    table.add_row(vec![
        "load into DuckDB (replay --to warehouse, s)".into(),
        format!("{load_seconds:.1}"),
        "1".into(),
        "-".into(),
    ]);
    table.add_row(vec![
        "SQLMesh models on DuckDB (apply, s)".into(),
        format!("{models_seconds:.1}"),
        "1".into(),
        "-".into(),
    ]);
    println!("{table}");
}
