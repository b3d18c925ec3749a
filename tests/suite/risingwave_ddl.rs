//! Every rendered RisingWave statement checked against the documented statement forms and
//! connector option lists in `shared/reference/` (RisingWave itself cannot run here; the live
//! suite in tests/suite/live runs against one when IOTCTL_TEST_RISINGWAVE_URL is set).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{EXAMPLES, load, render_example, root};
use iotctl::render::ddl_check::check_statement;
use iotctl::render::ddl_options::POSTGRES_SINK_OPTIONS;
use iotctl::render::ddl_rules::check_pipeline;
use iotctl::render::risingwave::{RwKind, RwObject};
use iotctl::render::{Rendering, render_all, templates::Templates};
use iotctl::spec::LoadedSpec;

/// The reference lists: from `../shared/reference` beside the repository when present (the
/// source of truth), else the repository's copy.
fn reference_list(name: &str) -> BTreeSet<String> {
    let shared = root().join("../shared/reference").join(name);
    let path = if shared.is_file() {
        shared
    } else {
        root().join("sql/reference").join(name)
    };
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn embedded_option_lists_match_the_shared_reference() {
    for name in ["nats-source-options.txt", "nats-sink-options.txt"] {
        let shared: PathBuf = root().join("../shared/reference").join(name);
        if shared.is_file() {
            assert_eq!(
                std::fs::read_to_string(&shared).unwrap(),
                std::fs::read_to_string(root().join("sql/reference").join(name)).unwrap(),
                "sql/reference/{name} is out of date"
            );
        }
    }
}

/// `key = value` pairs of the statement's WITH block, read line by line (independently of
/// the library's tokenizer).
fn with_keys(ddl: &str) -> Vec<String> {
    let Some(start) = ddl.find("\nWITH (\n") else {
        return Vec::new();
    };
    ddl[start + 8..]
        .lines()
        .take_while(|l| !l.starts_with(')'))
        .filter_map(|l| l.trim().split_once(" = ").map(|(k, _)| k.to_string()))
        .collect()
}

/// NATS source keys RisingWave documents; the postgres sink's keys.
struct Documented {
    source: BTreeSet<String>,
    nats_sink: BTreeSet<String>,
    postgres_sink: BTreeSet<&'static str>,
}

impl Documented {
    fn load() -> Documented {
        Documented {
            source: reference_list("nats-source-options.txt"),
            nats_sink: reference_list("nats-sink-options.txt"),
            postgres_sink: POSTGRES_SINK_OPTIONS.iter().copied().collect(),
        }
    }
}

#[test]
fn every_statement_has_a_documented_form() {
    let documented = Documented::load();
    for example in EXAMPLES {
        let (loaded, rendering) = render_example(example);
        let mut created: BTreeSet<String> = BTreeSet::new();
        assert!(rendering.risingwave.len() >= 10, "{example}: too few objects");
        for object in &rendering.risingwave {
            let checked = check_statement(&object.ddl).unwrap_or_else(|e| {
                panic!(
                    "{example}: {} `{}`: {e}\n{}",
                    object.kind.as_str(),
                    object.name,
                    object.ddl
                )
            });
            assert_eq!(checked.kind, object.kind.as_str(), "{example}: {}", object.name);
            // Apply order: everything an object reads exists before it.
            for dependency in &object.depends_on {
                assert!(
                    created.contains(dependency),
                    "{example}: `{}` depends on `{dependency}`, created later or never",
                    object.name
                );
            }
            created.insert(object.name.clone());
            assert!(
                !object.ddl.contains("OR REPLACE"),
                "{example}/{}: CREATE OR REPLACE is not on release servers",
                object.name
            );
            let keys = with_keys(&object.ddl);
            match object.kind {
                RwKind::Table => check_table(example, object, &keys, &documented),
                RwKind::Sink => check_sink(example, object, &keys, &documented),
                _ => assert!(keys.is_empty() || object.kind == RwKind::Secret, "{}", object.name),
            }
        }
        check_pipeline_wide(example, &loaded, &rendering);
    }
}

fn check_table(example: &str, object: &RwObject, keys: &[String], documented: &Documented) {
    let (ddl, source_keys) = (&object.ddl, &documented.source);
    assert!(ddl.contains("APPEND ONLY"), "{}", object.name);
    // One reader per durable consumer (RisingWave #25681), for this job only.
    assert!(
        ddl.contains("SET streaming_parallelism_for_table = 1;")
            && ddl
                .trim_end()
                .ends_with("SET streaming_parallelism_for_table TO DEFAULT;"),
        "{}",
        object.name
    );
    // No table has a watermark: it would drop late and NULL-ts rows unseen.
    assert!(!ddl.contains("WATERMARK"), "{}", object.name);
    if object.name.ends_with("_replay") {
        // What iotctl republished, already checked against the contract.
        assert!(ddl.contains("subject = 'replay."), "{}", object.name);
        assert!(ddl.contains("_replay'"), "its own durable consumer: {}", object.name);
        assert!(ddl.contains("FORMAT PLAIN ENCODE JSON;"), "{}", object.name);
    } else {
        // Raw bytes: every message becomes a row, whatever it holds.
        assert!(ddl.contains("FORMAT PLAIN ENCODE BYTES;"), "{}", object.name);
        assert!(ddl.contains("AS proctime()"), "{}", object.name);
    }
    for key in keys.iter().filter(|k| *k != "retention_seconds") {
        assert!(
            source_keys.contains(key),
            "{example}/{}: `{key}` is not a documented NATS source key",
            object.name
        );
    }
    for required in [
        "connector",
        "server_url",
        "subject",
        "connect_mode",
        "stream",
        "consumer.durable_name",
    ] {
        assert!(
            keys.iter().any(|k| k == required),
            "{example}/{}: `{required}` missing",
            object.name
        );
    }
    for forbidden in [
        "consumer.deliver_policy",
        "consumer.deliver_subject",
        "consumer.filter_subject",
        "consumer.filter_subjects",
        "consumer.headers_only",
        "allow_create_stream",
    ] {
        assert!(
            !keys.iter().any(|k| k == forbidden),
            "{example}/{}: `{forbidden}` set",
            object.name
        );
    }
}

fn check_sink(example: &str, object: &RwObject, keys: &[String], documented: &Documented) {
    let (ddl, sink_keys, postgres_sink_keys) = (&object.ddl, &documented.nats_sink, &documented.postgres_sink);
    assert!(
        !ddl.contains("FORMAT "),
        "{example}/{}: nats/postgres sinks reject FORMAT",
        object.name
    );
    if ddl.contains("connector = 'nats'") {
        for key in keys {
            assert!(
                sink_keys.contains(key),
                "{example}/{}: `{key}` is not a documented NATS sink key",
                object.name
            );
        }
    } else {
        assert!(ddl.contains("connector = 'postgres'"));
        for key in keys {
            assert!(
                postgres_sink_keys.contains(key.as_str()),
                "{example}/{}: `{key}`",
                object.name
            );
        }
        assert!(
            ddl.contains("type = 'upsert'") && ddl.contains("primary_key = "),
            "{example}: the warehouse sink must upsert on the event identity"
        );
        assert!(
            ddl.contains("password = SECRET "),
            "{example}: warehouse password must be a SECRET"
        );
    }
}

/// What holds across the pipeline: no plain-text password, every kind present, the sinks' start.
fn check_pipeline_wide(example: &str, loaded: &LoadedSpec, rendering: &Rendering) {
    // No password, for NATS or the warehouse, ever appears as a literal.
    for artifact in rendering.files() {
        assert!(
            !artifact.content.contains("password = '"),
            "{example}/{}: plain-text password",
            artifact.path
        );
    }
    let kinds: BTreeSet<&str> = rendering.risingwave.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["materialized_view", "schema", "secret", "sink", "table"].into(),
        "{example}"
    );
    assert!(rendering.risingwave.iter().any(|o| o.name == "alerts"));
    check_pipeline(rendering.risingwave.iter().map(|o| o.ddl.as_str())).unwrap_or_else(|e| panic!("{example}: {e}"));
    // Every NATS sink starts from new rows: a rebuild must not page or dead-letter again.
    for sink in rendering
        .risingwave
        .iter()
        .filter(|o| o.ddl.contains("connector = 'nats'") && o.kind == RwKind::Sink)
    {
        assert!(sink.ddl.contains("snapshot = 'false'"), "{example}/{}", sink.name);
        // Alerts and dead letters go out as rows arrive, not at checkpoints.
        assert!(
            sink.ddl.starts_with("-- ") && sink.ddl.contains("SET sink_decouple = false;"),
            "{example}/{}",
            sink.name
        );
    }
    assert_eq!(
        loaded.spec.risingwave.warehouse_sink.enabled,
        rendering
            .risingwave
            .iter()
            .any(|o| o.ddl.contains("connector = 'postgres'"))
    );
}

#[test]
fn hostile_text_cannot_break_out_of_literals_or_comments() {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let hostile = text
        .replace(
            "unit: celsius",
            "unit: \"deg'; DROP SCHEMA factory CASCADE; --\\n\\u00e9\"",
        )
        .replace(
            "description: Hydraulic stamping press",
            "description: \"line one\\nDROP TABLE x; -- \\\"quoted\\\" \\u2603\"",
        )
        .replace(
            "password_env: IOTCTL_WAREHOUSE_PASSWORD",
            "password_env: IOTCTL_WAREHOUSE_PASSWORD\n  user: \"o'brien\"",
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.yaml");
    std::fs::write(&path, hostile.replace("  user: iotctl\n", "")).unwrap();
    let loaded = load(&path);
    let rendering = render_all(&loaded.spec, &Templates::embedded()).unwrap();
    for object in &rendering.risingwave {
        check_statement(&object.ddl).unwrap_or_else(|e| panic!("{}: {e}\n{}", object.name, object.ddl));
        assert!(!object.ddl.contains("\nDROP"), "{}", object.ddl);
    }
    let sink = rendering
        .risingwave
        .iter()
        .find(|o| o.name == "telemetry_to_warehouse")
        .unwrap();
    assert!(sink.ddl.contains("user = 'o''brien'"), "{}", sink.ddl);
    let thresholds = rendering
        .artifacts
        .iter()
        .find(|a| a.path == "sqlmesh/models/metric_thresholds.sql")
        .unwrap();
    assert!(
        thresholds
            .content
            .contains("'deg''; DROP SCHEMA factory CASCADE; --\né'"),
        "{}",
        thresholds.content
    );
}

#[test]
fn long_generated_names_stay_within_63_bytes_and_unique() {
    let text = std::fs::read_to_string(root().join("examples/factory.yaml")).unwrap();
    let long_type = "a".repeat(60);
    let spec = text
        .replace("  - name: cnc_mill", &format!("  - name: {long_type}"))
        .replace("- name: spindle_vibration", &format!("- name: {}", "v".repeat(60)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.yaml");
    std::fs::write(&path, spec).unwrap();
    let loaded = load(&path);
    let rendering = render_all(&loaded.spec, &Templates::embedded()).unwrap();
    let names: BTreeSet<&str> = rendering.risingwave.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names.len(), rendering.risingwave.len());
    assert!(names.iter().all(|n| n.len() <= 63), "{names:?}");
}

/// The failure classes a real RisingWave showed, each planted in a copy of one template: the
/// static checks must refuse every one (and accept the shipped templates, above).
#[test]
fn each_failure_class_is_caught_on_a_broken_template() {
    let (loaded, _) = render_example("factory");
    let embedded = |name: &str| std::fs::read_to_string(root().join(name)).unwrap();
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            // An included payload is jsonb: a bytea function on it fails at create time.
            "sql/risingwave/ingestion_table.sql.j2",
            "INCLUDE subject AS nats_subject",
            "INCLUDE subject AS nats_subject\nINCLUDE payload AS payload",
            "jsonb",
        ),
        (
            "sql/risingwave/classify.sql.j2",
            "INTERVAL {{ c.max_clock_skew|literal }}",
            "INTERVAL '300000 milliseconds'",
            "interval unit",
        ),
        (
            "sql/risingwave/rolling_aggregate.sql.j2",
            "INTERVAL {{ size|literal }})",
            "INTERVAL '1.5 minutes')",
            "not an integer",
        ),
        (
            "sql/risingwave/ingestion_table.sql.j2",
            "    payload BYTEA,",
            "    payload BYTEA,\n    nats_subject VARCHAR AS 'x',",
            "defined twice",
        ),
        (
            // An event-time watermark drops late and NULL-ts rows before classification.
            "sql/risingwave/ingestion_table.sql.j2",
            "    received_at TIMESTAMPTZ AS proctime()",
            "    received_at TIMESTAMPTZ AS proctime(),\n    ts TIMESTAMPTZ AS now(),\n    WATERMARK FOR ts AS ts - INTERVAL '5 seconds'",
            "drops rows",
        ),
        (
            "sql/risingwave/ingestion_table.sql.j2",
            "    payload BYTEA,",
            "    payload VARCHAR,",
            "one BYTEA",
        ),
        (
            // The same column name twice in a view: a contract field shadowing a generated one.
            "sql/risingwave/valid_telemetry.sql.j2",
            "    received_at,",
            "    received_at,\n    received_at,",
            "more than once",
        ),
    ];
    for (template, shipped, broken, expected) in cases {
        let source = embedded(template);
        assert!(source.contains(shipped), "{template} no longer contains `{shipped}`");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(template);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, source.replacen(shipped, broken, 1)).unwrap();
        let templates = Templates::with_overrides(dir.path()).unwrap();
        let rendering = render_all(&loaded.spec, &templates).unwrap();
        let statements: Vec<&str> = rendering.risingwave.iter().map(|o| o.ddl.as_str()).collect();
        let errors: Vec<String> = statements
            .iter()
            .filter_map(|ddl| check_statement(ddl).err())
            .chain(check_pipeline(statements.iter().copied()).err())
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{template} with `{broken}`: expected an error containing `{expected}`, got {errors:?}"
        );
    }
}

/// Issue 12, point 4: nothing grows without bound, and each bound is one RisingWave applies.
/// A view bounded by a temporal filter carries one in its own SQL; the whole-day views share
/// one day-step bound (so a day leaves every view in the same barrier); the sinks that read
/// expiring views ignore the expiry.
#[test]
fn every_stateful_object_is_bounded_by_a_mechanism_in_its_sql() {
    use iotctl::render::risingwave::StateBound;
    for example in EXAMPLES {
        let (loaded, _) = render_example(example);
        let rendering = render_all(&loaded.spec, &Templates::embedded()).unwrap();
        for object in &rendering.risingwave {
            let why = match &object.state {
                StateBound::Unbounded(why) => panic!("{example}/{}: unbounded: {why}", object.name),
                StateBound::Bounded(why) | StateBound::Stateless(why) => why,
            };
            let ddl = &object.ddl;
            if why.contains("temporal filter") {
                assert!(ddl.contains("now()"), "{example}/{}: {why}\n{ddl}", object.name);
            }
            if why.contains("whole UTC days") && !object.name.contains("daily") {
                assert!(
                    ddl.contains("ts >= date_trunc('day', now() - INTERVAL '")
                        && ddl.contains("', 'UTC') + INTERVAL '24 hours'"),
                    "{example}/{}: the day-step bound\n{ddl}",
                    object.name
                );
            }
            if why.contains("retention_seconds") {
                assert!(ddl.contains("retention_seconds = '"), "{example}/{}", object.name);
            }
            if object.kind == RwKind::Sink && ddl.contains("connector = 'postgres'") {
                assert!(ddl.contains("ignore_delete = 'true'"), "{example}/{}", object.name);
            }
        }
    }
}
