//! End-to-end checks against a real RisingWave, when one is configured.
//!
//! No registry ships RisingWave for these machines, so these tests are ignored by default: the
//! runner's summary counts them as ignored, never as passed. `scripts/test.sh` runs them (with
//! `--ignored`) when IOTCTL_TEST_RISINGWAVE_URL points at a RisingWave (psql-compatible URL);
//! run that way without the URL, they fail. There is no mock RisingWave.

use std::process::Command;

use super::common::render_example;

const NEEDS_RISINGWAVE: &str = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh";

/// The RisingWave under test; a test that runs without one fails instead of passing.
fn risingwave_url() -> String {
    std::env::var("IOTCTL_TEST_RISINGWAVE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("{NEEDS_RISINGWAVE}"))
}

#[test]
// Ignored, not skipped by an early return: no RisingWave can run on these machines, and a test
// that returns early would be counted as passed. scripts/test.sh runs it when one is configured.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn risingwave_accepts_the_rendered_views_and_sinks() {
    let url = risingwave_url();
    // Parse every materialized view's query with EXPLAIN against a plain table of the same
    // shape, in a throwaway schema: this proves RisingWave accepts the SQL iotctl renders
    // without needing NATS or the warehouse.
    let (_, rendering) = render_example("factory");
    let schema = format!("iotctl_e2e_{}", std::process::id());
    let table = rendering.risingwave.iter().find(|o| o.name == "telemetry").unwrap();
    let columns: String = table
        .ddl
        .lines()
        .skip_while(|l| !l.starts_with("CREATE TABLE"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("WATERMARK"))
        .collect::<Vec<_>>()
        .join("\n");
    // INCLUDE payload is jsonb (src/connector/src/parser/additional_columns.rs).
    let mut script = format!(
        "CREATE SCHEMA {schema};\nCREATE TABLE {schema}.telemetry (\n{columns}\n    nats_subject VARCHAR,\n    raw_payload JSONB,\n    WATERMARK FOR ts AS ts - INTERVAL '5 seconds'\n) APPEND ONLY;\nCREATE TABLE {schema}.telemetry_replay (\n{columns}\n    nats_subject VARCHAR\n) APPEND ONLY;\n"
    );
    for object in rendering
        .risingwave
        .iter()
        .filter(|o| o.kind == iotctl::render::risingwave::RwKind::MaterializedView)
    {
        script.push_str(&object.ddl.replace("factory.", &format!("{schema}.")));
        script.push('\n');
    }
    // reconcile's stream-leg query runs against the daily view.
    let (loaded, _) = render_example("factory");
    let day = iotctl::reconcile::parse_day("2026-01-01").unwrap();
    let query = iotctl::reconcile::queries::stream_sql(&loaded.spec, day, day + 1, None);
    script.push_str(&query.replace("factory.", &format!("{schema}.")));
    script.push_str(";\n");
    script.push_str(&format!("DROP SCHEMA {schema} CASCADE;\n"));
    let output = Command::new("psql")
        .arg(&url)
        .args(["-v", "ON_ERROR_STOP=1", "-q"])
        .arg("-c")
        .arg(&script)
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "RisingWave refused the rendered DDL:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The full apply path against a real RisingWave (which must reach the test's nats-server on
/// loopback): everything is created, then a re-plan is empty.
#[test]
// Ignored for the same reason as the test above: it needs a real RisingWave.
#[ignore = "needs a RisingWave: set IOTCTL_TEST_RISINGWAVE_URL and run scripts/test.sh"]
fn apply_to_risingwave_converges() {
    let url = risingwave_url();
    let nats = super::harness::nats::TestNats::start();
    let spec = super::common::root().join("examples/factory.yaml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_iotctl"))
            .args(args)
            .env("IOTCTL_WAREHOUSE_PASSWORD", "unused-by-this-test")
            .output()
            .unwrap()
    };
    let spec = spec.to_str().unwrap();
    let applied = run(&[
        "apply",
        "-f",
        spec,
        "--nats-url",
        &nats.url,
        "--risingwave-url",
        &url,
        "--only",
        "nats,risingwave",
        "--yes",
    ]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let plan = run(&[
        "plan",
        "-f",
        spec,
        "--nats-url",
        &nats.url,
        "--risingwave-url",
        &url,
        "--only",
        "risingwave",
        "--check",
    ]);
    assert!(
        plan.status.success(),
        "RisingWave did not converge:\n{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}
