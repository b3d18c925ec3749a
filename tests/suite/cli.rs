//! The command line as users and CI see it: exit codes, stdout versus stderr, JSON output,
//! and the help text pinned.

use crate::common::{iotctl, root, stderr, stdout};

#[test]
fn help_text_is_pinned() {
    let output = iotctl(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let pinned = std::fs::read_to_string(root().join("tests/snapshots/help.txt")).unwrap();
    assert_eq!(stdout(&output), pinned, "help changed: run scripts/bless.sh and review");
}

/// The subcommands a help text lists (`Commands:` up to the blank line), `help` aside.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every subcommand's `--help` (nested ones too) is pinned in tests/snapshots/help/: a flag
/// renamed or removed shows here, and runbooks and READMEs can be checked against it.
/// `IOTCTL_BLESS=1` (scripts/bless.sh) rewrites the snapshots.
#[test]
fn every_subcommand_help_is_pinned() {
    let dir = root().join("tests/snapshots/help");
    let bless = std::env::var("IOTCTL_BLESS").is_ok_and(|v| v == "1");
    let top = stdout(&crate::common::hermetic(&["--help"]).output().unwrap());
    let mut paths: Vec<Vec<String>> = subcommands(&top).into_iter().map(|c| vec![c]).collect();
    let mut checked = 0;
    while let Some(path) = paths.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        // Without the caller's IOTCTL_* variables: the text must not depend on them.
        let output = crate::common::hermetic(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{path:?}");
        let text = stdout(&output);
        for nested in subcommands(&text) {
            paths.push([path.clone(), vec![nested]].concat());
        }
        let file = dir.join(format!("{}.txt", path.join("_")));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else {
            let pinned = std::fs::read_to_string(&file)
                .unwrap_or_else(|_| panic!("no snapshot {}: run scripts/bless.sh", file.display()));
            assert_eq!(
                text,
                pinned,
                "`iotctl {} --help` changed: run scripts/bless.sh and review",
                path.join(" ")
            );
        }
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} subcommands found");
}

/// A NATS URL can carry credentials: `--help` never prints a variable's value.
#[test]
fn help_never_prints_connection_values_from_the_environment() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_iotctl"))
        .args(["apply", "--help"])
        .env("IOTCTL_NATS_URL", "nats://admin:hunter2@nats:4222")
        .env("IOTCTL_NATS_USER", "admin")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("IOTCTL_NATS_URL"), "{text}");
    assert!(!text.contains("hunter2") && !text.contains("admin"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(iotctl(&["validate"]).status.code(), Some(2));
    assert_eq!(iotctl(&["frobnicate"]).status.code(), Some(2));
    let missing = iotctl(&["validate", "-f", "no/such/spec.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("error: cannot read spec `no/such/spec.yaml`"),
        "{}",
        stderr(&missing)
    );
    assert!(stdout(&missing).is_empty());
}

/// A bad time flag is a usage error found before anything connects: nothing listens on the
/// NATS URL, so a replay that connected first would exit 3 instead.
#[test]
fn replay_time_flags_are_checked_before_connecting() {
    let spec = root().join("examples/factory.yaml");
    let spec = spec.to_str().unwrap();
    let nowhere = "nats://127.0.0.1:1";
    for (flags, expected) in [
        (vec!["--since", "garbage"], "--since"),
        (vec!["--since", "1h", "--until", "yesterday-ish"], "--until"),
        (vec!["--since", "1h", "--until", "2h"], "--until must be after --since"),
    ] {
        let mut args = vec!["replay", "-f", spec, "--nats-url", nowhere];
        args.extend(flags.iter().copied());
        let output = iotctl(&args);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{flags:?}: {}", stderr(&output));
    }
}

/// One warehouse per run, and flags that would do nothing: refused before anything connects.
#[test]
fn batch_flags_that_mix_warehouses_or_do_nothing_are_refused_before_connecting() {
    let spec = root().join("examples/factory.yaml");
    let spec = spec.to_str().unwrap();
    let nowhere = "nats://127.0.0.1:1";
    let postgres = "postgresql://iotctl@127.0.0.1:1/iot";
    let project = ["--sqlmesh-dir", "/tmp/iotctl-no-project"];
    let duckdb = [&project[..], &["--sqlmesh-gateway", "duckdb"]].concat();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [
                &[
                    "replay",
                    "-f",
                    spec,
                    "--since",
                    "1h",
                    "--to",
                    "warehouse",
                    "--warehouse-url",
                    postgres,
                ][..],
                &duckdb,
            ]
            .concat(),
            "SQLMesh's gateway is duckdb",
        ),
        (
            [
                &[
                    "reconcile",
                    "-f",
                    spec,
                    "--date",
                    "2026-01-01",
                    "--warehouse-url",
                    postgres,
                ][..],
                &duckdb,
            ]
            .concat(),
            "SQLMesh's gateway is duckdb",
        ),
        (
            [
                &["apply", "-f", spec, "--yes", "--warehouse-url", postgres][..],
                &duckdb,
            ]
            .concat(),
            "SQLMesh's gateway is duckdb",
        ),
        (
            [&["replay", "-f", spec, "--since", "1h", "--restate"][..], &project].concat(),
            "--restate rebuilds the daily models from the warehouse",
        ),
        (
            vec!["replay", "-f", spec, "--since", "1h", "--to", "warehouse", "--restate"],
            "--sqlmesh-dir",
        ),
        (
            [
                &["plan", "-f", spec][..],
                &project,
                &["--sqlmesh-gateway", "risingwave"],
            ]
            .concat(),
            "not a gateway of the daily models",
        ),
    ];
    for (args, expected) in cases {
        let output = iotctl(&[&args[..], &["--nats-url", nowhere]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn validate_passes_the_examples() {
    for example in ["examples/factory.yaml", "examples/cold_chain.yaml"] {
        let output = iotctl(&["validate", "-f", example, "--format", "json"]);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(report["ok"], true);
    }
}

#[test]
fn render_without_out_prints_ddl_only_to_stdout() {
    let output = iotctl(&["render", "-f", "examples/factory.yaml"]);
    assert_eq!(output.status.code(), Some(0));
    let sql = stdout(&output);
    assert!(
        sql.starts_with("-- Schema of pipeline factory"),
        "{}",
        &sql[..80.min(sql.len())]
    );
    assert!(sql.contains("CREATE TABLE IF NOT EXISTS factory.telemetry"));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn render_check_detects_stale_missing_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let write = iotctl(&["render", "-f", "examples/factory.yaml", "--out", out]);
    assert_eq!(write.status.code(), Some(0), "{}", stderr(&write));
    assert_eq!(
        iotctl(&["render", "-f", "examples/factory.yaml", "--out", out, "--check"])
            .status
            .code(),
        Some(0)
    );

    let model = format!("{out}/sqlmesh/models/daily_device_metrics.sql");
    std::fs::write(&model, "-- edited by hand\n").unwrap();
    std::fs::remove_file(format!("{out}/contracts/alert.avsc")).unwrap();
    std::fs::write(format!("{out}/risingwave/999_materialized_view_old.sql"), "SELECT 1;\n").unwrap();
    std::fs::create_dir_all(format!("{out}/sqlmesh/logs")).unwrap();
    std::fs::write(format!("{out}/sqlmesh/logs/run.json"), "{}").unwrap();
    let check = iotctl(&[
        "render",
        "-f",
        "examples/factory.yaml",
        "--out",
        out,
        "--check",
        "--format",
        "json",
    ]);
    assert_eq!(check.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&check)).unwrap();
    assert_eq!(
        report["changed"],
        serde_json::json!(["sqlmesh/models/daily_device_metrics.sql"])
    );
    assert_eq!(report["missing"], serde_json::json!(["contracts/alert.avsc"]));
    assert_eq!(
        report["extra"],
        serde_json::json!(["risingwave/999_materialized_view_old.sql"])
    );

    // Rendering again repairs the directory, removes the stale object and leaves SQLMesh's logs.
    let repair = iotctl(&["render", "-f", "examples/factory.yaml", "--out", out]);
    assert_eq!(repair.status.code(), Some(0));
    assert!(
        stderr(&repair).contains("removed stale risingwave/999_materialized_view_old.sql"),
        "{}",
        stderr(&repair)
    );
    assert_eq!(
        iotctl(&["render", "-f", "examples/factory.yaml", "--out", out, "--check"])
            .status
            .code(),
        Some(0)
    );
    assert!(std::path::Path::new(&format!("{out}/sqlmesh/logs/run.json")).exists());
}

#[test]
fn render_honours_template_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates/sql/risingwave");
    std::fs::create_dir_all(&templates).unwrap();
    let original = std::fs::read_to_string(root().join("sql/risingwave/schema.sql.j2")).unwrap();
    std::fs::write(templates.join("schema.sql.j2"), format!("-- house style\n{original}")).unwrap();
    let templates_dir = dir.path().join("templates");
    let output = iotctl(&[
        "render",
        "-f",
        "examples/factory.yaml",
        "--templates",
        templates_dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("-- house style\n-- Schema of pipeline factory"));

    // A misspelt override is an error, not a silent fallback to the default.
    std::fs::write(templates.join("shcema.sql.j2"), "x").unwrap();
    let typo = iotctl(&[
        "render",
        "-f",
        "examples/factory.yaml",
        "--templates",
        templates_dir.to_str().unwrap(),
    ]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("overrides no template"), "{}", stderr(&typo));

    // An override using an undefined variable fails loudly (strict undefined).
    std::fs::remove_file(templates.join("shcema.sql.j2")).unwrap();
    std::fs::write(templates.join("schema.sql.j2"), "CREATE SCHEMA {{ nonexistent }};\n").unwrap();
    let strict = iotctl(&[
        "render",
        "-f",
        "examples/factory.yaml",
        "--templates",
        templates_dir.to_str().unwrap(),
    ]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(stderr(&strict).contains("undefined"), "{}", stderr(&strict));
}

#[test]
fn sample_is_deterministic_csv() {
    let args = [
        "sample",
        "-f",
        "examples/factory.yaml",
        "--days",
        "2",
        "--devices",
        "1",
        "--interval",
        "3600",
    ];
    let first = iotctl(&args);
    let second = iotctl(&args);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(first.stdout, second.stdout);
    let text = stdout(&first);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "event_id,device_id,site,device_type,metric,ts,value,seq,firmware_version,line,operating_mode"
    );
    // 2 sites × (3 + 2 + 2 metrics) × 1 device × 48 hourly readings.
    assert_eq!(lines.count(), 2 * 7 * 48);
    assert_eq!(
        iotctl(&["sample", "-f", "examples/factory.yaml", "--start", "2026-02-30"])
            .status
            .code(),
        Some(2)
    );
}
