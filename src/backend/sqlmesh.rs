//! SQLMesh: write the rendered project and run `sqlmesh plan --auto-apply`, streaming output.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::render::Artifact;

/// Where iotctl records, in the project directory, the project it last planned to completion
/// on each gateway: files that match the rendering are not proof that the plan ran (a failed
/// plan leaves them written), this record is.
const APPLIED_RECORD: &str = ".iotctl-applied";

/// A digest of the rendered project: its paths and contents.
pub fn project_digest(artifacts: &[&Artifact]) -> String {
    let mut files: Vec<&&Artifact> = artifacts.iter().filter(|a| a.path.starts_with("sqlmesh/")).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut text = String::new();
    for file in files {
        text.push_str(&format!("{}\n{}\n{}\n", file.path, file.content.len(), file.content));
    }
    crate::render::manifest::sha256_hex(text.as_bytes())
}

/// Whether the project with `digest` was last planned to completion on `gateway` in `dir`.
pub fn planned(dir: &Path, gateway: &str, digest: &str) -> bool {
    std::fs::read_to_string(dir.join(APPLIED_RECORD))
        .is_ok_and(|text| text.lines().any(|line| line == format!("{gateway} {digest}")))
}

/// Records that the project with `digest` was planned to completion on `gateway`.
pub fn record_planned(dir: &Path, gateway: &str, digest: &str) -> anyhow::Result<()> {
    let path = dir.join(APPLIED_RECORD);
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = previous
        .lines()
        .filter(|line| !line.starts_with(&format!("{gateway} ")))
        .map(str::to_string)
        .collect();
    lines.push(format!("{gateway} {digest}"));
    std::fs::write(&path, lines.join("\n") + "\n").with_context(|| format!("cannot write `{}`", path.display()))
}

/// Files of the project under `dir` that differ from the rendering (relative to `sqlmesh/`).
pub fn changed_files(artifacts: &[&Artifact], dir: &Path) -> Vec<String> {
    artifacts
        .iter()
        .filter_map(|a| a.path.strip_prefix("sqlmesh/").map(|relative| (relative, a)))
        .filter(|(relative, a)| std::fs::read(dir.join(relative)).ok().as_deref() != Some(a.content.as_bytes()))
        .map(|(relative, _)| relative.to_string())
        .collect()
}

pub fn write_project(artifacts: &[&Artifact], dir: &Path) -> anyhow::Result<()> {
    for artifact in artifacts {
        let Some(relative) = artifact.path.strip_prefix("sqlmesh/") else {
            continue;
        };
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, &artifact.content).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

/// Runs `sqlmesh --gateway G plan --auto-apply --no-prompts` in `dir`, passing each output
/// line to `line`; a non-zero exit is an error carrying SQLMesh's last lines.
pub async fn plan(binary: &Path, dir: &Path, gateway: &str, line: impl FnMut(&str)) -> anyhow::Result<()> {
    run(
        binary,
        dir,
        &["--gateway", gateway, "plan", "--auto-apply", "--no-prompts"],
        line,
    )
    .await
}

/// Re-runs `models` for the days `start` … `end` (a restatement of production).
pub async fn restate(
    binary: &Path,
    dir: &Path,
    gateway: &str,
    models: &[&str],
    start: &str,
    end: &str,
    line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut args = vec!["--gateway", gateway, "plan"];
    for model in models {
        args.extend(["--restate-model", model]);
    }
    args.extend(["--start", start, "--end", end, "--auto-apply", "--no-prompts"]);
    run(binary, dir, &args, line).await
}

async fn run(binary: &Path, dir: &Path, args: &[&str], mut line: impl FnMut(&str)) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "cannot run `{}` (install SQLMesh, or pass --sqlmesh-bin)",
                binary.display()
            )
        })?;
    // Both pipes feed one channel so lines keep their order of arrival.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<String>(256);
    let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
    let out_sender = sender.clone();
    tokio::spawn(async move {
        while let Ok(Some(text)) = stdout.next_line().await {
            if out_sender.send(text).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok(Some(text)) = stderr.next_line().await {
            if sender.send(text).await.is_err() {
                break;
            }
        }
    });
    let mut tail: std::collections::VecDeque<String> = Default::default();
    while let Some(text) = receiver.recv().await {
        line(&text);
        tail.push_back(text);
        if tail.len() > 20 {
            tail.pop_front();
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!(
            "sqlmesh plan failed ({status}):\n{}",
            tail.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}
