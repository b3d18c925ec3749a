//! Replay throughput on loopback, in one run against one nats-server:
//!   (a) the raw limit: a minimal async-nats loop that only reads and republishes with
//!       Nats-Msg-Id and pipelined acks;
//!   iotctl replay (release build), with contract validation, checkpoints and dead letters;
//!   (b) a straightforward nats-py script (scripts/replay_nats_py.py) on a 100k subset.
//! Then `replay --to warehouse` twice over the same stream: into a throwaway PostgreSQL and into
//! the embedded DuckDB file (through the SQLMesh venv's duckdb package).
//! Targets: iotctl ≥ 80 % of (a) and ≥ 4× (b); the warehouse loads ≥ 150k rows/s, DuckDB
//! ≥ 0.8× PostgreSQL. Events ≈ 150 bytes. Run:
//! `cargo build --release && cargo bench --bench replay` (IOTCTL_BENCH_EVENTS to change 1M).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[path = "../tests/suite/harness/mod.rs"]
#[expect(dead_code, reason = "the benches use part of the test harness")]
mod harness;
use harness::nats::TestNats;
use harness::postgres::TestPostgres;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;

fn event(i: u64) -> String {
    // ~150 bytes, valid for examples/factory.yaml.
    let sites = ["berlin", "lyon"];
    format!(
        r#"{{"event_id":"e{i:08}","device_id":"d{:04}","site":"{}","device_type":"press","metric":"oil_temperature","ts":"2026-01-01T00:00:00Z","value":{}.5,"firmware_version":"1.4"}}"#,
        i % 5000,
        sites[(i % 2) as usize],
        20 + i % 40
    )
}

async fn publish_all(js: &jetstream::Context, count: u64) {
    let mut acks = VecDeque::new();
    for i in 0..count {
        let e = event(i);
        let site = if i % 2 == 0 { "berlin" } else { "lyon" };
        acks.push_back(
            js.publish(format!("iot.{site}.press.oil_temperature"), e.into())
                .await
                .unwrap(),
        );
        if acks.len() >= 4000 {
            acks.pop_front().unwrap().await.unwrap();
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

/// (a): read everything with an ordered consumer and republish with pipelined acks.
async fn raw_replay(js: &jetstream::Context, count: u64) -> f64 {
    let source = js.get_stream("FACTORY_TELEMETRY").await.unwrap();
    let consumer = source
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "iot.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let started = Instant::now();
    let mut acks = VecDeque::new();
    let mut seen = 0;
    while seen < count {
        let message = messages.next().await.unwrap().unwrap();
        let sequence = message.info().unwrap().stream_sequence;
        let publish = jetstream::message::PublishMessage::build()
            .payload(message.payload.clone())
            .message_id(format!("raw:{sequence}"));
        acks.push_back(
            js.send_publish(format!("rawcopy.{}", message.subject), publish)
                .await
                .unwrap(),
        );
        if acks.len() >= 2048 {
            acks.pop_front().unwrap().await.unwrap();
        }
        seen += 1;
    }
    for ack in acks {
        ack.await.unwrap();
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let server = harness::nats::binary_path();
    let binary = root.join("target/release/iotctl");
    if !server.exists() || !binary.exists() {
        println!(
            "skipped: needs .tools/nats-server (scripts/setup.sh) and target/release/iotctl (cargo build --release)"
        );
        return;
    }
    let count: u64 = std::env::var("IOTCTL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let nats = TestNats::start();
    let url = nats.url.clone();
    let spec = root.join("examples/factory.yaml");
    let apply = Command::new(&binary)
        .args([
            "apply",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            &url,
            "--only",
            "nats",
            "--yes",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", String::from_utf8_lossy(&apply.stderr));

    let (publish_rate, raw_rate) = baseline(&url, count);
    let (iotctl_rate, rss_mib) = iotctl_replay(&binary, &spec, &url, count);
    let py_count = count.min(100_000);
    let py_rate = nats_py(&root, &url, py_count);
    let warehouse = warehouse_leg(&root, &binary, &spec, &url, count);
    let duckdb = duckdb_leg(&root, &binary, &spec, &url, count);
    drop(nats);

    let results = Results {
        count,
        publish_rate,
        raw_rate,
        iotctl_rate,
        rss_mib,
        py_count,
        py_rate,
        warehouse,
        duckdb,
    };
    print_table(&results);
}

/// Starts the test harness's throwaway PostgreSQL, creates the raw table
/// with `iotctl apply`, and times `replay --to warehouse` over the whole range.
fn warehouse_leg(
    root: &std::path::Path,
    binary: &std::path::Path,
    spec: &std::path::Path,
    nats_url: &str,
    count: u64,
) -> Option<f64> {
    harness::tools::find_pg_bin("initdb")?;
    let pg = TestPostgres::start();
    let url = pg.url();
    let run = |args: &[&str]| Command::new(binary).args(args).current_dir(root).output().ok();
    let apply = run(&[
        "apply",
        "-f",
        spec.to_str()?,
        "--nats-url",
        nats_url,
        "--warehouse-url",
        &url,
        "--only",
        "warehouse",
        "--yes",
        "-q",
    ])?;
    if !apply.status.success() {
        return None;
    }
    let started = Instant::now();
    let replay = run(&[
        "replay",
        "-f",
        spec.to_str()?,
        "--nats-url",
        nats_url,
        "--warehouse-url",
        &url,
        "--since",
        "1h",
        "--to",
        "warehouse",
        "--format",
        "json",
    ])?;
    let seconds = started.elapsed().as_secs_f64();
    replay.status.success().then_some(count as f64 / seconds)
}

/// What loading the stream into DuckDB cost.
struct DuckDbLoad {
    rate: f64,
    iotctl_rss_kib: u64,
    helper_rss_kib: u64,
}

/// Times `replay --to warehouse` over the whole range into a fresh embedded DuckDB file.
fn duckdb_leg(
    root: &std::path::Path,
    binary: &std::path::Path,
    spec: &std::path::Path,
    nats_url: &str,
    count: u64,
) -> Option<DuckDbLoad> {
    let sqlmesh = root.join(".venv/bin/sqlmesh");
    if !sqlmesh.exists() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let project = dir.path().join("sqlmesh");
    let started = Instant::now();
    let replay = Command::new(binary)
        .args(["replay", "-f", spec.to_str()?, "--nats-url", nats_url])
        .args(["--since", "1h", "--to", "warehouse", "--format", "json"])
        .args(["--sqlmesh-dir", project.to_str()?, "--sqlmesh-gateway", "duckdb"])
        .arg("--sqlmesh-bin")
        .arg(&sqlmesh)
        .env_remove("IOTCTL_WAREHOUSE_URL")
        .env_remove("IOTCTL_WAREHOUSE_PASSWORD")
        .current_dir(root)
        .output()
        .ok()?;
    let seconds = started.elapsed().as_secs_f64();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&replay.stdout).lines().last()?).ok()?;
    assert_eq!(
        summary["replay"]["counts"]["published"].as_u64(),
        Some(count),
        "iotctl loaded a different count into DuckDB"
    );
    Some(DuckDbLoad {
        rate: count as f64 / seconds,
        iotctl_rss_kib: summary["peak_rss_kib"].as_u64().unwrap_or(0),
        helper_rss_kib: summary["helper_peak_rss_kib"].as_u64().unwrap_or(0),
    })
}

/// Publishes `count` events, then times the raw async-nats read-and-republish loop (a).
fn baseline(url: &str, count: u64) -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (publish_rate, raw_rate) = runtime.block_on(async {
        let js = jetstream::new(async_nats::connect(url).await.unwrap());
        js.create_stream(stream::Config {
            name: "RAWCOPY".into(),
            subjects: vec!["rawcopy.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        js.create_stream(stream::Config {
            name: "PYCOPY".into(),
            subjects: vec!["pycopy.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let started = Instant::now();
        publish_all(&js, count).await;
        let publish_rate = count as f64 / started.elapsed().as_secs_f64();
        (publish_rate, raw_replay(&js, count).await)
    });
    (publish_rate, raw_rate)
}

/// `iotctl replay` over the whole range: its rate and peak RSS (MiB).
fn iotctl_replay(binary: &std::path::Path, spec: &std::path::Path, url: &str, count: u64) -> (f64, f64) {
    let started = Instant::now();
    let replay = Command::new(binary)
        .args([
            "replay",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            url,
            "--since",
            "1h",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let iotctl_seconds = started.elapsed().as_secs_f64();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&replay.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["replay"]["counts"]["published"].as_u64(),
        Some(count),
        "iotctl replayed a different count"
    );
    let iotctl_rate = count as f64 / summary["seconds"].as_f64().unwrap_or(iotctl_seconds);
    let rss_mib = summary["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
    (iotctl_rate, rss_mib)
}

/// (b) the straightforward nats-py script over `count` events.
fn nats_py(root: &std::path::Path, url: &str, count: u64) -> Option<f64> {
    let python = root.join(".venv/bin/python");
    Command::new(&python)
        .arg(root.join("scripts/replay_nats_py.py"))
        .args([url, "FACTORY_TELEMETRY", "iot.>", "pycopy", &count.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
}

struct Results {
    count: u64,
    publish_rate: f64,
    raw_rate: f64,
    iotctl_rate: f64,
    rss_mib: f64,
    py_count: u64,
    py_rate: Option<f64>,
    warehouse: Option<f64>,
    duckdb: Option<DuckDbLoad>,
}

fn print_table(r: &Results) {
    let Results {
        count,
        publish_rate,
        raw_rate,
        iotctl_rate,
        rss_mib,
        py_count,
        py_rate,
        warehouse,
        duckdb,
    } = r;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["", "msg/s", "notes"]);
    table.add_row(vec![
        "publish (setup)".to_string(),
        format!("{publish_rate:.0}"),
        format!("{count} events of ~150 B, 4000 acks in flight"),
    ]);
    table.add_row(vec![
        "(a) raw async-nats read + republish".to_string(),
        format!("{raw_rate:.0}"),
        "ordered pull consumer, Nats-Msg-Id, 2048 acks in flight".into(),
    ]);
    table.add_row(vec![
        "iotctl replay".to_string(),
        format!("{iotctl_rate:.0}"),
        format!(
            "{:.0} % of (a) (target ≥ 80 %); validation, checkpoints; peak RSS {rss_mib:.0} MiB",
            100.0 * iotctl_rate / raw_rate
        ),
    ]);
    match py_rate {
        Some(py) => table.add_row(vec![
            "(b) nats-py straightforward script".to_string(),
            format!("{py:.0}"),
            format!("{py_count} events; iotctl is {:.1}× (target ≥ 4×)", iotctl_rate / py),
        ]),
        None => table.add_row(vec![
            "(b) nats-py straightforward script",
            "skipped",
            "no .venv with nats-py: run scripts/setup.sh",
        ]),
    };
    match warehouse {
        Some(rate) => table.add_row(vec![
            "iotctl replay --to warehouse (PostgreSQL)".to_string(),
            format!("{rate:.0}"),
            format!("COPY + upsert into PostgreSQL, {count} rows (target ≥ 150k rows/s)"),
        ]),
        None => table.add_row(vec![
            "iotctl replay --to warehouse (PostgreSQL)",
            "skipped",
            "no PostgreSQL server binaries",
        ]),
    };
    match duckdb {
        Some(load) => table.add_row(vec![
            "iotctl replay --to warehouse (DuckDB)".to_string(),
            format!("{:.0}", load.rate),
            format!(
                "{count} rows{}; peak RSS iotctl {:.0} MiB, DuckDB helper {:.0} MiB (target ≥ 150k rows/s, ≥ 0.8× PostgreSQL)",
                warehouse.map_or(String::new(), |pg| format!(", {:.2}× PostgreSQL", load.rate / pg)),
                load.iotctl_rss_kib as f64 / 1024.0,
                load.helper_rss_kib as f64 / 1024.0
            ),
        ]),
        None => table.add_row(vec![
            "iotctl replay --to warehouse (DuckDB)",
            "skipped",
            "no .venv with SQLMesh's duckdb: run scripts/setup.sh",
        ]),
    };
    println!("{table}");
}
