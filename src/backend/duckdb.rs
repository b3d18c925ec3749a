//! The embedded DuckDB warehouse, reached through the SQLMesh venv's Python (its `duckdb`
//! package is the one SQLMesh writes the file with): queries and bulk upserts.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const HELPER: &str = include_str!("duckdb_helper.py");

#[derive(Debug, Clone)]
pub struct DuckDb {
    pub python: PathBuf,
    pub database: PathBuf,
}

/// The Python next to the sqlmesh executable (a venv's), else `python3` from PATH.
pub fn python_beside(sqlmesh_binary: &Path) -> PathBuf {
    sqlmesh_binary
        .parent()
        .map(|dir| dir.join("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

impl DuckDb {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.python);
        command
            .arg("-c")
            .arg(HELPER)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn spawn_error(&self) -> String {
        format!(
            "cannot run `{}` with the duckdb package (run scripts/setup.sh, or pass --sqlmesh-bin from a venv with SQLMesh)",
            self.python.display()
        )
    }

    /// Rows of `sql` as text (None for NULL).
    pub async fn query(&self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        if !self.database.exists() {
            bail!(
                "no DuckDB warehouse at `{}` (run `iotctl apply` first)",
                self.database.display()
            );
        }
        let database = self.database.display().to_string();
        let mut child = self
            .command(&["query", &database])
            .spawn()
            .with_context(|| self.spawn_error())?;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(sql.as_bytes()).await?;
        drop(stdin);
        let output = child.wait_with_output().await?;
        if !output.status.success() {
            bail!(
                "DuckDB query on `{}` failed: {}",
                self.database.display(),
                last_line(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.split('\t').map(unescape).collect())
            .collect())
    }

    /// A loader upserting CSV batches into `table` on `keys`, after running `ddl`.
    pub async fn loader(&self, ddl: &str, table: &str, keys: &[&str]) -> anyhow::Result<DuckDbLoader> {
        if let Some(dir) = self.database.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let scratch = tempfile_dir()?;
        let ddl_path = scratch.join("warehouse.sql");
        std::fs::write(&ddl_path, ddl)?;
        let database = self.database.display().to_string();
        let mut child = self
            .command(&[
                "load",
                &database,
                &ddl_path.display().to_string(),
                table,
                &keys.join(","),
            ])
            .spawn()
            .with_context(|| self.spawn_error())?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        Ok(DuckDbLoader {
            child,
            stdin: Some(stdin),
            stdout,
            scratch,
            batches: 0,
        })
    }
}

fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    if !field.contains('\\') {
        return Some(field.to_string());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .to_string()
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "iotctl-duckdb-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}

pub struct DuckDbLoader {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    scratch: PathBuf,
    batches: u64,
}

impl DuckDbLoader {
    /// Upserts one CSV batch; returns the rows the table gained.
    pub async fn load_csv(&mut self, csv: &str) -> anyhow::Result<u64> {
        self.batches += 1;
        let path = self.scratch.join(format!("batch-{}.csv", self.batches));
        std::fs::write(&path, csv).with_context(|| format!("cannot write `{}`", path.display()))?;
        let stdin = self.stdin.as_mut().context("the DuckDB loader is closed")?;
        stdin.write_all(format!("{}\n", path.display()).as_bytes()).await?;
        stdin.flush().await?;
        let reply = self.stdout.next_line().await?;
        let _ = std::fs::remove_file(&path);
        match reply.as_deref().and_then(|r| r.strip_prefix("ok ")) {
            Some(rows) => Ok(rows.trim().parse().unwrap_or(0)),
            None => {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr).await;
                }
                bail!("loading into DuckDB failed: {}", last_line(stderr.as_bytes()))
            }
        }
    }

    /// Closes the database (so SQLMesh can open it) and removes the scratch files.
    pub async fn close(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait().await?;
        let _ = std::fs::remove_dir_all(&self.scratch);
        if !status.success() {
            bail!("the DuckDB loader exited with {status}");
        }
        Ok(())
    }
}
