//! Where the tools installed by scripts/setup.sh live, overridable by env. Self-contained:
//! the benches include the harness too.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn required(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} not found at {}: run scripts/setup.sh (it installs SQLMesh, nats-server and PostgreSQL)",
        path.display()
    );
    path
}

pub fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("IOTCTL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"));
    required(dir.join("bin").join(name), &format!("{name} (SQLMesh venv)"))
}

/// PostgreSQL's server binaries (initdb, postgres).
pub fn pg_bin(name: &str) -> PathBuf {
    find_pg_bin(name).unwrap_or_else(|| required(root().join(".tools/pg-bin").join(name), name))
}

/// A PostgreSQL server binary, if one is installed: `$IOTCTL_PG_BIN`, the link setup.sh makes,
/// or the newest under /usr/lib/postgresql.
pub fn find_pg_bin(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("IOTCTL_PG_BIN") {
        return Some(PathBuf::from(dir).join(name)).filter(|p| p.exists());
    }
    let linked = root().join(".tools/pg-bin").join(name);
    if linked.exists() {
        return Some(linked);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    candidates.sort();
    candidates.pop()
}

/// Runs a command, panicking with its output when it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn is_root() -> bool {
    // SAFETY-free way to learn the euid without a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A port the OS considers free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` (output discarded), sends it SIGKILL after `delay`, and reaps it; whether
/// it was still running when killed.
pub fn kill_after(command: &mut Command, delay: std::time::Duration) -> bool {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    running
}

/// OpenMetrics text parsed by the Prometheus Python client's strict OpenMetrics parser (not
/// iotctl's code): one (name, labels, value) per sample. Panics with the parser's error.
pub fn parse_openmetrics(text: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    use std::io::Write;
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    assert family.type == "gauge", family
    for s in family.samples:
        out.append([s.name, s.labels, repr(float(s.value))])
print(json.dumps(out))
"#;
    let mut child = Command::new(venv_bin("python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "OpenMetrics parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Vec<(String, std::collections::BTreeMap<String, String>, String)> =
        serde_json::from_slice(&output.stdout).unwrap();
    samples
        .into_iter()
        .map(|(name, labels, value)| (name, labels, value.parse().expect("a number")))
        .collect()
}

/// promtool, from Debian's prometheus package (scripts/setup.sh installs it).
pub fn promtool() -> PathBuf {
    required(
        PathBuf::from("/usr/bin/promtool"),
        "promtool (Debian's prometheus package)",
    )
}
