//! The loader never panics and always explains itself: arbitrary bytes, arbitrary YAML-shaped
//! documents, and mutations of the real examples.

use crate::common::root;
use iotctl::spec;
use proptest::prelude::*;

/// Runs the whole front end; returns the diagnostics when the input was refused.
fn check(bytes: &[u8]) -> Option<Vec<spec::Diagnostic>> {
    match spec::check("fuzz.yaml", bytes) {
        Ok(_) => None,
        Err((_, diagnostics)) => Some(diagnostics),
    }
}

fn assert_explained(bytes: &[u8]) {
    if let Some(diagnostics) = check(bytes) {
        assert!(
            !diagnostics.is_empty(),
            "refused without a diagnostic: {:?}",
            String::from_utf8_lossy(bytes)
        );
        let lines = bytes.split(|b| *b == b'\n').count() + 1;
        for d in &diagnostics {
            assert!(d.is_error() || diagnostics.iter().any(|x| x.is_error()));
            assert!(!d.message.is_empty());
            if let Some(pos) = d.pos {
                assert!(
                    pos.line >= 1 && pos.line <= lines + 1,
                    "line {} outside a {lines}-line input",
                    pos.line
                );
            }
            // Rendering never panics either.
            let _ = spec::diagnostic::render_human(d, None);
        }
    }
}

fn yaml_value() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "apiVersion",
        "pipeline",
        "name",
        "sites",
        "device_types",
        "metrics",
        "range",
        "min",
        "max",
        "thresholds",
        "warning",
        "critical",
        "above",
        "below",
        "windows",
        "size",
        "hop",
        "anomaly",
        "k",
        "nats",
        "streams",
        "telemetry",
        "max_age",
        "subjects",
        "risingwave",
        "options",
        "contract",
        "extra_fields",
        "type",
        "unit",
        "bogus",
        "slo",
    ]);
    let leaf = prop_oneof![
        Just("iotctl/v1".to_string()),
        Just("7d".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("&a x".to_string()),
        Just("*a".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        "[a-z0-9_.>*\"' -]{0,12}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|pairs| format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_explained(&bytes);
    }

    #[test]
    fn arbitrary_yaml_never_panics(document in yaml_value()) {
        assert_explained(document.as_bytes());
    }

    #[test]
    fn mutated_examples_never_panic(example in prop::sample::select(vec!["factory", "cold_chain"]), seed in any::<u64>(), edits in 1usize..6) {
        let text = std::fs::read_to_string(root().join("examples").join(format!("{example}.yaml"))).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (state >> 33) as usize };
        for _ in 0..edits {
            let i = next() % lines.len();
            match next() % 5 {
                0 => { lines.remove(i); }
                1 => { let copy = lines[i].clone(); lines.insert(i, copy); }
                2 => { lines[i] = format!("  {}", lines[i]); }
                3 => { let cut = next() % (lines[i].len() + 1); lines[i] = lines[i].chars().take(cut).collect(); }
                _ => { lines[i] = lines[i].replace(':', " "); }
            }
        }
        assert_explained(lines.join("\n").as_bytes());
    }
}

#[test]
fn deeply_nested_and_aliased_documents_are_refused_cleanly() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_explained(deep.as_bytes());
    // A billion-laughs document must be refused, not expanded.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n",
            (b'a' + i) as char,
            (b'a' + i) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char,
            (b'a' + i - 1) as char
        ));
    }
    let started = std::time::Instant::now();
    assert!(check(bomb.as_bytes()).is_some());
    assert!(started.elapsed().as_secs() < 10, "alias expansion was not bounded");
}
