//! `iotctl replay --to warehouse` into the embedded DuckDB file (the README's main job): exact
//! rows, an idempotent reload, a partly loaded range, and kill -9 at random points then
//! `--resume`. Rows are read back with the venv's own duckdb package, not through iotctl.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use super::replay::{apply, events, expected_rows, malformed, publish, republished};
use crate::common::{hermetic, stderr, stdout};
use crate::harness::nats::TestNats;
use crate::harness::tools::{kill_after, run_ok, venv_bin};

/// `iotctl replay` into the DuckDB file of `project`, with the venv's SQLMesh (whose Python
/// has the duckdb package).
fn replay_command(nats: &TestNats, project: &Path, args: &[&str]) -> std::process::Command {
    let bin = venv_bin("sqlmesh");
    let mut command = hermetic(&["replay", "-f", "examples/factory.yaml", "--nats-url", &nats.url]);
    command.args(args).args([
        "--sqlmesh-dir",
        project.to_str().unwrap(),
        "--sqlmesh-bin",
        bin.to_str().unwrap(),
        "--sqlmesh-gateway",
        "duckdb",
    ]);
    command
}

fn load(nats: &TestNats, project: &Path) -> Output {
    replay_command(
        nats,
        project,
        &["--since", "1h", "--to", "warehouse", "--format", "json"],
    )
    .output()
    .unwrap()
}

/// Every row's identity, value and sequence in the DuckDB raw table, sorted by identity.
fn rows(database: &Path) -> Vec<(String, f64, i64)> {
    let script = format!(
        "import duckdb\ncon = duckdb.connect({:?}, read_only=True)\nfor i, v, s in con.execute('SELECT event_id, value, seq FROM iot_raw.telemetry ORDER BY event_id').fetchall(): print(f'{{i}}|{{v!r}}|{{s}}')",
        database.to_str().unwrap()
    );
    let output = run_ok(std::process::Command::new(venv_bin("python")).args(["-c", &script]));
    stdout(&output)
        .lines()
        .map(|line| {
            let mut parts = line.split('|');
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn database(project: &Path) -> PathBuf {
    project.join("iotctl.duckdb")
}

#[test]
fn replay_to_duckdb_is_exact_twice_and_upserts_a_partly_loaded_range() {
    let nats = TestNats::start();
    apply(&crate::common::root().join("examples/factory.yaml"), &nats);
    let valid = events("2", "1800");
    publish(&nats, &valid);
    publish(&nats, &malformed());
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sqlmesh");
    let expected = expected_rows(&valid);
    for round in 0..2 {
        let output = load(&nats, &project);
        assert_eq!(output.status.code(), Some(0), "round {round}: {}", stderr(&output));
        let summary: serde_json::Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
        assert_eq!(
            summary["replay"]["counts"]["published"].as_u64(),
            Some(valid.len() as u64)
        );
        assert_eq!(summary["replay"]["counts"]["dead_lettered"].as_u64(), Some(4));
        assert!(
            summary["helper_peak_rss_kib"].as_u64().is_some_and(|kib| kib > 0),
            "the DuckDB helper's peak RSS is reported: {summary}"
        );
        assert_eq!(
            rows(&database(&project)),
            expected,
            "round {round}: DuckDB rows differ from the source"
        );
    }

    // Ten rows lost, five rows changed in the table, a hundred events published again under
    // their identities and fifty new ones: the direct insert is refused and the upsert restores
    // exactly the lost and changed rows and adds the new ones.
    let damage = format!(
        "import duckdb\ncon = duckdb.connect({:?})\ncon.execute('DELETE FROM iot_raw.telemetry WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry ORDER BY event_id LIMIT 10)')\ncon.execute('UPDATE iot_raw.telemetry SET value = value + 1 WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry ORDER BY event_id DESC LIMIT 5)')",
        database(&project).to_str().unwrap()
    );
    run_ok(std::process::Command::new(venv_bin("python")).args(["-c", &damage]));
    assert_ne!(rows(&database(&project)), expected, "the damage is visible");
    let (again, fresh) = republished(&valid);
    publish(&nats, &again);
    let output = load(&nats, &project);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut all = valid.clone();
    all.extend(fresh);
    assert_eq!(
        rows(&database(&project)),
        expected_rows(&all),
        "a partly loaded range with repeated identities"
    );
}

#[test]
fn replay_to_duckdb_killed_at_random_points_and_resumed_loads_exactly_the_range() {
    let nats = TestNats::start();
    apply(&crate::common::root().join("examples/factory.yaml"), &nats);
    let all = events("12", "1200"); // 12,096 events
    publish(&nats, &all);
    let expected = expected_rows(&all);
    let dir = tempfile::tempdir().unwrap();
    let mut seed: u64 = 0xd0c_dbee;
    let mut interrupted = 0;
    for trial in 0..10 {
        let project = dir.path().join(format!("trial-{trial}"));
        let before = super::replay::ledger_ids(&nats);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // Rate-limited to about 2.4 s, so a partial batch is committed and checkpointed after
        // 2 s: kills land before the helper opens the file, mid-batch, between a commit and its
        // checkpoint, and in the last batch.
        let delay = Duration::from_millis(20 + (seed >> 33) % 2600);
        let args = ["--since", "1h", "--to", "warehouse", "--rate", "5000"];
        if kill_after(&mut replay_command(&nats, &project, &args), delay) {
            interrupted += 1;
        }
        let new: Vec<String> = super::replay::ledger_ids(&nats).difference(&before).cloned().collect();
        let finish = match new.first() {
            Some(id) => replay_command(&nats, &project, &["--resume", id]).output().unwrap(),
            None => replay_command(&nats, &project, &args).output().unwrap(), // killed before its ledger entry existed
        };
        assert_eq!(finish.status.code(), Some(0), "trial {trial}: {}", stderr(&finish));
        assert_eq!(
            rows(&database(&project)),
            expected,
            "trial {trial} (killed after {delay:?}): DuckDB rows differ from the source"
        );
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} of 10 loads were killed while running"
    );
}

/// DuckDB draws a progress bar on stdout for statements over 2 s, which once landed in the
/// middle of the loader's replies (a 10M-event load failed on it): the helper turns it off.
#[test]
fn the_duckdb_helper_keeps_progress_bars_out_of_its_replies() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("w.duckdb");
    let create = format!(
        "import duckdb; duckdb.connect({:?}).close()",
        database.to_str().unwrap()
    );
    run_ok(std::process::Command::new(venv_bin("python")).args(["-c", &create]));
    let duckdb = iotctl::backend::duckdb::DuckDb {
        python: venv_bin("python"),
        database,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = runtime
        .block_on(duckdb.query("SELECT current_setting('enable_progress_bar')"))
        .unwrap();
    assert_eq!(rows, vec![vec![Some("False".to_string())]]);
}
