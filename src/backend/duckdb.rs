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

    /// A loader of CSV batches into `table` (quoted) on the key columns `keys` (plain
    /// names), after running `ddl`.
    pub async fn loader(&self, ddl: &str, table: &str, keys: &[&str]) -> anyhow::Result<DuckDbLoader> {
        if let Some(dir) = self.database.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let scratch = tempfile_dir()?;
        let ddl_path = scratch.join("warehouse.sql");
        std::fs::write(&ddl_path, ddl)?;
        let database = self.database.display().to_string();
        let keys = serde_json::to_string(keys)?;
        let mut child = self
            .command(&["load", &database, &ddl_path.display().to_string(), table, &keys])
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
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
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

/// A CSV batch in the loader's scratch directory, removed once dropped.
pub struct StagedCsv(PathBuf);

impl Drop for StagedCsv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl DuckDbLoader {
    /// Writes a CSV batch where the helper can read it.
    pub async fn stage(&mut self, csv: String) -> anyhow::Result<StagedCsv> {
        self.batches += 1;
        let path = self.scratch.join(format!("batch-{}.csv", self.batches));
        tokio::fs::write(&path, csv.into_bytes())
            .await
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok(StagedCsv(path))
    }

    /// Appends the batch in one transaction; `None` when a key is already in the table (then
    /// nothing was written).
    pub async fn insert(&mut self, batch: &StagedCsv) -> anyhow::Result<Option<u64>> {
        match self.request("insert", batch).await?.as_str() {
            "conflict" => Ok(None),
            reply => Ok(Some(rows_loaded(reply)?)),
        }
    }

    /// Inserts the batch's new keys and updates the rows whose values differ, in one
    /// transaction; returns the rows written.
    pub async fn upsert(&mut self, batch: &StagedCsv) -> anyhow::Result<u64> {
        let reply = self.request("upsert", batch).await?;
        rows_loaded(&reply)
    }

    async fn request(&mut self, request: &str, batch: &StagedCsv) -> anyhow::Result<String> {
        let stdin = self.stdin.as_mut().context("the DuckDB loader is closed")?;
        stdin
            .write_all(format!("{request} {}\n", batch.0.display()).as_bytes())
            .await?;
        stdin.flush().await?;
        match self.stdout.next_line().await? {
            Some(reply) => Ok(reply),
            None => bail!("loading into DuckDB failed: {}", self.stderr_tail().await),
        }
    }

    async fn stderr_tail(&mut self) -> String {
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr).await;
        }
        last_line(stderr.as_bytes())
    }

    /// Closes the database (so SQLMesh can open it), removes the scratch files, and returns
    /// the helper's peak resident set size in KiB.
    pub async fn close(mut self) -> anyhow::Result<Option<u64>> {
        drop(self.stdin.take());
        let mut peak_rss_kib = None;
        while let Some(line) = self.stdout.next_line().await? {
            if let Some(kib) = line.strip_prefix("rss ") {
                peak_rss_kib = kib.trim().parse().ok();
            }
        }
        let status = self.child.wait().await?;
        let _ = std::fs::remove_dir_all(&self.scratch);
        if !status.success() {
            bail!("the DuckDB loader exited with {status}: {}", self.stderr_tail().await);
        }
        Ok(peak_rss_kib)
    }
}

fn rows_loaded(reply: &str) -> anyhow::Result<u64> {
    reply
        .strip_prefix("ok ")
        .and_then(|rows| rows.trim().parse().ok())
        .with_context(|| format!("unexpected reply from the DuckDB loader: `{reply}`"))
}
