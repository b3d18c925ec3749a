//! `iotctl apply` for the warehouse (real PostgreSQL) and SQLMesh (real sqlmesh on DuckDB and
//! PostgreSQL). NATS runs too: it holds the apply lock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::postgres::TestPostgres;
use crate::harness::tools::{run_ok, venv_bin};

fn iotctl(args: &[&str], env: &[(String, String)]) -> Output {
    let mut command = hermetic(args);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command.output().expect("iotctl runs")
}

fn variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let path = dir.join("variant.yaml");
    std::fs::write(
        &path,
        edit(std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap()),
    )
    .unwrap();
    path
}

#[test]
fn warehouse_table_is_created_evolved_and_protected() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let spec = root().join("examples/factory.yaml");
    let url = pg.url();
    let args = |spec: &Path, extra: &[&str]| -> Output {
        let mut a = vec![
            "apply",
            "-f",
            spec.to_str().unwrap(),
            "--nats-url",
            &nats.url,
            "--warehouse-url",
            &url,
            "--only",
            "warehouse",
            "--yes",
        ];
        a.extend_from_slice(extra);
        iotctl(&a, &[])
    };
    let first = args(&spec, &[]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    assert!(
        !stdout(&first).contains(crate::harness::postgres::PASSWORD)
            && !stderr(&first).contains(crate::harness::postgres::PASSWORD),
        "the password leaked"
    );
    let key = pg.psql(&["-c", "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'iot_raw.telemetry'::regclass AND i.indisprimary"]);
    assert_eq!(key.trim(), "event_id");
    let columns = pg.psql(&["-c", "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'iot_raw' AND table_name = 'telemetry'"]);
    assert_eq!(
        columns.trim(),
        "event_id:text,device_id:text,site:text,device_type:text,metric:text,ts:timestamp with time zone,value:double precision,seq:bigint,firmware_version:text,line:text,operating_mode:text"
    );
    let again = args(&spec, &[]);
    assert!(stderr(&again).contains("no changes"), "{}", stderr(&again));

    // Rows held, then a column removed from the contract: destructive, refused by default.
    pg.psql(&["-c", "INSERT INTO iot_raw.telemetry (event_id, device_id, site, device_type, metric, ts, value, firmware_version, line) VALUES ('e1', 'd1', 'berlin', 'press', 'oil_temperature', now(), 20, '1.0', 'body-1')"]);
    let dir = tempfile::tempdir().unwrap();
    let without_line = variant(dir.path(), |t| {
        t.replace("    - name: line\n      type: string\n      required: false\n      description: Production line within the site\n", "")
    });
    let refused = args(&without_line, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("column line"), "{}", stderr(&refused));
    assert_eq!(
        pg.psql(&["-c", "SELECT line FROM iot_raw.telemetry"]).trim(),
        "body-1",
        "nothing may be applied"
    );
    // An added optional field is additive and applies without ceremony.
    let with_rssi = variant(dir.path(), |t| {
        t.replace(
            "  extra_fields:\n",
            "  extra_fields:\n    - name: rssi\n      type: integer\n",
        )
    });
    let added = args(&with_rssi, &[]);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    assert_eq!(
        pg.psql(&[
            "-c",
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'iot_raw' AND column_name = 'rssi'"
        ])
        .trim(),
        "1"
    );
    assert_eq!(
        pg.psql(&["-c", "SELECT count(*) FROM iot_raw.telemetry"]).trim(),
        "1",
        "rows survive additive changes"
    );
}

fn sqlmesh_apply(
    project: &Path,
    nats: &TestNats,
    gateway: &str,
    only: &str,
    env: &[(String, String)],
    extra: &[&str],
) -> Output {
    let spec = root().join("examples/factory.yaml");
    let bin = venv_bin("sqlmesh");
    let mut args = vec![
        "apply",
        "-f",
        spec.to_str().unwrap(),
        "--nats-url",
        &nats.url,
        "--only",
        only,
        "--yes",
        "--sqlmesh-dir",
        project.to_str().unwrap(),
        "--sqlmesh-bin",
        bin.to_str().unwrap(),
        "--sqlmesh-gateway",
        gateway,
    ];
    args.extend_from_slice(extra);
    iotctl(&args, env)
}

#[test]
fn sqlmesh_apply_on_duckdb_creates_the_models_and_reapply_is_a_noop() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    std::fs::create_dir_all(&project).unwrap();
    // The warehouse table the models read, with two days of sample telemetry.
    let rendered = dir.path().join("rendered");
    let render = iotctl(
        &[
            "render",
            "-q",
            "-f",
            "examples/factory.yaml",
            "--out",
            rendered.to_str().unwrap(),
        ],
        &[],
    );
    assert!(render.status.success());
    let sample = iotctl(
        &["sample", "-f", "examples/factory.yaml", "--days", "2", "--devices", "1"],
        &[],
    );
    std::fs::write(dir.path().join("sample.csv"), &sample.stdout).unwrap();
    run_ok(
        Command::new(venv_bin("python"))
            .arg(root().join("scripts/load_duckdb.py"))
            .arg(project.join("iotctl.duckdb"))
            .arg(rendered.join("warehouse/raw_telemetry.sql"))
            .arg(dir.path().join("sample.csv")),
    );

    let first = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    assert!(
        stderr(&first).contains("sqlmesh |"),
        "SQLMesh's output is streamed: {}",
        stderr(&first)
    );
    let count = run_ok(Command::new(venv_bin("python")).args(["-c", &format!("import duckdb; print(duckdb.connect({:?}, read_only=True).execute('SELECT SUM(sample_count) FROM device_health.daily_device_metrics').fetchone()[0])", project.join("iotctl.duckdb").to_str().unwrap())]));
    let rows = String::from_utf8_lossy(&sample.stdout).lines().count() - 1;
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), rows.to_string());
    let again = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("no changes"), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("sqlmesh |"),
        "a no-op apply must not run SQLMesh"
    );
}

#[test]
fn sqlmesh_apply_on_postgres_after_the_warehouse_table() {
    let nats = TestNats::start();
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let env = pg.sqlmesh_env("IOTCTL_WAREHOUSE_PASSWORD");
    let url = pg.url();
    // One apply: the warehouse table first, then SQLMesh on it.
    let first = sqlmesh_apply(
        &project,
        &nats,
        "postgres",
        "warehouse,sqlmesh",
        &env,
        &["--warehouse-url", &url],
    );
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    let models = pg.psql(&["-c", "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'device_health'"]);
    assert_eq!(
        models.trim(),
        "daily_device_metrics,daily_site_rollup,metric_thresholds"
    );
    assert_eq!(
        pg.psql(&["-c", "SELECT count(*) FROM device_health.metric_thresholds"])
            .trim(),
        "7"
    );
    let again = sqlmesh_apply(
        &project,
        &nats,
        "postgres",
        "warehouse,sqlmesh",
        &env,
        &["--warehouse-url", &url],
    );
    assert_eq!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("no changes"), "{}", stderr(&again));
}

#[test]
fn a_failing_sqlmesh_plan_stops_the_apply_and_is_retried_until_it_succeeds() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    // No raw table in the DuckDB file: the models cannot run.
    let failed = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(failed.status.code(), Some(3), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("sqlmesh plan failed"), "{}", stderr(&failed));
    // The files are written, but the plan did not finish: the next apply runs it again rather
    // than report the project in sync.
    let retried = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(retried.status.code(), Some(3), "{}", stderr(&retried));
    assert!(!stderr(&retried).contains("no changes"), "{}", stderr(&retried));
    assert!(stderr(&retried).contains("sqlmesh plan failed"), "{}", stderr(&retried));
    // With the raw table in place the retry succeeds, and only then is the project in sync.
    let rendered = dir.path().join("rendered");
    let render = iotctl(
        &[
            "render",
            "-q",
            "-f",
            "examples/factory.yaml",
            "--out",
            rendered.to_str().unwrap(),
        ],
        &[],
    );
    assert!(render.status.success());
    let sample = iotctl(
        &["sample", "-f", "examples/factory.yaml", "--days", "1", "--devices", "1"],
        &[],
    );
    std::fs::write(dir.path().join("sample.csv"), &sample.stdout).unwrap();
    run_ok(
        Command::new(venv_bin("python"))
            .arg(root().join("scripts/load_duckdb.py"))
            .arg(project.join("iotctl.duckdb"))
            .arg(rendered.join("warehouse/raw_telemetry.sql"))
            .arg(dir.path().join("sample.csv")),
    );
    let repaired = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(repaired.status.code(), Some(0), "{}", stderr(&repaired));
    assert!(stderr(&repaired).contains("sqlmesh |"), "{}", stderr(&repaired));
    let in_sync = sqlmesh_apply(&project, &nats, "duckdb", "sqlmesh", &[], &[]);
    assert_eq!(in_sync.status.code(), Some(0));
    assert!(stderr(&in_sync).contains("no changes"), "{}", stderr(&in_sync));
}
