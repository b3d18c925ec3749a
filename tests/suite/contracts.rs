//! Contracts under real validators: the JSON Schemas with the `jsonschema` crate, the Avro
//! schemas with `apache-avro`; and breaking-change detection end to end through the CLI.

use std::path::Path;

use crate::common::{EXAMPLES, iotctl, render_example, root, stderr, stdout};
use iotctl::contract::surface::Surface;

fn payloads(kind: &str) -> Vec<(String, serde_json::Value)> {
    let dir = root().join("tests/fixtures/payloads").join(kind);
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            (p.file_name().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn factory_validator() -> jsonschema::Validator {
    let (_, rendering) = render_example("factory");
    let schema = rendering
        .artifacts
        .iter()
        .find(|a| a.path == "contracts/telemetry.schema.json")
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema.content).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn telemetry_schema_accepts_good_payloads() {
    let validator = factory_validator();
    let good = payloads("good");
    assert!(good.len() >= 3);
    for (name, payload) in good {
        let errors: Vec<String> = validator.iter_errors(&payload).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name} should be valid: {errors:?}");
    }
}

#[test]
fn telemetry_schema_rejects_bad_payloads() {
    let validator = factory_validator();
    let bad = payloads("bad");
    assert!(bad.len() >= 8);
    for (name, payload) in bad {
        assert!(!validator.is_valid(&payload), "{name} should be rejected");
    }
}

#[test]
fn every_json_schema_is_a_valid_2020_12_schema() {
    for example in EXAMPLES {
        let (_, rendering) = render_example(example);
        for artifact in rendering.artifacts.iter().filter(|a| a.path.ends_with(".schema.json")) {
            let schema: serde_json::Value = serde_json::from_str(&artifact.content).unwrap();
            assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
            jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{example}/{}: {e}", artifact.path));
        }
    }
}

#[test]
fn alert_schema_matches_risingwave_sink_json() {
    // How RisingWave's NATS sink encodes a row of the alerts view (TIMESTAMPTZ without zone).
    let (_, rendering) = render_example("factory");
    let schema = rendering
        .artifacts
        .iter()
        .find(|a| a.path == "contracts/alert.schema.json")
        .unwrap();
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema.content).unwrap()).unwrap();
    let alert = serde_json::json!({"alert_id": "e1:threshold", "kind": "threshold", "severity": "critical", "device_id": "d", "site": "berlin", "device_type": "press", "metric": "oil_temperature", "ts": "2026-03-01 07:15:00.250000", "value": 91.0, "threshold": 85.0, "zscore": null});
    assert!(validator.is_valid(&alert));
    let wrong_kind = serde_json::json!({"alert_id": "x", "kind": "magic", "severity": "critical", "device_id": "d", "site": "s", "device_type": "t", "metric": "m", "ts": "2026-03-01 07:15:00", "value": 1.0});
    assert!(!validator.is_valid(&wrong_kind));
}

#[test]
fn avro_schemas_parse_with_apache_avro() {
    for example in EXAMPLES {
        let (_, rendering) = render_example(example);
        let avro: Vec<_> = rendering
            .artifacts
            .iter()
            .filter(|a| a.path.ends_with(".avsc"))
            .collect();
        assert_eq!(avro.len(), 2);
        for artifact in avro {
            let schema = apache_avro::Schema::parse_str(&artifact.content)
                .unwrap_or_else(|e| panic!("{example}/{}: {e}", artifact.path));
            let apache_avro::Schema::Record(record) = &schema else {
                panic!("{} is not a record", artifact.path)
            };
            let ts = record.fields.iter().find(|f| f.name == "ts").unwrap();
            assert!(
                matches!(ts.schema, apache_avro::Schema::TimestampMicros),
                "{}: ts is {:?}",
                artifact.path,
                ts.schema
            );
            for field in &record.fields {
                if let apache_avro::Schema::Union(union) = &field.schema {
                    assert!(
                        matches!(union.variants()[0], apache_avro::Schema::Null),
                        "{}: optional {} must be [\"null\", T]",
                        artifact.path,
                        field.name
                    );
                    assert_eq!(field.default, Some(serde_json::Value::Null));
                }
            }
        }
    }
}

#[test]
fn optional_extra_fields_are_nullable_in_avro() {
    let (_, rendering) = render_example("factory");
    let avsc = rendering
        .artifacts
        .iter()
        .find(|a| a.path == "contracts/telemetry.avsc")
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&avsc.content).unwrap();
    let field = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "operating_mode")
        .unwrap();
    assert_eq!(field["type"], serde_json::json!(["null", "string"]));
}

#[test]
fn the_contract_read_back_from_json_schema_equals_the_spec() {
    for example in EXAMPLES {
        let (loaded, rendering) = render_example(example);
        let schema = rendering
            .artifacts
            .iter()
            .find(|a| a.path == "contracts/telemetry.schema.json")
            .unwrap();
        let from_schema = Surface::from_json_schema(&serde_json::from_str(&schema.content).unwrap()).unwrap();
        assert_eq!(from_schema, Surface::from_spec(&loaded.spec), "{example}");
    }
}

/// Writes `examples/factory.yaml` with `edit` applied to a temp file and returns its path.
fn edited_factory(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit for {name} changed nothing");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, edited).unwrap();
    path.to_string_lossy().into_owned()
}

/// Edits of the factory spec that break producers or consumers: (name, from, to, rule).
const BREAKING_EDITS: &[(&str, &str, &str, &str)] = &[
    (
        "narrowed_range",
        "range: { min: -20, max: 150 }",
        "range: { min: -20, max: 120 }",
        "contract::range-narrowed",
    ),
    (
        "removed_metric",
        "      - name: stroke_count\n        type: integer\n        unit: strokes\n        range: { min: 0, max: 100000 }\n        windows:\n          - size: 1h\n",
        "",
        "contract::enum-value-removed",
    ),
    (
        "became_required",
        "      type: string\n      required: false\n      description: Production line",
        "      type: string\n      required: true\n      description: Production line",
        "contract::became-required",
    ),
    (
        "type_changed",
        "    - name: line\n      type: string",
        "    - name: line\n      type: integer",
        "contract::type-changed",
    ),
    (
        "removed_enum_value",
        "enum: [production, setup, maintenance, idle]",
        "enum: [production, setup, maintenance]",
        "contract::enum-value-removed",
    ),
    (
        "subject_layout",
        "  subject_prefix: iot\n",
        "  subject_prefix: plant\n",
        "contract::subject-layout-changed",
    ),
    (
        "removed_field",
        "    - name: line\n      type: string\n      required: false\n      description: Production line within the site\n",
        "",
        "contract::field-removed",
    ),
];

#[test]
fn contract_check_flags_breaking_changes_and_passes_additive_ones() {
    let dir = tempfile::tempdir().unwrap();
    for (name, from, to, rule) in BREAKING_EDITS {
        // The pager subject lives under the prefix too; keep the spec valid when it moves.
        let new = edited_factory(dir.path(), name, |t| {
            t.replace(from, to).replace(
                "alerts.iot.pager",
                if *name == "subject_layout" {
                    "alerts.plant.pager"
                } else {
                    "alerts.iot.pager"
                },
            )
        });
        let output = iotctl(&[
            "contract",
            "check",
            "-f",
            &new,
            "--against",
            "examples/factory.yaml",
            "--format",
            "json",
        ]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(report["breaking"], true);
        let rules: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["impact"] == "breaking")
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(rule), "{name}: expected {rule}, got {rules:?}");
    }
    let additive = edited_factory(dir.path(), "additive", |t| {
        t.replace("range: { min: -20, max: 150 }", "range: { min: -40, max: 180 }")
            .replace(
                "enum: [production, setup, maintenance, idle]",
                "enum: [production, setup, maintenance, idle, cleaning]",
            )
            .replace("  version: 1\n", "  version: 2\n")
            .replace(
                "  extra_fields:\n",
                "  extra_fields:\n    - name: ambient_temperature\n      type: float\n",
            )
    });
    let output = iotctl(&[
        "contract",
        "check",
        "-f",
        &additive,
        "--against",
        "examples/factory.yaml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("contract::range-widened"));
    let unchanged = iotctl(&[
        "contract",
        "check",
        "-f",
        "examples/factory.yaml",
        "--against",
        "contracts/factory",
    ]);
    assert_eq!(unchanged.status.code(), Some(0), "{}", stderr(&unchanged));
}

#[test]
fn contract_check_reads_a_rendered_contracts_directory() {
    let dir = tempfile::tempdir().unwrap();
    let narrowed = edited_factory(dir.path(), "narrowed", |t| {
        t.replace(
            "range: { min: 0, max: 400 }\n        thresholds:\n          warning: { above: 300",
            "range: { min: 0, max: 350 }\n        thresholds:\n          warning: { above: 300",
        )
    });
    let output = iotctl(&["contract", "check", "-f", &narrowed, "--against", "contracts/factory"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("press.hydraulic_pressure"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn contract_validate_checks_payload_files() {
    let good = iotctl(&[
        "contract",
        "validate",
        "-f",
        "examples/factory.yaml",
        "tests/fixtures/payloads/good/press_reading.json",
        "tests/fixtures/payloads/good/integer_metric.json",
    ]);
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));
    let bad = iotctl(&[
        "contract",
        "validate",
        "-f",
        "examples/factory.yaml",
        "--format",
        "json",
        "tests/fixtures/payloads/good/press_reading.json",
        "tests/fixtures/payloads/bad/out_of_range.json",
        "tests/fixtures/payloads/bad/truncated.json",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&bad)).unwrap();
    assert_eq!(report["checked"], 3);
    assert_eq!(report["invalid"], 2);
    let violations = &report["results"][1]["violations"];
    assert_eq!(violations[0]["pointer"], "/value", "{violations}");
    let missing = iotctl(&[
        "contract",
        "validate",
        "-f",
        "examples/factory.yaml",
        "no/such/file.json",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn contract_validate_reads_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.ndjson");
    let sample = iotctl(&[
        "sample",
        "-f",
        "examples/factory.yaml",
        "--days",
        "1",
        "--devices",
        "1",
        "--interval",
        "21600",
        "--encoding",
        "ndjson",
    ]);
    assert!(sample.status.success(), "{}", stderr(&sample));
    std::fs::write(&path, &sample.stdout).unwrap();
    let lines = stdout(&sample).lines().count();
    assert!(lines > 10);
    let output = iotctl(&[
        "contract",
        "validate",
        "-f",
        "examples/factory.yaml",
        "--ndjson",
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["checked"], lines as u64);
    assert_eq!(
        report["invalid"], 0,
        "generated samples must satisfy the contract: {report}"
    );
    assert_eq!(output.status.code(), Some(0));
}

/// iotctl's own check (replay, reconcile) on the hostile messages that RisingWave's
/// classification is held to in tests/suite/live/risingwave.rs: each accepted or refused as
/// expected, and the payload-level refusals in the same words as RisingWave's.
#[test]
fn hostile_messages_are_classified_as_both_engines_must() {
    let (loaded, _) = render_example("factory");
    let spec = &loaded.spec;
    let contract = iotctl::contract::fast::FastContract::for_spec(spec);
    let validator = iotctl::contract::payload::PayloadValidator::for_spec(spec).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let cases = crate::common::hostile_cases(now);
    assert!(cases.len() >= 15);
    for case in &cases {
        let accepted = contract.accepts(&case.subject, &case.payload, now_ms);
        match case.expected {
            crate::common::Expected::Valid { .. } => assert!(accepted, "{}: refused", case.name),
            crate::common::Expected::Rejected(reason) => {
                assert!(!accepted, "{}: accepted", case.name);
                let payload_level = ["not UTF-8", "\\u0000", "not a JSON object"];
                if payload_level.contains(&reason) {
                    let violations = validator.check_bytes(&case.payload);
                    let first = violations.first().map(|v| v.message.as_str()).unwrap_or_default();
                    assert!(first.contains(reason), "{}: `{first}`", case.name);
                }
            }
        }
    }
    // The clock rule is relative to arrival: the 2099 event was fine if it arrived in 2099.
    let future = cases.iter().find(|c| c.name == "ts in 2099").unwrap();
    let arrived_2099 = 4_070_908_800_000; // 2099-01-01T00:00:00Z
    assert!(contract.accepts(&future.subject, &future.payload, arrived_2099));
}
