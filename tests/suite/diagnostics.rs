//! Invalid specs with their diagnostics pinned: exit code 2, the exact text on stderr, and
//! nothing on stdout. Regenerate with scripts/bless.sh and review the diff.

use crate::common::{iotctl, root, stderr, stdout};

#[test]
fn every_invalid_fixture_reports_its_pinned_diagnostics() {
    let dir = root().join("tests/fixtures/invalid");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 10,
        "expected the invalid-spec fixtures, found {}",
        fixtures.len()
    );
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let relative = fixture.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        let output = iotctl(&["validate", "-f", &relative]);
        let expected = std::fs::read_to_string(fixture.with_extension("stderr"))
            .unwrap_or_else(|_| panic!("no pinned .stderr for {relative}"));
        if output.status.code() != Some(2) {
            failures.push(format!("{relative}: exit {:?}, expected 2", output.status.code()));
        }
        if !stdout(&output).is_empty() {
            failures.push(format!("{relative}: printed to stdout: {}", stdout(&output)));
        }
        if stderr(&output) != expected {
            failures.push(format!(
                "{relative}: diagnostics changed:\n--- pinned\n{expected}\n--- now\n{}",
                stderr(&output)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn one_run_reports_every_semantic_error() {
    let output = iotctl(&[
        "validate",
        "-f",
        "tests/fixtures/invalid/thresholds.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["ok"], false);
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "spec::threshold-order",
            "spec::threshold-out-of-range",
            "spec::invalid-range",
            "spec::empty-threshold"
        ]
    );
    let first = &report["diagnostics"][0];
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(14), Some(29)));
    assert_eq!(first["path"], "device_types[0].metrics[0].thresholds.warning.above");
    assert_eq!(first["file"], "tests/fixtures/invalid/thresholds.yaml");
}

#[test]
fn github_format_emits_annotations() {
    let output = iotctl(&[
        "validate",
        "-f",
        "tests/fixtures/invalid/unknown_field.yaml",
        "--format",
        "github",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stdout(&output).trim_end(),
        "::error file=tests/fixtures/invalid/unknown_field.yaml,line=12,col=9,title=spec%3A%3Aunknown-field::unknown field `tresholds` (field: device_types[0].metrics[0].tresholds)%0Ahelp: did you mean `thresholds`?"
    );
}

#[test]
fn secrets_in_a_spec_never_reach_the_output() {
    let output = iotctl(&["validate", "-f", "tests/fixtures/invalid/secret_in_url.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("spec::secret-in-spec"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password leaked into the diagnostics:\n{text}"
    );
    let json = iotctl(&[
        "validate",
        "-f",
        "tests/fixtures/invalid/secret_in_url.yaml",
        "--format",
        "json",
    ]);
    assert!(!stdout(&json).contains("hunter2") && !stderr(&json).contains("hunter2"));
}
