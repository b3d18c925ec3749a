//! `dlq redrive` throughput against `replay`'s, in the same run on the same messages:
//! 200k oil-temperature readings above the factory spec's range are published, replayed (each
//! dead-lettered: replay's throughput), then redriven with the range widened (each read back,
//! re-checked, republished and removed from the dead-letter stream). Target: ≥ 0.8× replay.
//! Needs `cargo build --release` and scripts/setup.sh's nats-server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "../tests/suite/harness/mod.rs"]
#[expect(dead_code, reason = "the benches use part of the test harness")]
mod harness;
use harness::nats::TestNats;

fn run(binary: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(binary).args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// Publishes `count` out-of-range readings with pipelined acks.
async fn publish(url: &str, count: u64) {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let ts = iotctl::time::rfc3339(time::OffsetDateTime::now_utc());
    let mut acks = std::collections::VecDeque::new();
    for i in 0..count {
        let payload = format!(
            r#"{{"event_id":"hot-{i:07}","device_id":"p-{}","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":{},"seq":{i},"firmware_version":"2.0.0"}}"#,
            i % 97,
            151 + i % 49
        );
        acks.push_back(
            js.publish("iot.berlin.press.oil_temperature", payload.into())
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

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/release/iotctl");
    if !harness::nats::binary_path().exists() || !binary.exists() {
        println!(
            "skipped: needs .tools/nats-server (scripts/setup.sh) and target/release/iotctl (cargo build --release)"
        );
        return;
    }
    let count: u64 = std::env::var("IOTCTL_BENCH_DEAD_LETTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let nats = TestNats::start();
    let spec = root.join("examples/factory.yaml");
    let (spec, url) = (spec.to_str().unwrap(), nats.url.as_str());
    let applied = Command::new(&binary)
        .args(["apply", "-f", spec, "--nats-url", url, "--only", "nats", "--yes", "-q"])
        .status()
        .unwrap();
    assert!(applied.success());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(publish(url, count));
    let dir = tempfile::tempdir().unwrap();
    let widened = dir.path().join("widened.yaml");
    let text = std::fs::read_to_string(spec).unwrap();
    std::fs::write(
        &widened,
        text.replacen("range: { min: -20, max: 150 }", "range: { min: -20, max: 200 }", 1),
    )
    .unwrap();

    let started = Instant::now();
    let replay = run(
        &binary,
        &[
            "replay",
            "-f",
            spec,
            "--nats-url",
            url,
            "--since",
            "1h",
            "--format",
            "json",
        ],
    );
    let replay_seconds = replay["seconds"].as_f64().unwrap_or(started.elapsed().as_secs_f64());
    assert_eq!(replay["replay"]["counts"]["dead_lettered"].as_u64(), Some(count));
    let started = Instant::now();
    let redrive = run(
        &binary,
        &[
            "dlq",
            "redrive",
            "-f",
            widened.to_str().unwrap(),
            "--nats-url",
            url,
            "--format",
            "json",
        ],
    );
    let redrive_seconds = redrive["seconds"].as_f64().unwrap_or(started.elapsed().as_secs_f64());
    assert_eq!(redrive["redrive"]["counts"]["redriven"].as_u64(), Some(count));

    print_table(count, count as f64 / replay_seconds, count as f64 / redrive_seconds);
}

fn print_table(count: u64, replay_rate: f64, redrive_rate: f64) {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["", "msg/s", "notes"]);
    table.add_row(vec![
        "iotctl replay (every event dead-lettered)".to_string(),
        format!("{replay_rate:.0}"),
        format!("{count} events"),
    ]);
    table.add_row(vec![
        "iotctl dlq redrive (every dead letter redriven)".to_string(),
        format!("{redrive_rate:.0}"),
        format!(
            "{:.2}× replay (target ≥ 0.8×); republished and removed from the dead-letter stream",
            redrive_rate / replay_rate
        ),
    ]);
    println!("{table}");
}
