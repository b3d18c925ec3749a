//! The rendered SQLMesh projects under the real `sqlmesh`: format, lint, unit tests, and
//! plans on DuckDB and on a throwaway PostgreSQL over two days of sample telemetry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::{example_path, iotctl, render_example, stderr};
use crate::harness::postgres::TestPostgres;
use crate::harness::tools::{run_ok, venv_bin};

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    password_env: String,
    start: String,
}

impl Project {
    /// Renders `example` into a fresh directory.
    fn render(example: &str) -> Project {
        let dir = tempfile::Builder::new().prefix("iotctl-sqlmesh-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let output = iotctl(&[
            "render",
            "-q",
            "-f",
            example_path(example).to_str().unwrap(),
            "--out",
            root.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let (loaded, _) = render_example(example);
        Project {
            _dir: dir,
            root,
            password_env: loaded.spec.warehouse.password_env.clone(),
            start: loaded.spec.sqlmesh.start.clone(),
        }
    }

    fn sqlmesh_dir(&self) -> PathBuf {
        self.root.join("sqlmesh")
    }

    fn sqlmesh(&self, args: &[&str], env: &[(String, String)]) -> Output {
        let mut command = Command::new(venv_bin("sqlmesh"));
        command
            .args(args)
            .current_dir(self.sqlmesh_dir())
            .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
            .env("NO_COLOR", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        run_ok(&mut command)
    }

    /// Two days of sample telemetry as CSV, and the number of readings per UTC day.
    fn sample(&self, example: &str) -> (PathBuf, BTreeMap<String, u64>) {
        let output = iotctl(&[
            "sample",
            "-f",
            example_path(example).to_str().unwrap(),
            "--days",
            "2",
            "--devices",
            "2",
            "--interval",
            "1800",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let path = self.root.join("sample.csv");
        std::fs::write(&path, &output.stdout).unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let ts = header.iter().position(|c| *c == "ts").unwrap();
        let mut per_day = BTreeMap::new();
        for line in lines {
            let day = line.split(',').nth(ts).unwrap()[..10].to_string();
            *per_day.entry(day).or_insert(0) += 1;
        }
        assert_eq!(per_day.len(), 2, "the sample covers two days");
        (path, per_day)
    }
}

fn tests_ran(output: &Output) -> u64 {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let Some(i) = text.find("Successfully Ran `") else {
        panic!("sqlmesh test printed no summary:\n{text}")
    };
    text[i + "Successfully Ran `".len()..]
        .split('`')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn checks_pass(example: &str) {
    let project = Project::render(example);
    project.sqlmesh(&["format", "--check"], &[]);
    project.sqlmesh(&["lint"], &[]);
    let output = project.sqlmesh(&["--gateway", "duckdb", "test"], &[]);
    // `sqlmesh test` exits 0 with zero tests; one test per daily model must have run (the
    // thresholds model has none: it would compare the spec's rows with themselves).
    assert_eq!(
        tests_ran(&output),
        2,
        "{example}: expected one unit test per daily model"
    );
}

#[test]
fn factory_project_passes_format_lint_and_tests() {
    checks_pass("factory");
}

#[test]
fn cold_chain_project_passes_format_lint_and_tests() {
    checks_pass("cold_chain");
}

fn no_changes(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout).contains("No changes to plan")
}

/// Daily sample counts the batch layer computed, as `day → readings`.
fn parse_counts(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (day, count) = l.split_once('|').unwrap();
            (day.to_string(), count.trim().parse().unwrap())
        })
        .collect()
}

fn plan_on_duckdb(example: &str) {
    let project = Project::render(example);
    let (csv, per_day) = project.sample(example);
    let database = project.sqlmesh_dir().join("iotctl.duckdb");
    let load = |_: ()| {
        run_ok(
            Command::new(venv_bin("python"))
                .arg(crate::common::root().join("scripts/load_duckdb.py"))
                .arg(&database)
                .arg(project.root.join("warehouse/raw_telemetry.sql"))
                .arg(&csv),
        );
    };
    load(());
    load(()); // loading twice upserts: nothing doubles
    project.sqlmesh(&["--gateway", "duckdb", "plan", "--auto-apply", "--no-prompts"], &[]);
    let (loaded, _) = render_example(example);
    let schema = loaded.spec.sqlmesh.schema.as_str();
    let query = format!(
        "import duckdb; c = duckdb.connect({:?}, read_only=True)\nfor day, n in c.execute(\"SELECT CAST(event_date AS VARCHAR), SUM(sample_count) FROM {schema}.daily_device_metrics GROUP BY 1 ORDER BY 1\").fetchall(): print(f'{{day}}|{{n}}')\nprint('rollup|' + str(c.execute(\"SELECT SUM(sample_count) FROM {schema}.daily_site_rollup\").fetchone()[0]))",
        database.to_str().unwrap()
    );
    let output = run_ok(Command::new(venv_bin("python")).args(["-c", &query]));
    let mut counts = parse_counts(&String::from_utf8_lossy(&output.stdout));
    let rollup = counts.remove("rollup").unwrap();
    assert_eq!(
        counts, per_day,
        "{example}: batch daily counts differ from the raw events"
    );
    assert_eq!(
        rollup,
        per_day.values().sum::<u64>(),
        "{example}: the site rollup lost readings"
    );
    assert!(counts.contains_key(&project.start));
    let again = project.sqlmesh(&["--gateway", "duckdb", "plan", "--auto-apply", "--no-prompts"], &[]);
    assert!(
        no_changes(&again),
        "{example}: a second plan must be a no-op:\n{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn factory_project_plans_on_duckdb_over_two_days() {
    plan_on_duckdb("factory");
}

#[test]
fn cold_chain_project_plans_on_duckdb_over_two_days() {
    plan_on_duckdb("cold_chain");
}

fn plan_on_postgres(example: &str) {
    let project = Project::render(example);
    let (csv, per_day) = project.sample(example);
    let pg = TestPostgres::start();
    // The warehouse DDL iotctl renders creates the table RisingWave's sink and SQLMesh expect.
    for ddl in std::fs::read_dir(project.root.join("warehouse")).unwrap() {
        pg.psql(&["-f", ddl.unwrap().path().to_str().unwrap()]);
    }
    let (loaded, _) = render_example(example);
    let raw = format!("{}.{}", loaded.spec.warehouse.schema, loaded.spec.warehouse.raw_table);
    pg.psql(&[
        "-c",
        &format!("\\copy {raw} FROM '{}' WITH (FORMAT csv, HEADER true)", csv.display()),
    ]);
    let env = pg.sqlmesh_env(&project.password_env);
    project.sqlmesh(&["--gateway", "postgres", "plan", "--auto-apply", "--no-prompts"], &env);
    let schema = loaded.spec.sqlmesh.schema.as_str();
    let counts = parse_counts(&pg.psql(&[
        "-F",
        "|",
        "-c",
        &format!("SELECT event_date, SUM(sample_count) FROM {schema}.daily_device_metrics GROUP BY 1 ORDER BY 1"),
    ]));
    assert_eq!(
        counts, per_day,
        "{example}: batch daily counts differ from the raw events"
    );
    let breaches: u64 = pg
        .psql(&[
            "-c",
            &format!("SELECT SUM(warning_breaches + critical_breaches) FROM {schema}.daily_site_rollup"),
        ])
        .trim()
        .parse()
        .unwrap();
    assert!(
        breaches > 0,
        "{example}: the sample's spikes should breach some threshold"
    );
    let again = project.sqlmesh(&["--gateway", "postgres", "plan", "--auto-apply", "--no-prompts"], &env);
    assert!(no_changes(&again), "{example}: a second plan must be a no-op");
    assert_secret_not_printed(&again, crate::harness::postgres::PASSWORD);
}

fn assert_secret_not_printed(output: &Output, secret: &str) {
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(secret)
            && !String::from_utf8_lossy(&output.stderr).contains(secret)
    );
}

#[test]
fn factory_project_plans_on_postgres() {
    plan_on_postgres("factory");
}

#[test]
fn cold_chain_project_plans_on_postgres() {
    plan_on_postgres("cold_chain");
}
