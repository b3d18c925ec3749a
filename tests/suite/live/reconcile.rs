//! `iotctl simulate` and `iotctl reconcile` against a real nats-server, PostgreSQL and SQLMesh:
//! simulated telemetry is loaded into the warehouse, the daily models are built, and reconcile
//! must pass on that consistent state, then catch each kind of defect planted in it.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::{hermetic, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::postgres::TestPostgres;
use crate::harness::tools::{run_ok, venv_bin};

const SPEC: &str = "examples/factory.yaml";

struct Fixture {
    nats: TestNats,
    pg: TestPostgres,
    _dir: tempfile::TempDir,
    project: PathBuf,
    env: Vec<(String, String)>,
    /// The two simulated (closed) days, YYYY-MM-DD.
    days: [String; 2],
}

fn day_ago(n: i64) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    (today - time::Duration::days(n)).to_string()
}

impl Fixture {
    /// Streams, warehouse table and models applied; two days of simulated telemetry (with late
    /// and malformed events) published, loaded into the warehouse and the models restated.
    fn start() -> Fixture {
        let nats = TestNats::start();
        let pg = TestPostgres::start();
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("sqlmesh");
        let env = pg.sqlmesh_env("IOTCTL_WAREHOUSE_PASSWORD");
        let fixture = Fixture {
            nats,
            pg,
            _dir: dir,
            project,
            env,
            days: [day_ago(3), day_ago(2)],
        };
        let applied = fixture.iotctl(&["apply", "-f", SPEC, "--yes"], true);
        assert!(applied.status.success(), "{}", stderr(&applied));
        fixture.simulate(&["--start", &fixture.days[0], "--duration", "2d"]);
        fixture.load();
        fixture
    }

    fn iotctl(&self, args: &[&str], with_sqlmesh: bool) -> Output {
        let mut command = hermetic(args);
        command
            .args(["--nats-url", &self.nats.url, "--warehouse-url", &self.pg.url()])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if with_sqlmesh {
            command.args(["--sqlmesh-dir", self.project.to_str().unwrap()]);
            command.args(["--sqlmesh-bin", venv_bin("sqlmesh").to_str().unwrap()]);
            command.args(["--sqlmesh-gateway", "postgres"]);
        }
        command.output().unwrap()
    }

    fn simulate(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "simulate",
            "-f",
            SPEC,
            "--devices",
            "24",
            "--rate",
            "1/10min",
            "--late-fraction",
            "0.02",
            "--malformed-fraction",
            "0.01",
            "--anomalies",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let output = self.iotctl(&args, false);
        assert!(output.status.success(), "{}", stderr(&output));
        let summary = stdout(&output)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "summary")
            .expect("a summary line");
        let counts = &summary["counts"];
        assert_eq!(
            counts["published"], counts["stored"],
            "every event acked and stored once"
        );
        summary
    }

    /// Everything published in the last hour into the warehouse, models restated.
    fn load(&self) {
        let output = self.iotctl(
            &["replay", "-f", SPEC, "--since", "1h", "--to", "warehouse", "--restate"],
            true,
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }

    fn restate(&self) {
        let mut command = Command::new(venv_bin("sqlmesh"));
        command
            .current_dir(&self.project)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--gateway", "postgres", "plan"])
            .args(["--restate-model", "device_health.daily_device_metrics"])
            .args([
                "--start",
                &self.days[0],
                "--end",
                &self.days[1],
                "--auto-apply",
                "--no-prompts",
            ]);
        run_ok(&mut command);
    }

    fn reconcile(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        // --until is exclusive: the day after the second simulated day.
        let end = day_ago(1);
        let mut args = vec![
            "reconcile",
            "-f",
            SPEC,
            "--since",
            &self.days[0],
            "--until",
            &end,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let output = self.iotctl(&args, false);
        let json: serde_json::Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
        (output.status.code().unwrap_or(-1), json)
    }

    fn sql(&self, sql: &str) -> String {
        self.pg.psql(&["-c", sql]).trim().to_string()
    }
}

fn pair<'a>(json: &'a serde_json::Value, right: &str) -> &'a serde_json::Value {
    json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["right"] == right)
        .unwrap_or_else(|| panic!("no pair with {right}: {json}"))
}

fn mismatch_kinds(pair: &serde_json::Value) -> Vec<(String, String, String)> {
    pair["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["device_id"].as_str().unwrap().to_string(),
                m["day"].as_str().unwrap().to_string(),
                m["difference"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// One group of the batch model (device, metric) on `day`, by a deterministic pick.
fn some_group(f: &Fixture, day: &str, skip: usize) -> (String, String) {
    let row = f.sql(&format!(
        "SELECT device_id || '|' || metric FROM device_health.daily_device_metrics WHERE event_date = '{day}' AND sample_count > 5 ORDER BY device_id, metric OFFSET {skip} LIMIT 1"
    ));
    let (device, metric) = row.split_once('|').expect("a batch row");
    (device.to_string(), metric.to_string())
}

#[test]
fn reconcile_passes_on_consistent_data_and_catches_every_planted_defect() {
    let f = Fixture::start();
    consistent_data_passes(&f);
    the_stream_audit_fails_on_drift(&f);
    value_drift_is_caught_and_tolerated(&f);
    lost_and_duplicated_rows_are_counted(&f);
    duplicate_rows_and_missing_days_are_named(&f);
}

/// Consistent data: every group of both days matches.
fn consistent_data_passes(f: &Fixture) {
    // Consistent: every group of both days matches; the stream leg says why it was skipped.
    let consumers = |f: &Fixture| f.nats.streams()["FACTORY_TELEMETRY"]["state"]["consumer_count"].as_u64();
    let before = consumers(f).expect("monitoring reports the telemetry stream's consumers");
    let (code, json) = f.reconcile(&[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        consumers(f),
        Some(before),
        "reconcile deletes the consumers it read with"
    );
    let raw_batch = pair(&json, "batch");
    assert_eq!(raw_batch["status"], "pass");
    let groups = raw_batch["groups"].as_u64().unwrap();
    assert!(groups > 40, "{raw_batch}");
    assert_eq!(raw_batch["matched"].as_u64(), Some(groups));
    assert_eq!(pair(&json, "stream")["status"], "skipped");
    assert!(
        json["raw"]["invalid"].as_u64().unwrap() > 0,
        "malformed events are not counted"
    );
    assert_eq!(json["days"]["compared"], serde_json::json!(f.days));
}

/// The SQLMesh audit of the stream's sunk daily statistics fails on every planted defect.
fn the_stream_audit_fails_on_drift(f: &Fixture) {
    // The SQLMesh audit of the stream's sunk daily statistics: an exact copy of the batch
    // passes; one day-device with a reading too many fails.
    f.sql(
        "INSERT INTO iot_raw.stream_daily_device_metrics SELECT CAST(event_date AS TIMESTAMP) AT TIME ZONE 'UTC', site, device_type, device_id, metric, sample_count, min_value, max_value, avg_value FROM device_health.daily_device_metrics",
    );
    let audit = |f: &Fixture| {
        Command::new(venv_bin("sqlmesh"))
            .current_dir(&f.project)
            .envs(f.env.iter().map(|(k, v)| (k, v)))
            .args([
                "--gateway",
                "postgres",
                "audit",
                "--start",
                &f.days[0],
                "--end",
                &f.days[1],
            ])
            .output()
            .unwrap()
    };
    let passed = audit(f);
    assert!(passed.status.success(), "{}{}", stdout(&passed), stderr(&passed));
    assert!(stdout(&passed).contains("stream_matches_batch"), "{}", stdout(&passed));
    let copy = "INSERT INTO iot_raw.stream_daily_device_metrics SELECT CAST(event_date AS TIMESTAMP) AT TIME ZONE 'UTC', site, device_type, device_id, metric, sample_count, min_value, max_value, avg_value FROM device_health.daily_device_metrics";
    let first_group = "(device_id, metric) IN (SELECT device_id, metric FROM iot_raw.stream_daily_device_metrics ORDER BY device_id, metric LIMIT 1)";
    f.sql(&format!(
        "UPDATE iot_raw.stream_daily_device_metrics SET samples = samples + 1 WHERE {first_group}"
    ));
    let failed = audit(f);
    assert!(!failed.status.success(), "{}", stdout(&failed));
    assert!(stdout(&failed).contains("stream_matches_batch"), "{}", stdout(&failed));
    // A device-day the stream lacks fails too (an INNER JOIN let it pass) …
    f.sql("DELETE FROM iot_raw.stream_daily_device_metrics");
    f.sql(copy);
    f.sql(&format!(
        "DELETE FROM iot_raw.stream_daily_device_metrics WHERE {first_group}"
    ));
    let missing = audit(f);
    assert!(
        !missing.status.success(),
        "a group missing from the stream passed:\n{}",
        stdout(&missing)
    );
    // … and so does one only the stream holds.
    f.sql("DELETE FROM iot_raw.stream_daily_device_metrics");
    f.sql(copy);
    f.sql(&format!(
        "INSERT INTO iot_raw.stream_daily_device_metrics VALUES (TIMESTAMPTZ '{} 00:00:00+00', 'berlin', 'press', 'ghost-device', 'oil_temperature', 3, 1, 2, 1.5)",
        f.days[0]
    ));
    let extra = audit(f);
    assert!(
        !extra.status.success(),
        "a group only the stream holds passed:\n{}",
        stdout(&extra)
    );
    f.sql("DELETE FROM iot_raw.stream_daily_device_metrics");
}

/// Value drift beyond the tolerance, then forgiven by a looser one.
fn value_drift_is_caught_and_tolerated(f: &Fixture) {
    // Value drift beyond the tolerance, then forgiven by a looser one.
    let (device, metric) = some_group(f, &f.days[0], 0);
    let target = format!(
        "event_date = '{}' AND device_id = '{device}' AND metric = '{metric}'",
        f.days[0]
    );
    f.sql(&format!(
        "UPDATE device_health.daily_device_metrics SET avg_value = avg_value * 1.01 + 0.01 WHERE {target}"
    ));
    let (code, json) = f.reconcile(&[]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(
        mismatch_kinds(pair(&json, "batch")),
        vec![(device.clone(), f.days[0].clone(), "value".to_string())]
    );
    assert_eq!(f.reconcile(&["--tolerance", "0.05"]).0, 0);
    f.sql(&format!(
        "UPDATE device_health.daily_device_metrics SET avg_value = (avg_value - 0.01) / 1.01 WHERE {target}"
    ));
    assert_eq!(f.reconcile(&[]).0, 0, "the drift is undone");
}

/// Missing raw rows and rows duplicated under new ids, then repaired.
fn lost_and_duplicated_rows_are_counted(f: &Fixture) {
    // Missing raw rows and rows duplicated under new ids, carried into the models by a restate.
    let (lost_device, lost_metric) = some_group(f, &f.days[0], 1);
    let (dup_device, dup_metric) = some_group(f, &f.days[1], 2);
    let raw_group = |day: &str, device: &str, metric: &str| {
        format!("device_id = '{device}' AND metric = '{metric}' AND CAST(ts AT TIME ZONE 'UTC' AS DATE) = '{day}'")
    };
    f.sql(&format!(
        "DELETE FROM iot_raw.telemetry WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry WHERE {} ORDER BY event_id LIMIT 3)",
        raw_group(&f.days[0], &lost_device, &lost_metric)
    ));
    f.sql(&format!(
        "INSERT INTO iot_raw.telemetry SELECT 'dup-' || event_id, device_id, site, device_type, metric, ts, value, seq, firmware_version, line, operating_mode FROM iot_raw.telemetry WHERE {} ORDER BY event_id LIMIT 2",
        raw_group(&f.days[1], &dup_device, &dup_metric)
    ));
    f.restate();
    let (code, json) = f.reconcile(&[]);
    assert_eq!(code, 1, "{json:#}");
    let batch = pair(&json, "batch");
    assert_eq!(
        (batch["count_differs"].as_u64(), batch["mismatch_count"].as_u64()),
        (Some(2), Some(2))
    );
    let differences: Vec<(String, i64)> = batch["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let d = &m["difference"];
            (
                m["device_id"].as_str().unwrap().to_string(),
                d["right"].as_i64().unwrap() - d["left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(differences.contains(&(lost_device.clone(), -3)), "{differences:?}");
    assert!(differences.contains(&(dup_device.clone(), 2)), "{differences:?}");

    // Repaired by loading again (the lost rows come back) and dropping the stray copies.
    f.sql("DELETE FROM iot_raw.telemetry WHERE event_id LIKE 'dup-%'");
    f.load();
    assert_eq!(f.reconcile(&[]).0, 0, "repaired");
}

/// A row the batch model holds twice, and a day it lacks altogether.
fn duplicate_rows_and_missing_days_are_named(f: &Fixture) {
    // A row the batch model holds twice.
    let (twice, twice_metric) = some_group(f, &f.days[1], 3);
    f.sql(&format!(
        "INSERT INTO device_health.daily_device_metrics SELECT * FROM device_health.daily_device_metrics WHERE event_date = '{}' AND device_id = '{twice}' AND metric = '{twice_metric}'",
        f.days[1]
    ));
    let (code, json) = f.reconcile(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        mismatch_kinds(pair(&json, "batch")),
        vec![(twice.clone(), f.days[1].clone(), "duplicate_row".to_string())]
    );

    // A day missing from the batch altogether.
    f.sql(&format!(
        "DELETE FROM device_health.daily_device_metrics WHERE event_date = '{}'",
        f.days[1]
    ));
    let (code, json) = f.reconcile(&[]);
    assert_eq!(code, 1);
    let batch = pair(&json, "batch");
    assert_eq!(batch["days_missing_right"], serde_json::json!([f.days[1]]));
    assert!(batch["missing_right"].as_u64().unwrap() > 20, "{batch}");
    // Reconciling the other day alone still passes.
    let (code, _) = {
        let output = f.iotctl(&["reconcile", "-f", SPEC, "--date", &f.days[0]], false);
        (output.status.code(), stdout(&output))
    };
    assert_eq!(code, Some(0));
}

#[test]
fn reconcile_ignores_days_that_are_still_open_and_lists_missing_keys() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = pg.sqlmesh_env("IOTCTL_WAREHOUSE_PASSWORD");
    let f = Fixture {
        nats,
        pg,
        project: dir.path().join("sqlmesh"),
        _dir: dir,
        env,
        days: [day_ago(1), day_ago(0)],
    };
    let applied = f.iotctl(&["apply", "-f", SPEC, "--yes"], true);
    assert!(applied.status.success(), "{}", stderr(&applied));
    // Today's first minutes: published and loaded raw, but no daily model has run on today.
    let today = day_ago(0);
    f.simulate(&["--start", &today, "--duration", "10m"]);
    let output = f.iotctl(&["replay", "-f", SPEC, "--since", "1h", "--to", "warehouse"], false);
    assert!(output.status.success(), "{}", stderr(&output));
    let raw_today = f.sql(&format!(
        "SELECT count(*) FROM iot_raw.telemetry WHERE CAST(ts AT TIME ZONE 'UTC' AS DATE) = '{today}'"
    ));
    assert!(raw_today.parse::<u64>().unwrap() > 0);
    let batch_today = f.sql(&format!(
        "SELECT count(*) FROM device_health.daily_device_metrics WHERE event_date = '{today}'"
    ));
    assert_eq!(batch_today, "0", "raw and batch do disagree about today");

    let output = f.iotctl(
        &[
            "reconcile",
            "-f",
            SPEC,
            "--since",
            "1d",
            "--until",
            "0s",
            "--format",
            "json",
        ],
        false,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["days"]["open"], serde_json::json!([today]));
    assert_eq!(json["days"]["compared"], serde_json::json!([day_ago(1)]));

    // Human output of a failing run names the missing keys: yesterday gets events the batch lacks.
    f.simulate(&["--start", &day_ago(1), "--duration", "5m"]);
    let output = f.iotctl(&["reconcile", "-f", SPEC, "--date", &day_ago(1)], false);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("FAIL") && text.contains("missing from batch"), "{text}");
    assert!(
        text.contains(&format!("batch has nothing at all for {}", day_ago(1))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&day_ago(1)) && (l.contains("berlin-") || l.contains("lyon-"))),
        "the missing keys are listed: {text}"
    );
}

/// The embedded default: replay into DuckDB, SQLMesh on DuckDB, reconcile from the DuckDB file.
/// Also `--dedupe-ids`: publishing the same range again stores nothing.
#[test]
fn reconcile_on_the_embedded_duckdb_warehouse_and_dedupe_ids() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let day = day_ago(2);
    let bin = venv_bin("sqlmesh");
    let run = |args: &[&str]| {
        let mut command = hermetic(args);
        command.args(["--nats-url", &nats.url]);
        command.args([
            "--sqlmesh-dir",
            project.to_str().unwrap(),
            "--sqlmesh-bin",
            bin.to_str().unwrap(),
        ]);
        command.args(["--sqlmesh-gateway", "duckdb"]);
        command.output().unwrap()
    };
    let ok = |output: Output| {
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        output
    };
    ok(run(&["apply", "-f", SPEC, "--yes", "--only", "nats"]));
    simulate_twice_with_dedupe_ids(&run, &day);

    ok(run(&["replay", "-f", SPEC, "--since", "1h", "--to", "warehouse"]));
    ok(run(&["apply", "-f", SPEC, "--yes"]));
    let passed = ok(run(&["reconcile", "-f", SPEC, "--date", &day, "--format", "json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&passed)).unwrap();
    let batch = pair(&json, "batch");
    assert_eq!(batch["status"], "pass", "{json:#}");
    assert!(batch["groups"].as_u64().unwrap() >= 24);
    assert!(json["batch_source"].as_str().unwrap().starts_with("DuckDB"));

    lost_rows_are_caught(&run, &project, &day);
}

/// Simulates a day twice with `--dedupe-ids`: the second run stores nothing.
fn simulate_twice_with_dedupe_ids(run: &dyn Fn(&[&str]) -> Output, day: &str) {
    let ok = |output: Output| {
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        output
    };
    let simulate = [
        "simulate",
        "-f",
        SPEC,
        "--devices",
        "12",
        "--rate",
        "1/15min",
        "--start",
        day,
    ];
    let simulate: Vec<&str> = simulate
        .iter()
        .copied()
        .chain(["--duration", "1d", "--dedupe-ids", "--format", "json"])
        .collect();
    let counts = |output: &Output| {
        let summary: serde_json::Value = stdout(output)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .next_back()
            .unwrap();
        summary["counts"].clone()
    };
    let first = counts(&ok(run(&simulate)));
    let again = counts(&ok(run(&simulate)));
    assert!(first["stored"].as_u64().unwrap() > 1000);
    assert_eq!(
        (again["stored"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), first["stored"].as_u64())
    );
}

/// Rows lost from the DuckDB raw table, the day restated: caught, with the device named.
fn lost_rows_are_caught(run: &dyn Fn(&[&str]) -> Output, project: &std::path::Path, day: &str) {
    let bin = venv_bin("sqlmesh");
    let database = project.join("iotctl.duckdb");
    let delete = format!(
        "import duckdb; con = duckdb.connect({:?}); print(con.execute(\"DELETE FROM iot_raw.telemetry WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry ORDER BY event_id LIMIT 2) RETURNING device_id\").fetchall()[0][0])",
        database.to_str().unwrap()
    );
    let victim = run_ok(Command::new(venv_bin("python")).args(["-c", &delete]));
    let victim = String::from_utf8_lossy(&victim.stdout).trim().to_string();
    run_ok(
        Command::new(&bin)
            .current_dir(project)
            .args([
                "--gateway",
                "duckdb",
                "plan",
                "--restate-model",
                "device_health.daily_device_metrics",
            ])
            .args(["--start", day, "--end", day, "--auto-apply", "--no-prompts"]),
    );
    let failed = run(&["reconcile", "-f", SPEC, "--date", day]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(stdout(&failed).contains(&victim), "{}", stdout(&failed));
}
