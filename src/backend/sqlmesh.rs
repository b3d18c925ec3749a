//! SQLMesh: write the rendered project, read SQLMesh's state of it, and run `sqlmesh plan`,
//! `run` and restatements in the project's venv, streaming their output.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::backend::duckdb::python_beside;
use crate::plan::sqlmesh::ProjectState;
use crate::render::Artifact;
use crate::render::sqlmesh::ModelNames;
use crate::settings::SqlmeshSettings;
use crate::time::Day;

const STATE_HELPER: &str = include_str!("sqlmesh_state.py");

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

/// Runs `sqlmesh --gateway G plan --auto-apply --no-prompts` in the project, passing each
/// output line to `line`; a non-zero exit is an error carrying SQLMesh's last lines.
pub async fn plan(settings: &SqlmeshSettings, line: impl FnMut(&str)) -> anyhow::Result<()> {
    let gateway = settings.gateway_name();
    run(
        settings,
        &["--gateway", gateway, "plan", "--auto-apply", "--no-prompts"],
        line,
    )
    .await
}

/// Runs `sqlmesh --gateway G run`: builds every closed day not built yet.
pub async fn build_days(settings: &SqlmeshSettings, line: impl FnMut(&str)) -> anyhow::Result<()> {
    run(settings, &["--gateway", settings.gateway_name(), "run"], line).await
}

/// Re-runs `models` for the days `start` … `end` (a restatement of production).
pub async fn restate(
    settings: &SqlmeshSettings,
    models: &[&str],
    (start, end): (Day, Day),
    line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let (start, end) = (start.to_string(), end.to_string());
    let mut args = vec!["--gateway", settings.gateway_name(), "plan"];
    for model in models {
        args.extend(["--restate-model", model]);
    }
    args.extend(["--start", &start, "--end", &end, "--auto-apply", "--no-prompts"]);
    run(settings, &args, line).await
}

/// SQLMesh's own state of the project: whether prod exists and matches it, the closed days
/// not built yet, and the built days whose warehouse rows changed (all of them, or those in
/// `check_days`).
pub async fn observe(
    settings: &SqlmeshSettings,
    names: &ModelNames,
    check_days: Option<(Day, Day)>,
) -> anyhow::Result<ProjectState> {
    if settings.duckdb_file.as_ref().is_some_and(|file| !file.exists()) {
        // Nothing was ever built there; opening SQLMesh would create the file.
        return Ok(ProjectState {
            has_changes: true,
            ..Default::default()
        });
    }
    let request = serde_json::json!({
        "gateway": settings.gateway_name(),
        "device_metrics": names.device_metrics,
        "site_rollup": names.site_rollup,
        "check_days": check_days.map(|(first, last)| [first.to_string(), last.to_string()]),
    });
    let output = tokio::process::Command::new(python_beside(&settings.binary))
        .arg("-c")
        .arg(STATE_HELPER)
        .arg(request.to_string())
        .current_dir(&settings.project_dir)
        .envs(settings.env.iter().map(|(k, v)| (k, v)))
        .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run the SQLMesh venv's Python (run scripts/setup.sh, or pass --sqlmesh-bin)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "cannot read SQLMesh's state of `{}`:\n{}",
            settings.project_dir.display(),
            tail.join("\n")
        );
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("SQLMesh's state helper answered `{last}`"))
}

async fn run(settings: &SqlmeshSettings, args: &[&str], mut line: impl FnMut(&str)) -> anyhow::Result<()> {
    let binary = &settings.binary;
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .current_dir(&settings.project_dir)
        .envs(settings.env.iter().map(|(k, v)| (k, v)))
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
            "sqlmesh {} failed ({status}):\n{}",
            args.get(2).unwrap_or(&""),
            tail.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}
