//! `iotctl dlq` against a real nats-server: dead letters written by `replay`, counted by
//! reason, shown, and redriven after the spec is fixed — exactly the events the fixed contract
//! accepts, each once, the rest staying with their reasons, through SIGKILLs and resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use super::replay::{apply, events, publish, read_stream};
use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::kill_after;

const SPEC: &str = "examples/factory.yaml";

fn iotctl(nats: &TestNats, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--nats-url", &nats.url]);
    hermetic(&all).output().expect("iotctl runs")
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The factory spec with the oil temperature's range widened to 200 (it was 150).
fn widened_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join(SPEC)).unwrap();
    let widened = text.replacen("range: { min: -20, max: 150 }", "range: { min: -20, max: 200 }", 1);
    assert_ne!(text, widened);
    let path = dir.join("widened.yaml");
    std::fs::write(&path, widened).unwrap();
    path
}

/// `count` oil-temperature readings between 150 and 200: out of range today, valid once the
/// range is widened; and `broken` payloads no spec accepts.
fn out_of_range(count: usize, broken: usize) -> Vec<(String, String)> {
    let subject = "iot.berlin.press.oil_temperature".to_string();
    let ts = crate::common::rfc3339(time::OffsetDateTime::now_utc());
    let mut events: Vec<(String, String)> = (0..count)
        .map(|i| {
            let value = 151.0 + (i % 49) as f64;
            let payload = format!(
                r#"{{"event_id":"hot-{i:05}","device_id":"p-{}","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":{value},"seq":{i},"firmware_version":"2.0.0"}}"#,
                i % 7
            );
            (subject.clone(), payload)
        })
        .collect();
    // Spread among the others, so a redrive meets dead letters that stay between ones it moves.
    for i in (0..broken).rev() {
        let at = (i + 1) * count / (broken + 1);
        events.insert(at, (subject.clone(), format!("{{broken {i}")));
    }
    events
}

/// Publishes `events` and replays them, so that the invalid ones are dead-lettered.
fn dead_letter(nats: &TestNats, events: &[(String, String)]) -> serde_json::Value {
    publish(nats, events);
    let replayed = iotctl(nats, &["replay", "-f", SPEC, "--since", "1h", "--format", "json"]);
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    json_lines(&replayed).pop().expect("a replay summary")
}

/// The event ids in the replay stream that came from a redrive, each with how often.
fn redriven_ids(nats: &TestNats) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for (_, payload, headers) in read_stream(nats, "FACTORY_REPLAY") {
        if headers.iter().any(|h| h.starts_with("Iotctl-Redrive-Count=")) {
            let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
            *ids.entry(value["event_id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    ids
}

/// The payloads left in the dead-letter stream.
fn dead_payloads(nats: &TestNats) -> BTreeSet<String> {
    read_stream(nats, "FACTORY_DLQ")
        .into_iter()
        .map(|(_, payload, _)| payload)
        .collect()
}

/// A reason with its particulars masked, as a reader of the headers would group them:
/// numbers become N, quoted text with a digit `"…"`, back-quoted text `` `…` ``.
fn masked(reason: &str) -> String {
    let mut out = String::new();
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        let signed = c == '-'
            && chars.peek().is_some_and(|n| n.is_ascii_digit())
            && !out.ends_with(|p: char| p.is_alphanumeric());
        if c.is_ascii_digit() || signed {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_digit() || matches!(n, '.' | 'e' | '-' | '+'))
            {
                chars.next();
            }
            out.push('N');
        } else if c == '"' || c == '`' {
            let quoted: String = chars.by_ref().take_while(|n| *n != c).collect();
            let particular = c == '`' || quoted.chars().any(|q| q.is_ascii_digit());
            out.push(c);
            out.push_str(if particular { "…" } else { &quoted });
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn dlq_stats_equals_an_independent_count_by_reason() {
    let nats = TestNats::start();
    apply(&root().join(SPEC), &nats);
    let simulated = iotctl(
        &nats,
        &[
            "simulate",
            "-f",
            SPEC,
            "--devices",
            "30",
            "--rate",
            "1/min",
            "--duration",
            "2h",
            "--malformed-fraction",
            "0.08",
            "--seed",
            "11",
            "--start",
            "3h",
        ],
    );
    assert!(simulated.status.success(), "{}", stderr(&simulated));
    let summary = dead_letter(&nats, &[]);
    let dead = summary["replay"]["counts"]["dead_lettered"].as_u64().unwrap();
    assert!(dead > 100, "{summary:#}");
    // Counted here from the stream's own headers, read by a consumer of the test's.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, headers) in read_stream(&nats, "FACTORY_DLQ") {
        let reason = headers.iter().find_map(|h| h.strip_prefix("Iotctl-Reason=")).unwrap();
        *expected.entry(masked(reason)).or_default() += 1;
    }
    let stats = iotctl(&nats, &["dlq", "stats", "-f", SPEC, "--format", "json"]);
    assert_eq!(stats.status.code(), Some(0), "{}", stderr(&stats));
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    let counted: BTreeMap<String, u64> = stats["stats"]["by_reason"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(reason, c)| (reason.clone(), c["count"].as_u64().unwrap()))
        .collect();
    let expected_total: u64 = expected.values().sum();
    assert_eq!(stats["stats"]["total"].as_u64(), Some(dead));
    assert_eq!(expected_total, dead);
    assert_eq!(counted, expected);
    // One reason alone, and a reason the stream does not hold (exit 2, the known ones listed).
    let (reason, count) = stats["stats"]["by_reason"].as_object().unwrap().iter().next().unwrap();
    let one = iotctl(
        &nats,
        &["dlq", "stats", "-f", SPEC, "--reason", reason, "--format", "json"],
    );
    let one: serde_json::Value = serde_json::from_str(&stdout(&one)).unwrap();
    assert_eq!(one["stats"]["total"], count["count"]);
    let unknown = iotctl(&nats, &["dlq", "stats", "-f", SPEC, "--reason", "cosmic rays"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("is not a reason") && stderr(&unknown).contains(reason.as_str()),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn redrive_moves_exactly_the_events_a_widened_range_accepts() {
    let nats = TestNats::start();
    apply(&root().join(SPEC), &nats);
    let dir = tempfile::tempdir().unwrap();
    let widened = widened_spec(dir.path());
    let widened = widened.to_str().unwrap();
    let mut all = events("1", "3600");
    let bad = out_of_range(300, 20);
    all.extend(bad.iter().cloned());
    dead_letter(&nats, &all);
    assert_eq!(read_stream(&nats, "FACTORY_DLQ").len(), 320);

    let dry = iotctl(
        &nats,
        &["dlq", "redrive", "-f", widened, "--dry-run", "--format", "json"],
    );
    let dry: serde_json::Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(dry["found"]["would_redrive"].as_u64(), Some(300), "{dry:#}");
    assert_eq!(read_stream(&nats, "FACTORY_DLQ").len(), 320, "a dry run writes nothing");

    let run = iotctl(&nats, &["dlq", "redrive", "-f", widened, "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let summary = json_lines(&run).pop().unwrap();
    assert_eq!(
        summary["redrive"]["counts"]["redriven"].as_u64(),
        Some(300),
        "{summary:#}"
    );
    let stays = summary["redrive"]["still_failing"].as_object().unwrap();
    assert_eq!(stays.values().filter_map(|n| n.as_u64()).sum::<u64>(), 20, "{stays:#?}");
    assert!(
        stays
            .keys()
            .all(|reason| reason.starts_with("payload is not a JSON object")),
        "{stays:#?}"
    );
    let ids = redriven_ids(&nats);
    let expected: BTreeSet<String> = (0..300).map(|i| format!("hot-{i:05}")).collect();
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "exactly the now-valid events"
    );
    assert!(ids.values().all(|n| *n == 1), "none twice");
    let broken: BTreeSet<String> = bad
        .iter()
        .filter(|(_, p)| p.starts_with("{broken"))
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(dead_payloads(&nats), broken, "the rest stay");

    // A second redrive adds nothing; the remaining reasons are what stats shows.
    let again = iotctl(&nats, &["dlq", "redrive", "-f", widened, "--format", "json"]);
    let again = json_lines(&again).pop().unwrap();
    assert_eq!(again["redrive"]["counts"]["redriven"].as_u64(), Some(0));
    assert_eq!(redriven_ids(&nats), ids);
    let stats = iotctl(&nats, &["dlq", "stats", "-f", SPEC, "--format", "json"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["stats"]["total"].as_u64(), Some(20));
    let listed = iotctl(&nats, &["dlq", "redrive", "list", "-f", SPEC, "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(listed["redrives"].as_array().unwrap().len(), 2);
}

#[test]
fn redrive_killed_at_random_points_and_resumed_moves_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let widened = widened_spec(dir.path());
    let widened = widened.to_str().unwrap();
    let expected: BTreeSet<String> = (0..2000).map(|i| format!("hot-{i:05}")).collect();
    let mut seed: u64 = 0xdead;
    let mut interrupted = 0;
    for trial in 0..10 {
        let nats = TestNats::start();
        apply(&root().join(SPEC), &nats);
        let bad = out_of_range(2000, 30);
        dead_letter(&nats, &bad);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(100 + (seed >> 33) % 900);
        let mut run = hermetic(&[
            "dlq",
            "redrive",
            "-f",
            widened,
            "--rate",
            "2500",
            "--nats-url",
            &nats.url,
        ]);
        interrupted += usize::from(kill_after(&mut run, delay));
        let listed = iotctl(&nats, &["dlq", "redrive", "list", "-f", SPEC, "--format", "json"]);
        let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
        let finish = match listed["redrives"].as_array().unwrap().first() {
            Some(record) => iotctl(
                &nats,
                &[
                    "dlq",
                    "redrive",
                    "-f",
                    widened,
                    "--resume",
                    record["id"].as_str().unwrap(),
                ],
            ),
            None => iotctl(&nats, &["dlq", "redrive", "-f", widened]), // killed before its record existed
        };
        assert_eq!(finish.status.code(), Some(0), "trial {trial}: {}", stderr(&finish));
        let ids = redriven_ids(&nats);
        assert_eq!(
            ids.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "trial {trial} (killed after {delay:?})"
        );
        assert!(ids.values().all(|n| *n == 1), "trial {trial}: an event redriven twice");
        assert_eq!(
            dead_payloads(&nats).len(),
            30,
            "trial {trial}: the broken ones stay, the rest are gone"
        );
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} of 10 redrives were killed while running"
    );
}

#[test]
fn bad_dlq_input_is_refused_with_a_clear_message() {
    let nats = TestNats::start();
    apply(&root().join(SPEC), &nats);
    dead_letter(&nats, &out_of_range(3, 0));
    let missing = iotctl(&nats, &["dlq", "show", "-f", SPEC, "999"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no dead letter at sequence 999"),
        "{}",
        stderr(&missing)
    );
    let shown = iotctl(&nats, &["dlq", "show", "-f", SPEC, "1", "--format", "json"]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let shown = json_lines(&shown).pop().unwrap();
    assert_eq!(
        shown["dead_letter"]["original_subject"],
        "iot.berlin.press.oil_temperature"
    );
    assert!(shown["payload"].as_str().unwrap().contains("hot-00000"));
    let site = iotctl(&nats, &["dlq", "redrive", "-f", SPEC, "--site", "paris"]);
    assert_eq!(site.status.code(), Some(2));
    assert!(
        stderr(&site).contains("--site `paris` is not in the spec"),
        "{}",
        stderr(&site)
    );
    let nothing = iotctl(&nats, &["dlq", "redrive", "-f", SPEC, "--site", "lyon"]);
    assert_eq!(nothing.status.code(), Some(0), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("no dead letter matches"),
        "{}",
        stderr(&nothing)
    );
    assert_eq!(read_stream(&nats, "FACTORY_DLQ").len(), 3, "nothing moved");
}

#[test]
fn redrive_to_the_original_subject_with_a_limit_and_its_ledger() {
    let nats = TestNats::start();
    apply(&root().join(SPEC), &nats);
    let dir = tempfile::tempdir().unwrap();
    let widened = widened_spec(dir.path());
    let widened = widened.to_str().unwrap();
    dead_letter(&nats, &out_of_range(50, 0));
    let telemetry_before = read_stream(&nats, "FACTORY_TELEMETRY").len();
    // A time range that ends before any dead letter was stored holds none.
    let before = iotctl(
        &nats,
        &["dlq", "stats", "-f", SPEC, "--until", "1h", "--format", "json"],
    );
    let before: serde_json::Value = serde_json::from_str(&stdout(&before)).unwrap();
    assert_eq!(before["stats"]["total"].as_u64(), Some(0));

    let run = iotctl(
        &nats,
        &[
            "dlq", "redrive", "-f", widened, "--to", "original", "--limit", "20", "--format", "json",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let summary = json_lines(&run).pop().unwrap();
    assert_eq!(
        summary["redrive"]["counts"]["redriven"].as_u64(),
        Some(20),
        "{summary:#}"
    );
    // Back on the original subject, in the telemetry stream, counted once each.
    let telemetry = read_stream(&nats, "FACTORY_TELEMETRY");
    assert_eq!(telemetry.len(), telemetry_before + 20);
    assert!(telemetry[telemetry_before..].iter().all(|(subject, _, headers)| {
        subject == "iot.berlin.press.oil_temperature" && headers.iter().any(|h| h == "Iotctl-Redrive-Count=1")
    }));
    assert_eq!(read_stream(&nats, "FACTORY_DLQ").len(), 30, "the limit leaves the rest");
    let id = summary["redrive"]["id"].as_str().unwrap();
    let shown = iotctl(&nats, &["dlq", "redrive", "show", "-f", SPEC, id, "--format", "json"]);
    let shown = json_lines(&shown).pop().unwrap();
    assert_eq!(shown["redrive"]["status"], "completed");
    assert_eq!(shown["redrive"]["target"], "original");
}
