//! `iotctl probe` against a real nats-server, with a test-side responder in place of the
//! alerting path. The responder stands in for RisingWave's alert views and sinks, not for
//! RisingWave: it answers each canary it sees on the telemetry subjects with an alert row on
//! an alert sink's subject after a delay the test chose, or never. So what this measures is the
//! probe's own timing and loss arithmetic; the real path is checked by the RisingWave e2e suite.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use futures::StreamExt;

use super::replay::apply;
use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::parse_openmetrics;

const ROUNDS: u32 = 20;
/// Rounds whose canaries the responder never answers: 2 of 20 rounds, so 10 % are lost.
const DROPPED_ROUNDS: [u32; 2] = [3, 11];

/// The injected delay of a round's canaries: 40 ms, 50 ms, … 230 ms.
fn delay_ms(round: u32) -> u64 {
    40 + 10 * u64::from(round)
}

/// Answers canaries on the telemetry subjects with an alert on `alerts.iot.pager` (the
/// factory's critical pager sink) after their round's delay; drops the dropped rounds.
pub(super) fn start_responder(nats_url: &str) -> std::thread::JoinHandle<()> {
    let url = nats_url.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = async_nats::connect(&url).await.unwrap();
            let mut telemetry = client.subscribe("iot.>").await.unwrap();
            client.flush().await.unwrap();
            ready_tx.send(()).unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while let Ok(Some(message)) = tokio::time::timeout_at(deadline, telemetry.next()).await {
                let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                let device = event["device_id"].as_str().unwrap().to_string();
                if !device.starts_with("iotctl-canary-") {
                    continue;
                }
                let round = event["seq"].as_u64().unwrap() as u32;
                if DROPPED_ROUNDS.contains(&round) {
                    continue;
                }
                let client = client.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms(round))).await;
                    let alert = serde_json::json!({"alert_id": format!("{device}:threshold"), "kind": "threshold", "severity": "critical", "device_id": device});
                    client.publish("alerts.iot.pager", alert.to_string().into()).await.unwrap();
                    client.flush().await.unwrap();
                });
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("responder subscribed");
    handle
}

/// The factory spec with its SLOs replaced.
fn spec_with_slo(dir: &Path, name: &str, p99: &str, max_drop: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let changed = text
        .replacen("alert_latency_p99: 1s", &format!("alert_latency_p99: {p99}"), 1)
        .replacen("max_drop_rate: 0.0001", &format!("max_drop_rate: {max_drop}"), 1);
    assert_ne!(text, changed);
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, changed).unwrap();
    path
}

fn probe(nats: &TestNats, spec: &Path, format: &str) -> Output {
    let args = [
        "probe",
        "-f",
        spec.to_str().unwrap(),
        "--count",
        &ROUNDS.to_string(),
        "--interval",
        "20ms",
        "--timeout",
        "1s",
        "--format",
        format,
        "--nats-url",
        &nats.url,
    ];
    hermetic(&args).output().expect("iotctl runs")
}

/// The nearest-rank quantile of the injected delays of the canaries that were answered.
fn injected_quantile(q: f64) -> f64 {
    let mut delays: Vec<u64> = (0..ROUNDS)
        .filter(|r| !DROPPED_ROUNDS.contains(r))
        .flat_map(|r| [delay_ms(r), delay_ms(r)]) // two sites, one canary each
        .collect();
    delays.sort_unstable();
    let rank = ((q * delays.len() as f64).ceil() as usize).clamp(1, delays.len());
    delays[rank - 1] as f64 / 1000.0
}

fn assert_near_injected(measured: f64, q: f64) {
    let injected = injected_quantile(q);
    // Measured from before the publish: never below the injected delay, and only the
    // loopback round trips above it.
    assert!(
        measured >= injected - 0.001 && measured <= injected + 0.15,
        "q{q}: measured {measured}, injected {injected}"
    );
}

#[test]
fn probe_reports_the_injected_latencies_and_losses_and_exits_by_the_slo() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let loose = spec_with_slo(dir.path(), "loose", "500ms", "0.15");
    apply(&loose, &nats);
    let responder = start_responder(&nats.url);

    // Within both SLOs: p99 ≈ 230 ms ≤ 500 ms, 10 % lost ≤ 15 %.
    let output = probe(&nats, &loose, "json");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let summary = &report["summary"];
    assert_eq!(summary["canaries"], 2 * ROUNDS);
    assert_eq!(summary["lost"], 2 * DROPPED_ROUNDS.len() as u32);
    assert_eq!(summary["loss_ratio"], 0.1);
    for (key, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
        assert_near_injected(summary[key].as_f64().unwrap(), q);
    }

    // A tighter latency SLO: exit 1, and the OpenMetrics text says why.
    let tight = spec_with_slo(dir.path(), "tight", "100ms", "0.15");
    let output = probe(&nats, &tight, "openmetrics");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("alert latency p99"), "{}", stderr(&output));
    let samples = parse_openmetrics(&stdout(&output));
    let value = |name: &str, quantile: Option<&str>| {
        samples
            .iter()
            .find(|(n, labels, _)| n == name && labels.get("quantile").map(String::as_str) == quantile)
            .unwrap_or_else(|| panic!("{name} in {samples:?}"))
            .2
    };
    assert_near_injected(value("iotctl_probe_alert_latency_seconds", Some("0.99")), 0.99);
    assert_eq!(value("iotctl_probe_loss_ratio", None), 0.1);
    assert_eq!(value("iotctl_probe_alert_latency_slo_seconds", None), 0.1);

    // A tighter drop-rate SLO: exit 1 on the loss alone.
    let strict = spec_with_slo(dir.path(), "strict", "1s", "0.05");
    let output = probe(&nats, &strict, "json");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        (
            report["verdict"]["latency_met"].as_bool(),
            report["verdict"]["loss_met"].as_bool()
        ),
        (Some(true), Some(false))
    );
    drop(responder);

    // The canaries are in the telemetry stream, and a replay counts none of them.
    let output = hermetic(&[
        "replay",
        "-f",
        loose.to_str().unwrap(),
        "--since",
        "1h",
        "--format",
        "json",
        "--nats-url",
        &nats.url,
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let last = stdout(&output)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .next_back()
        .unwrap();
    let counts = &last["replay"]["counts"];
    assert_eq!(
        (counts["canaries"].as_u64(), counts["published"].as_u64()),
        (Some(3 * 2 * u64::from(ROUNDS)), Some(0)),
        "{last}"
    );
}

#[test]
fn probe_refuses_bad_input_before_connecting() {
    // Nothing listens on this port: a usage error must come first.
    let run = |extra: &[&str]| {
        let mut args = vec![
            "probe",
            "-f",
            "examples/factory.yaml",
            "--nats-url",
            "nats://127.0.0.1:1",
        ];
        args.extend(extra);
        hermetic(&args).output().unwrap()
    };
    let output = run(&["--site", "mars"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("mars") && stderr(&output).contains("berlin"),
        "{}",
        stderr(&output)
    );
    assert_eq!(run(&["--timeout", "0s"]).status.code(), Some(2));
    assert_eq!(run(&["--count", "0"]).status.code(), Some(2));
    let output = run(&["--format", "openmetrics", "--interval", "soon"]);
    assert_eq!(output.status.code(), Some(2));
}
