//! Helpers shared by the test binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iotctl::render::{Rendering, render_all, templates::Templates};
use iotctl::spec::{self, LoadedSpec};
pub use iotctl::time::rfc3339;

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
    let m = CaseMaker::new(now);
    [time_cases(&m), payload_cases(&m), field_cases(&m)].concat()
}

/// Builds the factory example's events and cases, as they would arrive at `now`.
struct CaseMaker {
    now: time::OffsetDateTime,
    /// A second before `now`.
    recent: String,
}

impl CaseMaker {
    fn new(now: time::OffsetDateTime) -> CaseMaker {
        CaseMaker {
            now,
            recent: rfc3339(now - time::Duration::seconds(1)),
        }
    }

    fn event(&self, id: &str, ts: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","device_id":"p-1","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"{ts}","value":42.5,"seq":7,"firmware_version":"1.2.0"}}"#
        )
    }

    fn case(&self, name: &'static str, payload: Vec<u8>, expected: Expected) -> HostileCase {
        HostileCase {
            name,
            subject: "iot.berlin.press.oil_temperature".to_string(),
            payload,
            expected,
        }
    }
}

/// Early, late, far off and at a leap second.
fn time_cases(m: &CaseMaker) -> Vec<HostileCase> {
    vec![
        m.case(
            "on time",
            m.event("h-ok", &m.recent).into_bytes(),
            Expected::Valid { late: false },
        ),
        m.case(
            "duplicate identity",
            m.event("h-ok", &m.recent).into_bytes(),
            Expected::Valid { late: false },
        ),
        m.case(
            "late by an hour",
            m.event("h-late", &rfc3339(m.now - time::Duration::hours(1)))
                .into_bytes(),
            Expected::Valid { late: true },
        ),
        m.case(
            "ts in 1970",
            m.event("h-1970", "1970-01-01T00:00:00Z").into_bytes(),
            Expected::Valid { late: true },
        ),
        m.case(
            "ts in 2099",
            m.event("h-2099", "2099-01-01T00:00:00Z").into_bytes(),
            Expected::Rejected("ahead of the time"),
        ),
        m.case(
            "ts at a leap second",
            m.event("h-leap", "2016-12-31T23:59:60Z").into_bytes(),
            Expected::Valid { late: true },
        ),
    ]
}

/// Bytes that are not one JSON object of text.
fn payload_cases(m: &CaseMaker) -> Vec<HostileCase> {
    vec![
        m.case(
            "not JSON",
            b"temperature=42.5".to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        m.case(
            "JSON array",
            b"[1,2,3]".to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        m.case(
            "truncated JSON",
            m.event("h-cut", &m.recent).as_bytes()[..40].to_vec(),
            Expected::Rejected("not a JSON object"),
        ),
        m.case(
            "a raw NUL byte",
            m.event("h-nul\0", &m.recent).into_bytes(),
            Expected::Rejected("not a JSON object"),
        ),
        m.case(
            "an escaped NUL",
            m.event("h-nul\\u0000", &m.recent).into_bytes(),
            Expected::Rejected("\\u0000"),
        ),
        m.case(
            "not UTF-8",
            [b"{\"event_id\":\"h-\xff\xfe\"}".as_slice()].concat(),
            Expected::Rejected("not UTF-8"),
        ),
        m.case("empty payload", Vec::new(), Expected::Rejected("not a JSON object")),
    ]
}

/// Fields missing, mistyped, out of range, or disagreeing with the subject.
fn field_cases(m: &CaseMaker) -> Vec<HostileCase> {
    vec![
        m.case(
            "missing ts",
            m.event("h-nots", &m.recent)
                .replace(&format!(r#","ts":"{}""#, m.recent), "")
                .into_bytes(),
            Expected::Rejected("missing required field ts"),
        ),
        m.case(
            "NULL ts",
            m.event("h-nullts", &m.recent)
                .replace(&format!(r#""{}""#, m.recent), "null")
                .into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        m.case(
            "unparseable ts",
            m.event("h-badts", "yesterday").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        m.case(
            "ts without a zone",
            m.event("h-nozone", "2026-01-01T00:00:00").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        m.case(
            "ts on a day that does not exist",
            m.event("h-feb30", "2026-02-30T10:00:00Z").into_bytes(),
            Expected::Rejected("field ts is not"),
        ),
        m.case(
            "value as a string",
            m.event("h-str", &m.recent).replace("42.5", "\"42.5\"").into_bytes(),
            Expected::Rejected("field value is not a number"),
        ),
        m.case(
            "value out of range",
            m.event("h-range", &m.recent).replace("42.5", "900").into_bytes(),
            Expected::Rejected("valid range"),
        ),
        m.case(
            "unknown site",
            m.event("h-site", &m.recent)
                .replace("\"berlin\"", "\"paris\"")
                .into_bytes(),
            Expected::Rejected("unknown site"),
        ),
        HostileCase {
            name: "subject mismatch",
            subject: "iot.lyon.press.oil_temperature".into(),
            payload: m.event("h-subject", &m.recent).into_bytes(),
            expected: Expected::Rejected("subject does not match"),
        },
    ]
}
