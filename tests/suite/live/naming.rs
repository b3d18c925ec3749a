//! Every spec that `validate` accepts renders artifacts that every real tool accepts, with the
//! names a real fleet has: SQL reserved words (PostgreSQL's and DuckDB's own keyword lists, asked
//! of the running tools; RisingWave's from its parser's source), the column names iotctl
//! generates, 63-byte names, a multi-token subject prefix.
//!
//! Specs are drawn with a fixed seed: a few per run in `scripts/test.sh`, more with
//! `IOTCTL_NAMING_SWEEP=N`. Each accepted spec goes through `ddl_check`, the JSON Schema and Avro
//! validators, PostgreSQL (the warehouse DDL), and SQLMesh (`format --check`, `lint`, `test`, a
//! `plan` on DuckDB over sample data). A refused spec must say where and why.

use std::path::Path;
use std::process::Command;

use iotctl::render::ddl_check::check_statement;
use iotctl::render::ddl_rules::check_pipeline;
use iotctl::render::templates::Templates;
use iotctl::render::{Rendering, render_all};

use crate::common::{iotctl, root};
use crate::harness::postgres::TestPostgres;
use crate::harness::tools::venv_bin;

const RISINGWAVE_RESERVED: &str = include_str!("../../../sql/reference/risingwave-reserved-keywords.txt");

/// Names iotctl generates beside the spec's in views, models and tables.
const GENERATED: &[&str] = &[
    "payload",
    "nats_subject",
    "received_at",
    "body_text",
    "body",
    "reject_reason",
    "late",
    "copy",
    "window_start",
    "window_end",
    "samples",
    "min_value",
    "max_value",
    "avg_value",
    "stddev_value",
    "event_date",
    "sample_count",
    "alert_key",
    "alert_id",
    "severity",
    "threshold",
    "zscore",
    "kind",
    "outcome",
    "reason",
    "events",
    "baseline_mean",
    "baseline_stddev",
    "baseline_samples",
];

fn is_ident(word: &str) -> bool {
    iotctl::spec::names::check_ident(word).is_ok()
}

/// PostgreSQL's reserved and type-or-function words, from the server itself.
fn postgres_reserved(pg: &TestPostgres) -> Vec<String> {
    pg.psql(&[
        "-At",
        "-c",
        "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY 1",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// DuckDB's reserved words, from the embedded engine SQLMesh runs.
fn duckdb_reserved() -> Vec<String> {
    let query = "import duckdb\nfor (w,) in duckdb.sql(\"SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved' ORDER BY 1\").fetchall(): print(w)";
    let output = Command::new(venv_bin("python")).args(["-c", query]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

struct Pools {
    /// Reserved words of the three SQL engines (valid spec identifiers only).
    reserved: Vec<String>,
    /// What an extra field may be called: reserved words and generated column names.
    fields: Vec<String>,
}

impl Pools {
    fn gather(pg: &TestPostgres) -> Pools {
        let mut reserved: Vec<String> = postgres_reserved(pg)
            .into_iter()
            .chain(duckdb_reserved())
            .chain(
                RISINGWAVE_RESERVED
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(str::to_string),
            )
            .map(|w| w.to_lowercase())
            .filter(|w| is_ident(w))
            .collect();
        reserved.sort();
        reserved.dedup();
        assert!(reserved.len() > 100, "keyword lists came back short: {reserved:?}");
        for must in ["order", "group", "table", "from", "select", "limit", "having", "window"] {
            assert!(
                reserved.iter().any(|w| w == must),
                "`{must}` missing from the keyword pools"
            );
        }
        // The quoting rule covers every word the running tools reserve today.
        let unquoted: Vec<&String> = reserved
            .iter()
            .filter(|w| !iotctl::quoting::sql::is_reserved(w))
            .collect();
        assert!(
            unquoted.is_empty(),
            "reserved by a tool but not quoted by iotctl (run scripts/reserved_keywords.sh): {unquoted:?}"
        );
        let fields = reserved
            .iter()
            .cloned()
            .chain(GENERATED.iter().map(|g| g.to_string()))
            .collect();
        Pools { reserved, fields }
    }
}

/// xorshift64*: the same specs on every run for one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `count` distinct names from `pool`, each sometimes stretched to the 63-byte limit.
    fn names(&mut self, pool: &[String], count: usize) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        while names.len() < count {
            let mut name = pool[(self.next() % pool.len() as u64) as usize].clone();
            if self.next().is_multiple_of(5) {
                name = format!("{name}_{}", "x".repeat(62 - name.len().min(61)));
                name.truncate(63);
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// The factory example with hostile names everywhere a name goes.
fn hostile_spec(rng: &mut Rng, pools: &Pools) -> String {
    let mut text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let mut rename = |old: &str, new: &str| {
        let needle = format!("name: {old}\n");
        assert!(text.contains(&needle), "factory.yaml has no `{needle}`");
        text = text.replacen(&needle, &format!("name: {new}\n"), 1);
    };
    let sites = rng.names(&pools.reserved, 2);
    let types = rng.names(&pools.reserved, 3);
    let metrics = rng.names(&pools.reserved, 7);
    let fields = rng.names(&pools.fields, 2);
    for (old, new) in ["berlin", "lyon"].iter().zip(&sites) {
        rename(old, new);
    }
    for (old, new) in ["press", "cnc_mill", "compressor"].iter().zip(&types) {
        rename(old, new);
    }
    let factory_metrics = [
        "oil_temperature",
        "hydraulic_pressure",
        "stroke_count",
        "spindle_vibration",
        "spindle_load",
        "discharge_pressure",
        "motor_current",
    ];
    for (old, new) in factory_metrics.iter().zip(&metrics) {
        rename(old, new);
    }
    for (old, new) in ["line", "operating_mode"].iter().zip(&fields) {
        rename(old, new);
    }
    let schemas = rng.names(&pools.reserved, 4);
    text.replace("  schema: factory\n", &format!("  schema: {}\n", schemas[0]))
        .replace("  schema: iot_raw\n", &format!("  schema: {}\n", schemas[1]))
        .replace("  schema: device_health\n", &format!("  schema: {}\n", schemas[2]))
        .replace("  raw_table: telemetry\n", &format!("  raw_table: {}\n", schemas[3]))
        .replace("    table: telemetry\n", &format!("    table: {}\n", schemas[3]))
        .replace("  subject_prefix: iot\n", "  subject_prefix: acme.iot\n")
        .replace("subject: alerts.iot.pager", "subject: alerts.acme.iot.pager")
}

fn run(command: &mut Command, what: &str) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed:\n{text}"))
    }
}

/// The RisingWave statements through the static checks, the contracts through the real
/// validators.
fn check_statements_and_contracts(rendering: &Rendering) -> Result<(), String> {
    for object in &rendering.risingwave {
        check_statement(&object.ddl).map_err(|e| format!("ddl_check, {}: {e}\n{}", object.name, object.ddl))?;
    }
    check_pipeline(rendering.risingwave.iter().map(|o| o.ddl.as_str())).map_err(|e| format!("ddl_check: {e}"))?;
    for artifact in rendering.files() {
        if artifact.path.ends_with(".schema.json") {
            let schema: serde_json::Value = serde_json::from_str(&artifact.content).map_err(|e| e.to_string())?;
            jsonschema::draft202012::meta::validate(&schema).map_err(|e| format!("{}: {e}", artifact.path))?;
        }
        if artifact.path.ends_with(".avsc") {
            apache_avro::Schema::parse_str(&artifact.content).map_err(|e| format!("{}: {e}", artifact.path))?;
        }
    }
    Ok(())
}

fn sqlmesh(dir: &Path, args: &[&str]) -> Result<String, String> {
    run(
        Command::new(venv_bin("sqlmesh"))
            .args(args)
            .current_dir(dir)
            .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
            .env("NO_COLOR", "1"),
        &format!("sqlmesh {}", args.join(" ")),
    )
}

/// SQLMesh's checks, then a plan on DuckDB over two days of sample telemetry.
fn check_sqlmesh(out: &Path, spec: &Path) -> Result<(), String> {
    let project = out.join("sqlmesh");
    sqlmesh(&project, &["format", "--check"])?;
    let lint = sqlmesh(&project, &["lint"])?;
    if lint.contains("Linter") && lint.contains("warning") {
        return Err(format!("sqlmesh lint warned:\n{lint}"));
    }
    let tests = sqlmesh(&project, &["--gateway", "duckdb", "test"])?;
    if !tests.contains("Successfully Ran `2` Tests") {
        return Err(format!("sqlmesh test did not run one test per daily model:\n{tests}"));
    }
    let sample = iotctl(&[
        "sample",
        "-f",
        spec.to_str().unwrap(),
        "--days",
        "2",
        "--devices",
        "1",
        "--interval",
        "3600",
    ]);
    if !sample.status.success() {
        return Err(format!("iotctl sample: {}", String::from_utf8_lossy(&sample.stderr)));
    }
    let csv = out.join("sample.csv");
    std::fs::write(&csv, &sample.stdout).unwrap();
    let rows = String::from_utf8_lossy(&sample.stdout).lines().count() - 1;
    let database = project.join("iotctl.duckdb");
    run(
        Command::new(venv_bin("python"))
            .arg(root().join("scripts/load_duckdb.py"))
            .arg(&database)
            .arg(out.join("warehouse/raw_telemetry.sql"))
            .arg(&csv),
        "loading the sample into DuckDB",
    )?;
    sqlmesh(
        &project,
        &["--gateway", "duckdb", "plan", "--auto-apply", "--no-prompts"],
    )?;
    let (loaded, _) = iotctl::spec::check("spec", &std::fs::read(spec).unwrap()).map_err(|_| "spec")?;
    let model = iotctl::quoting::sql::ident(loaded.spec.sqlmesh.schema.as_str()).unwrap();
    let query = format!(
        "import duckdb; print(duckdb.connect({:?}, read_only=True).execute('SELECT SUM(sample_count) FROM {model}.daily_device_metrics').fetchone()[0])",
        database.to_str().unwrap()
    );
    let counted = run(
        Command::new(venv_bin("python")).args(["-c", &query]),
        "reading the daily model",
    )?;
    if counted.trim() != rows.to_string() {
        return Err(format!(
            "the daily model counted {} of {rows} sample readings",
            counted.trim()
        ));
    }
    Ok(())
}

/// Everything `render` writes for `spec_text`, under every real tool; Err says which refused.
fn check_spec(spec_text: &str, templates: &Templates, pg: &TestPostgres, index: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.yaml");
    std::fs::write(&spec_path, spec_text).unwrap();
    let loaded = match iotctl::spec::check("spec.yaml", spec_text.as_bytes()) {
        Ok((loaded, _)) => loaded,
        Err((_, diagnostics)) => {
            // A refusal must point at the spec and say why.
            let validate = iotctl(&["validate", "-f", spec_path.to_str().unwrap()]);
            let text = String::from_utf8_lossy(&validate.stderr);
            assert_eq!(validate.status.code(), Some(2), "{text}");
            assert!(text.contains("spec.yaml:"), "a refusal without a location: {text}");
            println!(
                "spec {index} refused ({} diagnostics): {}",
                diagnostics.len(),
                text.lines().next().unwrap_or("")
            );
            return Ok(());
        }
    };
    let rendering = render_all(&loaded.spec, templates).map_err(|e| format!("render: {e:#}"))?;
    check_statements_and_contracts(&rendering)?;
    let out = dir.path().join("out");
    for artifact in rendering.files() {
        let path = out.join(&artifact.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &artifact.content).unwrap();
    }
    // The warehouse DDL on a real PostgreSQL, in the spec's own schema, dropped after.
    let schema = iotctl::quoting::sql::ident(loaded.spec.warehouse.schema.as_str()).unwrap();
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    pg.psql(&["-c", &drop]);
    for ddl in [
        "warehouse/raw_telemetry.sql",
        "warehouse/stream_daily_device_metrics.sql",
    ] {
        let path = out.join(ddl);
        if path.exists() {
            run(
                Command::new("psql")
                    .arg(pg.url())
                    .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
                    .arg(&path),
                &format!("PostgreSQL on {ddl}"),
            )?;
        }
    }
    pg.psql(&["-c", &drop]);
    check_sqlmesh(&out, &spec_path)
}

fn sweep() -> usize {
    std::env::var("IOTCTL_NAMING_SWEEP")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

#[test]
fn specs_with_hostile_names_render_artifacts_every_real_tool_accepts() {
    let pg = TestPostgres::start();
    let pools = Pools::gather(&pg);
    let mut rng = Rng(0x0010_71c7_155e_ed00);
    let templates = Templates::embedded();
    for index in 0..sweep() {
        let spec = hostile_spec(&mut rng, &pools);
        if let Err(why) = check_spec(&spec, &templates, &pg, index) {
            panic!("spec {index} was accepted but a real tool refused what it renders:\n{why}\n--- spec ---\n{spec}");
        }
    }
}

/// The test above can fail: with one quoting filter removed, a reserved word as SQLMesh's schema
/// breaks the project.
#[test]
fn a_planted_quoting_bug_is_caught() {
    let pg = TestPostgres::start();
    let spec = std::fs::read_to_string(root().join("examples/factory.yaml"))
        .unwrap()
        .replace("  schema: device_health\n", "  schema: from\n");
    let dir = tempfile::tempdir().unwrap();
    let template = "sqlmesh/models/daily_site_rollup.sql.j2";
    let shipped = std::fs::read_to_string(root().join(template)).unwrap();
    let planted = shipped.replacen("name {{ name|sqlmesh_name }}", "name {{ name }}", 1);
    assert_ne!(planted, shipped, "{template} no longer quotes its name");
    let path = dir.path().join(template);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, planted).unwrap();
    let templates = Templates::with_overrides(dir.path()).unwrap();
    let result = check_spec(&spec, &templates, &pg, 100);
    assert!(result.is_err(), "the planted bug went unnoticed");
    println!("caught: {}", result.unwrap_err().lines().next().unwrap_or_default());
}
