//! The batch path as SQLMesh runs it, driven by `iotctl apply` and `replay --restate`: late
//! data beyond the lookback, closed days not built yet, a restatement that fails half-way
//! (DuckDB deletes the day, then the insert fails) reported and repaired on `--resume`.
//! Model rows are read back with the venv's duckdb package or psql, not through iotctl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::replay::{apply, events, publish};
use crate::common::{hermetic, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::postgres::TestPostgres;
use crate::harness::tools::{run_ok, venv_bin};

const DAY: &str = "2026-01-01";

/// An iotctl command on the factory example, with the SQLMesh project of `project`.
fn iotctl(nats: &TestNats, project: &Path, gateway: &str, args: &[&str]) -> Output {
    let bin = venv_bin("sqlmesh");
    let mut command = hermetic(args);
    command.args([
        "-f",
        "examples/factory.yaml",
        "--nats-url",
        &nats.url,
        "--sqlmesh-dir",
        project.to_str().unwrap(),
        "--sqlmesh-bin",
        bin.to_str().unwrap(),
        "--sqlmesh-gateway",
        gateway,
    ]);
    command.output().expect("iotctl runs")
}

fn apply_sqlmesh(nats: &TestNats, project: &Path, gateway: &str, extra: &[&str]) -> Output {
    let mut args = vec!["apply", "--only", "sqlmesh", "--yes"];
    args.extend_from_slice(extra);
    iotctl(nats, project, gateway, &args)
}

fn plan_sqlmesh(nats: &TestNats, project: &Path, gateway: &str, extra: &[&str]) -> Output {
    let mut args = vec!["plan", "--only", "sqlmesh", "--check"];
    args.extend_from_slice(extra);
    iotctl(nats, project, gateway, &args)
}

fn duckdb_file(project: &Path) -> PathBuf {
    project.join("iotctl.duckdb")
}

/// Runs `statements` (Python with a DuckDB connection `c`) on the project's DuckDB file and
/// returns what they print.
fn duckdb(project: &Path, statements: &str) -> String {
    let script = format!(
        "import duckdb\nc = duckdb.connect({:?})\n{statements}",
        duckdb_file(project).to_str().unwrap()
    );
    stdout(&run_ok(Command::new(venv_bin("python")).args(["-c", &script])))
}

/// (raw rows, device-metrics readings, site-rollup readings) of `day` in DuckDB.
fn duckdb_counts(project: &Path, day: &str) -> (u64, u64, u64) {
    let text = duckdb(
        project,
        &format!(
            "print(c.execute(\"SELECT (SELECT count(*) FROM iot_raw.telemetry WHERE CAST(ts AT TIME ZONE 'UTC' AS DATE) = DATE '{day}'), (SELECT coalesce(sum(sample_count), 0) FROM device_health.daily_device_metrics WHERE event_date = DATE '{day}'), (SELECT coalesce(sum(sample_count), 0) FROM device_health.daily_site_rollup WHERE event_date = DATE '{day}')\").fetchone())"
        ),
    );
    let numbers: Vec<u64> = text
        .trim()
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// Copies one raw row of `day` under a new identity, a minute later: a late reading, written
/// straight into the raw table as RisingWave's warehouse sink writes it.
const LATE_ROW: &str = "INSERT INTO iot_raw.telemetry SELECT 'late-' || event_id, device_id, site, device_type, metric, ts + INTERVAL 1 MINUTE, value, seq + 1000000, firmware_version, line, operating_mode FROM iot_raw.telemetry WHERE CAST(ts AT TIME ZONE 'UTC' AS DATE) = DATE '2026-01-01' ORDER BY event_id LIMIT 1";

/// Moves the thresholds model's physical table away (or back): the daily model joins it,
/// so a restatement deletes its days and then fails on the insert.
fn move_thresholds(project: &Path, away: bool) {
    let (from, to) = if away { ("", "_moved") } else { ("_moved", "") };
    duckdb(
        project,
        &format!(
            "for s, n in c.execute(\"SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'device_health__metric_thresholds__%{from}' AND table_type = 'BASE TABLE'\").fetchall():\n    base = n[:len(n) - len('{from}')] if '{from}' else n\n    c.execute(f'ALTER TABLE {{s}}.\"{{n}}\" RENAME TO \"{{base}}{to}\"')"
        ),
    );
}

/// Publishes one day of sample telemetry and loads it into DuckDB with `replay --to warehouse`,
/// then builds the models with `apply`.
fn loaded_and_built(nats: &TestNats, project: &Path) {
    apply(Path::new("examples/factory.yaml"), nats);
    // One reading at a leap second: DuckDB refuses `23:59:60`, so iotctl writes the next
    // second, where PostgreSQL and RisingWave put it (the first second of the next day).
    let mut day = events("2", "3600");
    let mut leap: serde_json::Value = serde_json::from_str(&day[0].1).unwrap();
    leap["event_id"] = serde_json::json!("leap-second");
    leap["ts"] = serde_json::json!(format!("{DAY}T23:59:60Z"));
    day.push((day[0].0.clone(), leap.to_string()));
    publish(nats, &day);
    let load = iotctl(
        nats,
        project,
        "duckdb",
        &["replay", "--since", "1h", "--to", "warehouse"],
    );
    assert_eq!(load.status.code(), Some(0), "{}", stderr(&load));
    assert_eq!(
        duckdb(project, "print(c.execute(\"SELECT CAST(ts AT TIME ZONE 'UTC' AS VARCHAR) FROM iot_raw.telemetry WHERE event_id = 'leap-second'\").fetchone()[0])").trim(),
        "2026-01-02 00:00:00"
    );
    let built = apply_sqlmesh(nats, project, "duckdb", &[]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let (raw, model, rollup) = duckdb_counts(project, DAY);
    assert!(raw > 0);
    assert_eq!((model, rollup), (raw, raw), "the first apply builds the day");
}

#[test]
fn late_data_beyond_the_lookback_and_unbuilt_days_reach_the_models_on_duckdb() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    loaded_and_built(&nats, &project);
    let (raw, ..) = duckdb_counts(&project, DAY);

    // A late reading for a day eleven months past the lookback of two days.
    duckdb(&project, &format!("c.execute(\"{LATE_ROW}\")"));
    let plan = plan_sqlmesh(&nats, &project, "duckdb", &[]);
    assert_eq!(plan.status.code(), Some(1), "drift: {}", stdout(&plan));
    assert!(
        stdout(&plan).contains(&format!(
            "restate 1 built day(s) on gateway duckdb whose warehouse rows changed ({DAY}: warehouse {} readings, device metrics {raw}",
            raw + 1
        )),
        "{}",
        stdout(&plan)
    );
    let restated = apply_sqlmesh(&nats, &project, "duckdb", &["--format", "json"]);
    assert_eq!(restated.status.code(), Some(0), "{}", stderr(&restated));
    assert_eq!(duckdb_counts(&project, DAY), (raw + 1, raw + 1, raw + 1));
    let in_sync = plan_sqlmesh(&nats, &project, "duckdb", &[]);
    assert_eq!(in_sync.status.code(), Some(0), "{}", stdout(&in_sync));

    // Yesterday, closed but not built yet (as every day is until a run): a reading lands
    // in the raw table, and SQLMesh's state forgets the day.
    let yesterday = duckdb(
        &project,
        &format!("{LATE_ROW_YESTERDAY}\nprint(c.execute(\"SELECT CAST(current_date - 1 AS VARCHAR)\").fetchone()[0])"),
    )
    .trim()
    .to_string();
    forget_day(&project, &yesterday);
    let plan = plan_sqlmesh(&nats, &project, "duckdb", &["--format", "json"]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let changes = answer["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "a day run builds is not restated as well: {answer}");
    assert_eq!(changes[0]["op"], "build_sqlmesh_days", "{answer}");
    let days = changes[0]["days"].as_array().unwrap();
    assert_eq!(days.last().unwrap(), &serde_json::json!(yesterday), "{answer}");
    let built = apply_sqlmesh(&nats, &project, "duckdb", &[]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert!(
        stdout(&built).contains("closed day(s) on gateway duckdb with sqlmesh run"),
        "{}",
        stdout(&built)
    );
    assert_eq!(duckdb_counts(&project, &yesterday), (1, 1, 1));
    let in_sync = plan_sqlmesh(&nats, &project, "duckdb", &[]);
    assert_eq!(in_sync.status.code(), Some(0), "{}", stdout(&in_sync));
}

/// A reading at noon UTC yesterday, copied from one of the sample's (Python, connection `c`).
const LATE_ROW_YESTERDAY: &str = "c.execute(\"INSERT INTO iot_raw.telemetry SELECT 'yesterday-' || event_id, device_id, site, device_type, metric, CAST(current_date - 1 AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL 12 HOUR, value, seq + 2000000, firmware_version, line, operating_mode FROM iot_raw.telemetry ORDER BY event_id LIMIT 1\")";

/// Removes `day` from the intervals SQLMesh's state records for the daily device metrics.
fn forget_day(project: &Path, day: &str) {
    forget_day_on(
        project,
        day,
        "duckdb",
        &[("IOTCTL_DUCKDB_PATH".into(), duckdb_file(project).display().to_string())],
    );
}

fn forget_day_on(project: &Path, day: &str, gateway: &str, env: &[(String, String)]) {
    let script = format!(
        "import os\nos.chdir({project:?})\nfrom datetime import datetime, timezone\nfrom sqlmesh import Context\nctx = Context(paths=['.'], gateway='{gateway}')\nsnapshot = ctx.state_reader.get_snapshots([s.snapshot_id for s in ctx.state_reader.get_environment('prod').snapshots if s.name.endswith('\"daily_device_metrics\"')]).popitem()[1]\nstart = int(datetime.fromisoformat('{day}').replace(tzinfo=timezone.utc).timestamp() * 1000)\nctx.state_sync.remove_intervals([(snapshot, (start, start + 86400000))])",
        project = project.to_str().unwrap()
    );
    let mut command = Command::new(venv_bin("python"));
    command.args(["-c", &script]).envs(env.iter().map(|(k, v)| (k, v)));
    run_ok(&mut command);
}

#[test]
fn postgres_apply_retries_a_failed_plan_then_builds_an_unbuilt_closed_day() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let url = pg.url();
    let warehouse = ["--warehouse-url", url.as_str()];
    // A plan reads SQLMesh's state; on a warehouse without any it writes none. (The project
    // rendered in place, so that the files match and SQLMesh's state is asked.)
    let rendered = hermetic(&[
        "render",
        "-q",
        "-f",
        "examples/factory.yaml",
        "--out",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let planned = iotctl(
        &nats,
        &project,
        "postgres",
        &["plan", "--only", "sqlmesh", "--warehouse-url", &url],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    assert!(
        stdout(&planned).contains("no plan of it has finished there"),
        "{}",
        stdout(&planned)
    );
    assert_eq!(
        pg.psql(&[
            "-c",
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'sqlmesh'"
        ])
        .trim(),
        "0"
    );
    // No raw table yet: the models cannot be planned, and the failure is not forgotten.
    for _ in 0..2 {
        let failed = apply_sqlmesh_with(&nats, &project, &["--only", "sqlmesh"], &warehouse);
        assert_eq!(failed.status.code(), Some(3), "{}", stderr(&failed));
        assert!(stderr(&failed).contains("sqlmesh plan failed"), "{}", stderr(&failed));
    }
    let repaired = apply_sqlmesh_with(&nats, &project, &["--only", "warehouse,sqlmesh"], &warehouse);
    assert_eq!(repaired.status.code(), Some(0), "{}", stderr(&repaired));
    let in_sync = iotctl(
        &nats,
        &project,
        "postgres",
        &["plan", "--only", "sqlmesh", "--check", "--warehouse-url", &url],
    );
    assert_eq!(in_sync.status.code(), Some(0), "{}", stdout(&in_sync));

    // Yesterday gets a reading and SQLMesh's state forgets the day, as before its first run.
    pg.psql(&["-c", "INSERT INTO iot_raw.telemetry (event_id, device_id, site, device_type, metric, ts, value, seq, firmware_version) VALUES ('yesterday-1', 'berlin-press-001', 'berlin', 'press', 'oil_temperature', (current_date - 1)::timestamp AT TIME ZONE 'UTC' + interval '12 hours', 50, 1, '1.0.0')"]);
    let yesterday = pg
        .psql(&["-c", "SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text"])
        .trim()
        .to_string();
    forget_day_on(
        &project,
        &yesterday,
        "postgres",
        &pg.sqlmesh_env("IOTCTL_WAREHOUSE_PASSWORD"),
    );
    let plan = iotctl(
        &nats,
        &project,
        "postgres",
        &["plan", "--only", "sqlmesh", "--format", "json", "--warehouse-url", &url],
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let changes = answer["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{answer}");
    assert_eq!(changes[0]["op"], "build_sqlmesh_days", "{answer}");
    assert_eq!(
        changes[0]["days"].as_array().unwrap().last().unwrap(),
        &serde_json::json!(yesterday)
    );
    let built = apply_sqlmesh_with(&nats, &project, &["--only", "sqlmesh"], &warehouse);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert_eq!(Warehouse::Postgres(&pg).counts(&yesterday), (1, 1, 1));
}

/// The warehouse of a test: the project's DuckDB file, or a throwaway PostgreSQL.
enum Warehouse<'a> {
    Duckdb(&'a Path),
    Postgres(&'a TestPostgres),
}

impl Warehouse<'_> {
    fn gateway(&self) -> &'static str {
        match self {
            Warehouse::Duckdb(_) => "duckdb",
            Warehouse::Postgres(_) => "postgres",
        }
    }

    /// Flags every command of the test takes to reach this warehouse.
    fn flags(&self) -> Vec<String> {
        match self {
            Warehouse::Duckdb(_) => Vec::new(),
            Warehouse::Postgres(pg) => vec!["--warehouse-url".into(), pg.url()],
        }
    }

    /// (raw rows, device-metrics readings, site-rollup readings) of `day`.
    fn counts(&self, day: &str) -> (u64, u64, u64) {
        match self {
            Warehouse::Duckdb(project) => duckdb_counts(project, day),
            Warehouse::Postgres(pg) => {
                let text = pg.psql(&["-c", &format!("SELECT (SELECT count(*) FROM iot_raw.telemetry WHERE CAST(ts AT TIME ZONE 'UTC' AS DATE) = DATE '{day}') || ',' || (SELECT coalesce(sum(sample_count), 0) FROM device_health.daily_device_metrics WHERE event_date = DATE '{day}') || ',' || (SELECT coalesce(sum(sample_count), 0) FROM device_health.daily_site_rollup WHERE event_date = DATE '{day}')")]);
                let n: Vec<u64> = text.trim().split(',').map(|x| x.parse().unwrap()).collect();
                (n[0], n[1], n[2])
            }
        }
    }

    /// Moves the thresholds model's physical table away (or back): the daily model joins
    /// it, so a restatement fails on its insert.
    fn move_thresholds(&self, away: bool) {
        match self {
            Warehouse::Duckdb(project) => move_thresholds(project, away),
            Warehouse::Postgres(pg) => {
                let (filter, target) = if away {
                    ("NOT LIKE '%\\_moved'", "r.table_name || '_moved'")
                } else {
                    ("LIKE '%\\_moved'", "left(r.table_name, -6)")
                };
                pg.psql(&["-c", &format!("DO $$ DECLARE r record; BEGIN FOR r IN SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'device\\_health\\_\\_metric\\_thresholds\\_\\_%' AND table_name {filter} AND table_type = 'BASE TABLE' LOOP EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', r.table_schema, r.table_name, {target}); END LOOP; END $$")]);
            }
        }
    }
}

/// A restatement that fails is reported, stays pending in the replay ledger, and is repaired
/// by `--resume` once its cause is; on DuckDB the failed one leaves the day deleted.
fn failed_restatement_is_repaired_on_resume(warehouse: &Warehouse, nats: &TestNats, project: &Path) {
    let run = |args: &[&str]| {
        let flags = warehouse.flags();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(flags.iter().map(String::as_str));
        iotctl(nats, project, warehouse.gateway(), &all)
    };
    let (raw, model, rollup) = warehouse.counts(DAY);
    assert!(raw > 0);
    assert_eq!((model, rollup), (raw, raw), "built before the test");

    // The same range replayed with --restate, while the restatement's insert cannot run.
    warehouse.move_thresholds(true);
    let failed = run(&[
        "replay",
        "--since",
        "1h",
        "--to",
        "warehouse",
        "--restate",
        "--format",
        "json",
    ]);
    assert_eq!(failed.status.code(), Some(3), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("did not finish"), "{}", stderr(&failed));
    if let Warehouse::Duckdb(_) = warehouse {
        let (_, model, _) = warehouse.counts(DAY);
        assert_eq!(
            model, 0,
            "DuckDB deleted the day before the failed insert: the hole this test is about"
        );
    }
    let id = stderr(&failed)
        .split("--resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the error names the replay to resume")
        .to_string();
    let record = |run: &dyn Fn(&[&str]) -> Output| -> serde_json::Value {
        serde_json::from_str(&stdout(&run(&["replay", "show", &id, "--format", "json"]))).unwrap()
    };
    let shown = record(&run);
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!(shown["restate"], "pending", "{shown}");

    // Resumed before the cause is repaired: still reported, still pending.
    let again = run(&["replay", "--resume", &id]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert_eq!(record(&run)["restate"], "pending");

    warehouse.move_thresholds(false);
    let repaired = run(&["replay", "--resume", &id]);
    assert_eq!(repaired.status.code(), Some(0), "{}", stderr(&repaired));
    assert!(
        stderr(&repaired).contains("every day matches the warehouse"),
        "{}",
        stderr(&repaired)
    );
    assert_eq!(warehouse.counts(DAY), (raw, raw, raw));
    assert_eq!(record(&run)["restate"], "done");
    let done = run(&["replay", "--resume", &id]);
    assert!(stderr(&done).contains("nothing to resume"), "{}", stderr(&done));
}

#[test]
fn a_restatement_that_fails_after_deleting_is_reported_and_repaired_on_resume() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    loaded_and_built(&nats, &project);
    failed_restatement_is_repaired_on_resume(&Warehouse::Duckdb(&project), &nats, &project);
}

#[test]
fn a_failed_restatement_on_postgres_is_reported_and_repaired_on_resume() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    postgres_loaded_and_built(&nats, &pg, &project, &events("2", "3600"));
    failed_restatement_is_repaired_on_resume(&Warehouse::Postgres(&pg), &nats, &project);
}

/// Creates the warehouse table and the models on `pg`, publishes `events`, loads them with
/// `replay --to warehouse` and builds the models. No SQLMesh connection variables: iotctl
/// passes SQLMesh the warehouse it loads.
fn postgres_loaded_and_built(nats: &TestNats, pg: &TestPostgres, project: &Path, events: &[(String, String)]) {
    apply(Path::new("examples/factory.yaml"), nats);
    let url = pg.url();
    let warehouse = ["--warehouse-url", url.as_str()];
    let created = apply_sqlmesh_with(nats, project, &["--only", "warehouse,sqlmesh"], &warehouse);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    publish(nats, events);
    load_into_postgres(nats, pg, project);
    let built = apply_sqlmesh_with(nats, project, &["--only", "sqlmesh"], &warehouse);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
}

/// `replay --to warehouse` of the last hour into `pg`.
fn load_into_postgres(nats: &TestNats, pg: &TestPostgres, project: &Path) {
    let url = pg.url();
    let load = iotctl(
        nats,
        project,
        "postgres",
        &["replay", "--since", "1h", "--to", "warehouse", "--warehouse-url", &url],
    );
    assert_eq!(load.status.code(), Some(0), "{}", stderr(&load));
}

#[test]
fn late_data_loaded_by_replay_reaches_the_models_on_postgres_through_one_warehouse() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let url = pg.url();
    apply(Path::new("examples/factory.yaml"), &nats);
    let mut day = events("2", "3600");
    // One reading a tenth of a microsecond before midnight: PostgreSQL would round it into
    // the next day; iotctl writes it truncated, as DuckDB and RisingWave read it.
    let last = day.len() - 1;
    let mut edge: serde_json::Value = serde_json::from_str(&day[last].1).unwrap();
    edge["ts"] = serde_json::json!(format!("{DAY}T23:59:59.9999996Z"));
    day[last].1 = edge.to_string();
    let (first, late) = day.split_at(day.len() - 5);
    postgres_loaded_and_built(&nats, &pg, &project, first);
    let n = first.len() as u64;
    assert_eq!(Warehouse::Postgres(&pg).counts(DAY), (n, n, n));

    // Five readings of the same day arrive eleven months late, loaded by replay alone.
    publish(&nats, late);
    load_into_postgres(&nats, &pg, &project);
    let warehouse = ["--warehouse-url", url.as_str()];
    let restated = apply_sqlmesh_with(&nats, &project, &["--only", "sqlmesh"], &warehouse);
    assert_eq!(restated.status.code(), Some(0), "{}", stderr(&restated));
    assert!(
        stdout(&restated).contains("restate 1 built day(s)"),
        "{}",
        stdout(&restated)
    );
    let all = day.len() as u64;
    assert_eq!(Warehouse::Postgres(&pg).counts(DAY), (all, all, all));
    // The day filter is a range on ts, which the raw table's index serves.
    let explain = pg.psql(&["-c", "SET enable_seqscan = off; EXPLAIN SELECT count(*) FROM iot_raw.telemetry AS t WHERE t.ts <= CAST('2026-01-01 23:59:59.999999+00:00' AS TIMESTAMPTZ) AND t.ts >= CAST('2026-01-01 00:00:00+00:00' AS TIMESTAMPTZ)"]);
    assert!(explain.contains("telemetry_ts_idx"), "{explain}");
}

fn apply_sqlmesh_with(nats: &TestNats, project: &Path, only: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["apply", "--yes", "--allow-destructive"];
    args.extend_from_slice(only);
    args.extend_from_slice(extra);
    iotctl(nats, project, "postgres", &args)
}

/// `sqlmesh audit` of `model` over the test day, as iotctl would run it (its DuckDB path).
fn audit(project: &Path, model: &str) -> Output {
    Command::new(venv_bin("sqlmesh"))
        .args([
            "--gateway",
            "duckdb",
            "audit",
            "--model",
            model,
            "--start",
            DAY,
            "--end",
            DAY,
        ])
        .current_dir(project)
        .env("IOTCTL_DUCKDB_PATH", duckdb_file(project))
        .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
        .output()
        .unwrap()
}

/// Runs `statement` on the physical table of `model` (its `{table}` placeholder).
fn on_physical_table(project: &Path, model: &str, statement: &str) {
    duckdb(
        project,
        &format!(
            "for s, n in c.execute(\"SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'device_health__{model}__%' AND table_type = 'BASE TABLE'\").fetchall():\n    c.execute(\"{}\".replace('{{table}}', f'{{s}}.{{n}}'))",
            statement.replace('"', "\\\"")
        ),
    );
}

#[test]
fn each_audit_fails_on_bad_data() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    loaded_and_built(&nats, &project);
    let all = [
        "device_health.metric_thresholds",
        "device_health.daily_device_metrics",
        "device_health.daily_site_rollup",
    ];
    for model in all {
        let output = audit(&project, model);
        assert!(
            output.status.success() && !stdout(&output).contains("FAIL"),
            "{model}: {}{}",
            stdout(&output),
            stderr(&output)
        );
    }
    let fails = |model: &str, audit_name: &str| {
        let output = audit(&project, model);
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(text.contains(audit_name), "{model} must fail {audit_name}: {text}");
        assert!(!output.status.success() || text.contains("FAIL"), "{model}: {text}");
    };

    // A threshold row twice would double every reading the daily model joins to it.
    on_physical_table(
        &project,
        "metric_thresholds",
        "INSERT INTO {table} SELECT * FROM {table} LIMIT 1",
    );
    fails("device_health.metric_thresholds", "unique_combination_of_columns");

    // A rollup that no longer sums its devices: one model rebuilt without the other.
    on_physical_table(
        &project,
        "daily_site_rollup",
        "UPDATE {table} SET sample_count = sample_count + 1 WHERE rowid = (SELECT min(rowid) FROM {table})",
    );
    fails("device_health.daily_site_rollup", "rollup_matches_device_metrics");

    // The stream sank a device-day the batch never saw.
    duckdb(
        &project,
        "c.execute(\"INSERT INTO iot_raw.stream_daily_device_metrics (window_start, site, device_type, device_id, metric, samples, min_value, max_value, avg_value) VALUES (TIMESTAMPTZ '2026-01-01 00:00:00+00', 'berlin', 'press', 'ghost-001', 'oil_temperature', 5, 1, 2, 1.5)\")",
    );
    fails("device_health.daily_device_metrics", "stream_matches_batch");
}
