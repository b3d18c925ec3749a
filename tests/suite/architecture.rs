//! The layout's rules, checked on the source: each concept has one home (time, subjects,
//! quoting, environment, terminal output, metric names, the canary prefix), and the spec layer depends on nothing above it.
//! ARCHITECTURE.md explains each rule; a rule broken here names the file and the text.

use std::path::{Path, PathBuf};

use crate::common::root;

/// A piece of source text that may only appear in the files listed.
struct Rule {
    concept: &'static str,
    text: &'static str,
    allowed: &'static [&'static str],
}

const RULES: &[Rule] = &[
    // Time: calendar arithmetic, RFC 3339 and the flag grammar live in src/time.rs.
    Rule {
        concept: "time",
        text: "Rfc3339",
        allowed: &["src/time.rs"],
    },
    Rule {
        concept: "time",
        text: "format_description",
        allowed: &["src/time.rs"],
    },
    Rule {
        concept: "time",
        text: "SystemTime",
        allowed: &["src/time.rs"],
    },
    Rule {
        concept: "time",
        text: "is_multiple_of(4)",
        allowed: &["src/time.rs"],
    },
    // The duration units table is the one other place a day's length is written.
    Rule {
        concept: "time",
        text: "86_400",
        allowed: &["src/time.rs", "src/spec/duration.rs"],
    },
    // Subjects: the telemetry layout is built and read in src/spec/subjects.rs; the model
    // declares the prefix and validation checks it as a subject.
    Rule {
        concept: "subjects",
        text: "subject_prefix",
        allowed: &[
            "src/spec/subjects.rs",
            "src/spec/model.rs",
            "src/spec/validate_connectors.rs",
        ],
    },
    Rule {
        concept: "subjects",
        text: "split('.').count()",
        allowed: &["src/spec/subjects.rs"],
    },
    // Quoting: doubling a quote is how SQL, CSV and YAML escape; only src/quoting/ does it.
    Rule {
        concept: "quoting",
        text: r#""\"\"""#,
        allowed: &["src/quoting/sql.rs", "src/quoting/csv.rs"],
    },
    Rule {
        concept: "quoting",
        text: r#""''""#,
        allowed: &["src/quoting/sql.rs"],
    },
    // Exported metric names live in the catalog; rules and panels name them through it.
    Rule {
        concept: "metrics",
        text: "\"iotctl_stream_",
        allowed: &["src/observability/metrics.rs"],
    },
    Rule {
        concept: "metrics",
        text: "\"iotctl_probe_",
        allowed: &["src/observability/metrics.rs"],
    },
    // The canary device prefix: the event model holds it, everything else asks it.
    Rule {
        concept: "canaries",
        text: "\"iotctl-canary-",
        allowed: &["src/spec/event.rs"],
    },
    // The environment is read in src/settings.rs alone.
    Rule {
        concept: "environment",
        text: "env::var",
        allowed: &["src/settings.rs"],
    },
    // The terminal is written through the Printer.
    Rule {
        concept: "output",
        text: "println!",
        allowed: &["src/output.rs"],
    },
    Rule {
        concept: "output",
        text: "eprint",
        allowed: &["src/output.rs"],
    },
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `src/**/*.rs` as (path relative to the repository, text).
fn source_files() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    sources(&root().join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(root()).unwrap().display().to_string();
            (relative, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// Where a rule is broken: `file:line: text`.
fn violations(files: &[(String, String)], rule: &Rule) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files.iter().filter(|(path, _)| !rule.allowed.contains(&path.as_str())) {
        for (number, line) in text.lines().enumerate().filter(|(_, line)| line.contains(rule.text)) {
            found.push(format!("{path}:{}: {}", number + 1, line.trim()));
        }
    }
    found
}

#[test]
fn each_concept_lives_in_its_module() {
    let files = source_files();
    assert!(files.len() > 50, "the source tree was not found");
    let mut broken = Vec::new();
    for rule in RULES {
        for violation in violations(&files, rule) {
            broken.push(format!(
                "{} (`{}` belongs in {}): {violation}",
                rule.concept,
                rule.text,
                rule.allowed.join(", ")
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The modules `spec/` may use: itself, time and the vendored reference data.
const SPEC_MAY_USE: &[&str] = &["crate::spec", "crate::time", "crate::reference"];

/// `crate::…` paths a line uses that the spec layer may not.
fn layer_violations(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &line[at..];
            let end = rest[7..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(rest.len(), |e| e + 7);
            rest[..end].to_string()
        })
        .filter(|path| !SPEC_MAY_USE.contains(&path.as_str()))
        .collect()
}

#[test]
fn the_spec_layer_imports_nothing_from_above_it() {
    let broken: Vec<String> = source_files()
        .iter()
        .filter(|(path, _)| path.starts_with("src/spec/"))
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, line)| !layer_violations(line).is_empty())
                .map(move |(number, line)| format!("{path}:{}: {}", number + 1, line.trim()))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "spec/ must stay the bottom layer:\n{}",
        broken.join("\n")
    );
    assert_eq!(
        layer_violations("use crate::render::x; use crate::time::Day;"),
        ["crate::render"]
    );
}

/// The check above can fail: a planted copy of each rule's text outside its home is found.
#[test]
fn a_planted_violation_is_found() {
    for rule in RULES {
        let planted = vec![("src/elsewhere.rs".to_string(), format!("let x = {};", rule.text))];
        assert_eq!(violations(&planted, rule).len(), 1, "{}", rule.text);
        let home = vec![(rule.allowed[0].to_string(), format!("let x = {};", rule.text))];
        assert!(violations(&home, rule).is_empty(), "{}", rule.text);
    }
}
