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
