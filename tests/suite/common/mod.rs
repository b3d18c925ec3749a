//! Helpers shared by the test binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iotctl::render::{Rendering, render_all, templates::Templates};
use iotctl::spec::{self, LoadedSpec};

pub const EXAMPLES: &[&str] = &["factory", "cold_chain"];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_path(name: &str) -> PathBuf {
    root().join("examples").join(format!("{name}.yaml"))
}

pub fn load(path: &Path) -> LoadedSpec {
    let bytes = std::fs::read(path).unwrap();
    match spec::check(&path.display().to_string(), &bytes) {
        Ok((loaded, _)) => loaded,
        Err((_, diagnostics)) => panic!("{} does not validate: {diagnostics:#?}", path.display()),
    }
}

pub fn render_example(name: &str) -> (LoadedSpec, Rendering) {
    let loaded = load(&example_path(name));
    let rendering = render_all(&loaded.spec, &Templates::embedded()).unwrap();
    (loaded, rendering)
}

/// Runs the iotctl binary from the repository root.
pub fn iotctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotctl"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("iotctl runs")
}

/// The iotctl binary from the repository root with no IOTCTL_* variables of the caller's
/// environment, so live tests see only the connections they pass.
pub fn hermetic(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_iotctl"));
    command.args(args).current_dir(root()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("IOTCTL_") {
            command.env_remove(key);
        }
    }
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What both engines must do with one hostile message.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Accepted; `late` when its ts is further behind its arrival than the allowed lateness.
    Valid { late: bool },
    /// Dead-lettered, with a reason that contains this text in RisingWave's words.
    Rejected(&'static str),
}

/// One message for the classification tests: published on `subject`, the payload's bytes.
#[derive(Debug, Clone)]
pub struct HostileCase {
    pub name: &'static str,
    pub subject: String,
    pub payload: Vec<u8>,
    pub expected: Expected,
}

/// Messages a real fleet sends, for the factory example, as they would arrive at `now`:
/// every one must be accepted or dead-lettered with its reason, by iotctl's check and by
/// RisingWave's classification alike (tests/suite/contracts.rs, tests/suite/live/risingwave.rs).
pub fn hostile_cases(now: time::OffsetDateTime) -> Vec<HostileCase> {
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let subject = "iot.berlin.press.oil_temperature".to_string();
    let event = |id: &str, ts: &str| {
        format!(
            r#"{{"event_id":"{id}","device_id":"p-1","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":42.5,"seq":7,"firmware_version":"1.2.0"}}"#
        )
    };
    let recent = rfc3339(now - time::Duration::seconds(1));
    let case = |name, payload: Vec<u8>, expected| HostileCase {
        name,
        subject: subject.clone(),
        payload,
        expected,
    };
    vec![
        case(
            "on time",
            event("h-ok", &recent).into_bytes(),
            Expected::Valid { late: false },
        ),
        case(
            "duplicate identity",
            event("h-ok", &recent).into_bytes(),
            Expected::Valid { late: false },
        ),
        case(
            "late by an hour",
            event("h-late", &rfc3339(now - time::Duration::hours(1))).into_bytes(),
            Expected::Valid { late: true },
        ),
        case(
            "ts in 1970",
            event("h-1970", "1970-01-01T00:00:00Z").into_bytes(),
            Expected::Valid { late: true },
        ),
        case(
            "ts in 2099",
            event("h-2099", "2099-01-01T00:00:00Z").into_bytes(),
            Expected::Rejected("ahead of the time"),
        ),
        case(
            "not JSON",
            b"temperature=42.5".to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        case(
            "JSON array",
            b"[1,2,3]".to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        case(
            "truncated JSON",
            event("h-cut", &recent).as_bytes()[..40].to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        case(
            "a raw NUL byte",
            event("h-nul\0", &recent).into_bytes(),
            Expected::Rejected("not a JSON object"),
        ),
        case(
            "an escaped NUL",
            event("h-nul\\u0000", &recent).into_bytes(),
            Expected::Rejected("\\u0000"),
        ),
        case(
            "not UTF-8",
            [b"{\"event_id\":\"h-\xff\xfe\"}".as_slice()].concat(),
            Expected::Rejected("not UTF-8"),
        ),
        case("empty payload", Vec::new(), Expected::Rejected("not a JSON object")),
        case(
            "missing ts",
            event("h-nots", &recent)
                .replace(&format!(r#","ts":"{recent}""#), "")
                .into_bytes(),
            Expected::Rejected("missing required field ts"),
        ),
        case(
            "NULL ts",
            event("h-nullts", &recent)
                .replace(&format!(r#""{recent}""#), "null")
                .into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        case(
            "unparseable ts",
            event("h-badts", "yesterday").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        case(
            "ts without a zone",
            event("h-nozone", "2026-01-01T00:00:00").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        case(
            "ts on a day that does not exist",
            event("h-feb30", "2026-02-30T10:00:00Z").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        case(
            "ts at a leap second",
            event("h-leap", "2016-12-31T23:59:60Z").into_bytes(),
            Expected::Valid { late: true },
        ),
        case(
            "value as a string",
            event("h-str", &recent).replace("42.5", "\"42.5\"").into_bytes(),
            Expected::Rejected("field value is not a number"),
        ),
        case(
            "value out of range",
            event("h-range", &recent).replace("42.5", "900").into_bytes(),
            Expected::Rejected("valid range"),
        ),
        case(
            "unknown site",
            event("h-site", &recent).replace("\"berlin\"", "\"paris\"").into_bytes(),
            Expected::Rejected("unknown site"),
        ),
        HostileCase {
            name: "subject mismatch",
            subject: "iot.lyon.press.oil_temperature".into(),
            payload: event("h-subject", &recent).into_bytes(),
            expected: Expected::Rejected("subject does not match"),
        },
    ]
}
