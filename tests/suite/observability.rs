//! The rendered `observability/` folder, read by the real tools: promtool checks the rules
//! and runs their unit tests, and TypeScript checks the dashboard against Grafana's own schema
//! types (`@grafana/schema`). Mutations show that both checks can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{hermetic, root, stderr, stdout};
use crate::harness::tools::promtool;

/// Renders `spec` (a path under the repository, or a written variant) into a temp dir.
fn render(spec: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let output = hermetic(&[
        "render",
        "-q",
        "-f",
        spec.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    out
}

/// The factory spec with its `slo:` section replaced.
fn factory_with_slo(dir: &Path, name: &str, slo: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let (head, _) = text.split_once("\nslo:").unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, format!("{head}\nslo:\n{slo}")).unwrap();
    path
}

fn promtool_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(promtool()).args(args).current_dir(dir).output().unwrap()
}

fn specs(dir: &Path) -> Vec<PathBuf> {
    vec![
        root().join("examples/factory.yaml"),
        root().join("examples/cold_chain.yaml"),
        factory_with_slo(
            dir,
            "strict",
            "  alert_latency_p99: 250ms\n  max_drop_rate: 0\n  runbook_base_url: https://git.example.com/ops/iot/-/blob/main/observability/runbooks/\n",
        ),
        factory_with_slo(
            dir,
            "lenient",
            "  alert_latency_p99: 2m\n  replay_retention: 1d\n  max_drop_rate: 1\n",
        ),
    ]
}

#[test]
fn rendered_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = tempfile::tempdir().unwrap();
    for spec in specs(dir.path()) {
        let out = render(&spec);
        let rules = out.path().join("observability/prometheus");
        let check = promtool_in(&rules, &["check", "rules", "rules.yml"]);
        assert!(
            check.status.success(),
            "{}: {}{}",
            spec.display(),
            stdout(&check),
            stderr(&check)
        );
        let test = promtool_in(&rules, &["test", "rules", "rules.test.yml"]);
        assert!(
            test.status.success(),
            "{}: {}{}",
            spec.display(),
            stdout(&test),
            stderr(&test)
        );
        let text = std::fs::read_to_string(rules.join("rules.yml")).unwrap();
        if spec.ends_with("strict.yaml") {
            assert!(text.contains(
                "runbook_url: https://git.example.com/ops/iot/-/blob/main/observability/runbooks/IotctlSpecDrift.md"
            ));
            assert!(text.contains("> 0.25\n"), "the latency SLO in seconds");
        }
        if spec.ends_with("lenient.yaml") {
            assert!(
                !text.contains("IotctlCanariesLost"),
                "a drop rate of 1 tolerates every loss"
            );
        }
    }
}

#[test]
fn a_rule_that_drifts_from_the_slo_fails_its_unit_tests() {
    let out = render(&root().join("examples/factory.yaml"));
    let rules = out.path().join("observability/prometheus");
    let text = std::fs::read_to_string(rules.join("rules.yml")).unwrap();
    for (from, to) in [
        ("quantile=\"0.99\"} > 1\n", "quantile=\"0.99\"} > 2\n"),
        ("/ 300)", "/ 3)"),
        ("> 1800 or absent", "> 3600 or absent"),
        ("[1h]) > 0\n", "[1h]) >= 0\n"),
    ] {
        assert!(text.contains(from), "{from}");
        std::fs::write(rules.join("rules.yml"), text.replacen(from, to, 1)).unwrap();
        let test = promtool_in(&rules, &["test", "rules", "rules.test.yml"]);
        assert!(!test.status.success(), "mutation {from} → {to} passed the unit tests");
    }
}

/// Grafana's schema as TypeScript types; JSON spells a string enum by its value.
const GRAFANA_CHECK_HEAD: &str = "import type { Dashboard } from '@grafana/schema';
type Json<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
export const dashboard: Json<Dashboard> = ";

/// Type-checks dashboard JSON with tsc against `@grafana/schema` (installed by setup.sh).
fn grafana_check(json: &str) -> std::process::Output {
    let modules = root().join(".tools/grafana-schema/node_modules");
    assert!(
        modules.join("@grafana/schema").is_dir(),
        "@grafana/schema is missing: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    std::fs::write(dir.path().join("check.ts"), format!("{GRAFANA_CHECK_HEAD}{json};\n")).unwrap();
    Command::new(modules.join(".bin/tsc"))
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--moduleResolution",
            "node",
            "--module",
            "commonjs",
            "--target",
            "es2020",
            "check.ts",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap()
}

#[test]
fn rendered_dashboards_type_check_against_grafanas_schema() {
    let dir = tempfile::tempdir().unwrap();
    for spec in specs(dir.path()).into_iter().take(2) {
        let out = render(&spec);
        let json = std::fs::read_to_string(out.path().join("observability/grafana/dashboard.json")).unwrap();
        let check = grafana_check(&json);
        assert!(check.status.success(), "{}: {}", spec.display(), stdout(&check));
        let dashboard: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(dashboard["schemaVersion"], 39);
        let rows: Vec<&str> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "row")
            .map(|p| p["title"].as_str().unwrap())
            .collect();
        assert_eq!(rows.len(), 4, "{rows:?}");
    }
    // The check can fail: a misspelt panel key and a missing required field.
    let out = render(&root().join("examples/factory.yaml"));
    let json = std::fs::read_to_string(out.path().join("observability/grafana/dashboard.json")).unwrap();
    for broken in [
        json.replacen("\"gridPos\"", "\"gridPosition\"", 1),
        json.replacen("\"schemaVersion\": 39,", "", 1),
    ] {
        assert_ne!(broken, json);
        assert!(!grafana_check(&broken).status.success());
    }
}
