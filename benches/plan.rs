//! Planning at scale against a real nats-server on loopback: 100 streams observed and diffed
//! (a no-op apply, lock included), and the RisingWave planner over the 4000-object spec.
//! Target: the no-op apply of 100 streams under 500 ms. Run: `cargo bench --bench plan`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/suite/harness/mod.rs"]
#[expect(dead_code, reason = "the benches use part of the test harness")]
mod harness;
use harness::nats::TestNats;

use iotctl::backend::nats::Nats;
use iotctl::plan::Change;
use iotctl::plan::risingwave::{CatalogSnapshot, ddl_hash};
use iotctl::render::risingwave::RwKind;
use iotctl::settings::{NatsAuth, NatsSettings};
use iotctl::spec::duration::Duration as SpecDuration;
use iotctl::spec::model::{Compression, Discard, Storage};
use iotctl::spec::names::StreamName;
use iotctl::spec::streams::{StreamConfig, StreamRole};
use iotctl::time::unix_now;

fn streams(count: usize) -> Vec<StreamConfig> {
    (0..count)
        .map(|i| StreamConfig {
            role: StreamRole::Telemetry,
            name: StreamName::new(format!("BENCH_SITE_{i:03}")),
            description: None,
            subjects: vec![format!("bench{i:03}.>")],
            max_age: SpecDuration::from_secs(7 * 86_400),
            max_bytes: -1,
            max_msgs: -1,
            discard: Discard::Old,
            storage: Storage::File,
            replicas: 1,
            duplicate_window: SpecDuration::from_secs(120),
            compression: Compression::S2,
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let server = harness::nats::binary_path();
    if !server.exists() {
        println!("skipped: no nats-server at {} (run scripts/setup.sh)", server.display());
        return;
    }
    let nats = TestNats::start();
    let url = nats.url.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let desired = streams(100);
    let (setup, noop) = runtime.block_on(nats_apply(&url, &desired));
    let rw = risingwave_plan();
    let cli = cli_apply(&root, &url);
    drop(nats);

    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["step (median of 15)", "time", "notes"]);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    table.add_row(vec![
        "create 100 streams (first apply)".to_string(),
        ms(setup),
        "one run".into(),
    ]);
    table.add_row(vec![
        "no-op apply of 100 streams".to_string(),
        ms(noop),
        format!(
            "lock + observe + diff + unlock; target < 500 ms: {}",
            if noop < Duration::from_millis(500) {
                "met"
            } else {
                "MISSED"
            }
        ),
    ]);
    table.add_row(vec![
        "plan 4000 RisingWave objects".to_string(),
        ms(median(rw)),
        "diff against an applied catalog snapshot".into(),
    ]);
    match cli {
        Some(d) => table.add_row(vec![
            "iotctl apply (CLI, factory, no-op)".to_string(),
            ms(d),
            "process start to exit, 4 streams".into(),
        ]),
        None => table.add_row(vec![
            "iotctl apply (CLI, factory, no-op)",
            "skipped",
            "build with cargo build --release",
        ]),
    };
    println!("{table}");
}

/// Creating 100 streams, then the median of 15 no-op applies (lock, observe, diff, unlock).
async fn nats_apply(url: &str, desired: &[StreamConfig]) -> (Duration, Duration) {
    let settings = NatsSettings {
        servers: vec![url.to_string()],
        auth: NatsAuth::None,
        tls_ca: None,
        tls_required: false,
    };
    let nats = Nats::connect(&settings).await.unwrap();
    let started = Instant::now();
    let (changes, _) = iotctl::plan::nats::diff("bench", desired, &nats.observe().await.unwrap(), unix_now());
    for change in &changes {
        nats.execute(change, "bench").await.unwrap();
    }
    let setup = started.elapsed();
    let mut noop = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let lock = nats.lock("bench", Duration::from_secs(5)).await.unwrap();
        let (changes, conflicts) =
            iotctl::plan::nats::diff("bench", desired, &nats.observe().await.unwrap(), unix_now());
        assert!(changes.is_empty() && conflicts.is_empty(), "{changes:?}");
        lock.release().await.unwrap();
        noop.push(started.elapsed());
    }
    (setup, median(noop))
}

/// The RisingWave planner over 4000 objects (the size the render benchmark's spec yields).
fn risingwave_plan() -> Vec<Duration> {
    let objects: Vec<iotctl::render::risingwave::RwObject> = (0..4000)
        .map(|i| iotctl::render::risingwave::RwObject {
            kind: if i == 0 {
                RwKind::Table
            } else {
                RwKind::MaterializedView
            },
            name: format!("object_{i:04}"),
            depends_on: if i == 0 { vec![] } else { vec!["object_0000".into()] },
            ddl: format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS iot.object_{i:04} AS SELECT {i} FROM iot.object_0000;"
            ),
            secret_env: None,
            nats_consumer: None,
            state: iotctl::render::risingwave::StateBound::Stateless("bench"),
        })
        .collect();
    let mut snapshot = CatalogSnapshot {
        schema_exists: true,
        ..Default::default()
    };
    for o in &objects {
        snapshot.relations.insert(o.name.clone(), o.kind);
        snapshot.ledger.insert(o.name.clone(), ddl_hash(&o.ddl));
    }
    let mut rw = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let changes: Vec<Change> = iotctl::plan::risingwave::diff(&objects, &snapshot);
        assert!(changes.is_empty());
        rw.push(started.elapsed());
    }
    rw
}

/// The whole CLI, process start to exit, for the factory example against the same server.
fn cli_apply(root: &std::path::Path, url: &str) -> Option<Duration> {
    let binary = root.join("target/release/iotctl");
    if binary.exists() {
        let spec = root.join("examples/factory.yaml");
        let run = || {
            Command::new(&binary)
                .args([
                    "apply",
                    "-f",
                    spec.to_str().unwrap(),
                    "--nats-url",
                    url,
                    "--only",
                    "nats",
                    "--yes",
                    "-q",
                ])
                .output()
                .unwrap()
        };
        let first = run();
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        let samples: Vec<Duration> = (0..15)
            .map(|_| {
                let started = Instant::now();
                assert!(run().status.success());
                started.elapsed()
            })
            .collect();
        Some(median(samples))
    } else {
        None
    }
}
