//! The minijinja environment: templates from `sql/` and `sqlmesh/`, embedded in the binary and
//! overridable file by file from a user's directory (`--templates DIR`).

use std::path::Path;

use anyhow::{Context, bail};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use crate::quoting::{sql, yaml};

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../", $path)))),*]
    };
}

/// Every template, by its path relative to the repository root.
pub const EMBEDDED: &[(&str, &str)] = embed!(
    "sql/risingwave/macros.sql.j2",
    "sql/risingwave/schema.sql.j2",
    "sql/risingwave/secret.sql.j2",
    "sql/risingwave/ingestion_table.sql.j2",
    "sql/risingwave/classify.sql.j2",
    "sql/risingwave/valid_telemetry.sql.j2",
    "sql/risingwave/rejected_telemetry.sql.j2",
    "sql/risingwave/telemetry_accounting.sql.j2",
    "sql/risingwave/replay_table.sql.j2",
    "sql/risingwave/replayed_telemetry.sql.j2",
    "sql/risingwave/counted_telemetry.sql.j2",
    "sql/risingwave/live_telemetry.sql.j2",
    "sql/risingwave/rolling_aggregate.sql.j2",
    "sql/risingwave/threshold_breaches.sql.j2",
    "sql/risingwave/anomalies.sql.j2",
    "sql/risingwave/alerts.sql.j2",
    "sql/risingwave/alert_filter.sql.j2",
    "sql/risingwave/nats_sink.sql.j2",
    "sql/risingwave/warehouse_sink.sql.j2",
    "sql/risingwave/daily_device_metrics.sql.j2",
    "sql/risingwave/stream_daily_sink.sql.j2",
    "sql/warehouse/raw_telemetry.sql.j2",
    "sql/warehouse/stream_daily_device_metrics.sql.j2",
    "sqlmesh/config.yaml.j2",
    "sqlmesh/external_models.yaml.j2",
    "sqlmesh/models/metric_thresholds.sql.j2",
    "sqlmesh/models/daily_device_metrics.sql.j2",
    "sqlmesh/models/daily_site_rollup.sql.j2",
    "sqlmesh/audits/rollup_matches_device_metrics.sql.j2",
    "sqlmesh/audits/stream_matches_batch.sql.j2",
    "sqlmesh/tests/rows.yaml.j2",
    "sqlmesh/tests/test_daily_device_metrics.yaml.j2",
    "sqlmesh/tests/test_daily_site_rollup.yaml.j2",
);

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The templates shipped in the binary.
    pub fn embedded() -> Templates {
        let mut env = base_environment();
        for (name, source) in EMBEDDED {
            env.add_template(name, source)
                .expect("embedded templates are checked by tests");
        }
        Templates { env }
    }

    /// The embedded templates, with any file present under `dir` (same relative path)
    /// taking precedence. Files under `dir` that match no template are an error, so a typo in
    /// an override's name does not silently fall back to the default.
    pub fn with_overrides(dir: &Path) -> anyhow::Result<Templates> {
        if !dir.is_dir() {
            bail!("template directory `{}` does not exist", dir.display());
        }
        let mut env = base_environment();
        for (name, source) in EMBEDDED {
            let path = dir.join(name);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("failed to read template `{}`", path.display()))?;
                env.add_template_owned(name.to_string(), text)
                    .with_context(|| format!("template `{}` does not parse", path.display()))?;
            } else {
                env.add_template(name, source)
                    .expect("embedded templates are checked by tests");
            }
        }
        for file in walk(dir)? {
            let relative = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            if !EMBEDDED.iter().any(|(name, _)| *name == relative) {
                bail!(
                    "`{}` overrides no template; known templates: {}",
                    file.display(),
                    EMBEDDED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                );
            }
        }
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, context: impl serde::Serialize) -> anyhow::Result<String> {
        let template = self
            .env
            .get_template(name)
            .with_context(|| format!("no template `{name}`"))?;
        template
            .render(context)
            .map_err(|e| anyhow::anyhow!(describe(&e)))
            .with_context(|| format!("failed to render template `{name}`"))
    }
}

fn describe(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn walk(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // Every view, sink and model that counts leaves canaries out by this pattern.
    env.add_global("canary_device_like", crate::spec::event::canary_device_like());
    env.add_filter("ident", |name: &str| sql::ident(name).map_err(invalid));
    env.add_filter("literal", |text: &str| sql::literal(text).map_err(invalid));
    env.add_filter("float", |value: f64| sql::float(value));
    env.add_filter("comment", |text: &str| sql::comment(text));
    env.add_filter("yaml", |text: &str| yaml::string(text));
    env.add_filter("sqlmesh_name", |value: Value| -> Result<String, Error> {
        // A `schema.table` name for SQLMesh: each part quoted separately.
        let text = value.as_str().ok_or_else(|| invalid("expected a string".into()))?;
        sql::qualified_checked(text).map_err(invalid)
    });
    env
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}
