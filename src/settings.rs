//! Connection settings, resolved once: a flag beats env (clap reads both), env beats the spec.
//! Passwords come only from env or files, never flags (flags show in `ps`).

use std::path::PathBuf;

use crate::backend::duckdb::{DuckDb, python_beside};
use crate::cli::ConnectionArgs;
use crate::error::redact_url;
use crate::jobs::reconcile::BatchSource;
use crate::render::sqlmesh::gateway_name;
use crate::spec::Spec;
use crate::spec::model::Gateway;

#[derive(Debug, Clone)]
pub enum NatsAuth {
    None,
    Credentials(PathBuf),
    UserPassword { user: String, password: String },
    Nkey(String),
}

#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub servers: Vec<String>,
    pub auth: NatsAuth,
    pub tls_ca: Option<PathBuf>,
    pub tls_required: bool,
}

impl NatsSettings {
    /// Server list fit for messages: credentials masked.
    pub fn display(&self) -> String {
        self.servers.iter().map(|s| redact_url(s)).collect::<Vec<_>>().join(",")
    }
}

#[derive(Debug, Clone)]
pub struct SqlmeshSettings {
    pub project_dir: PathBuf,
    pub binary: PathBuf,
    /// `--sqlmesh-gateway`, else the spec's `sqlmesh.default_gateway`.
    pub gateway: Gateway,
    /// Environment for every SQLMesh run, so that SQLMesh reaches the warehouse iotctl
    /// loads and reconciles (the rendered config reads these variables).
    pub env: Vec<(String, String)>,
    /// The embedded warehouse's file, absolute, on the duckdb gateway.
    pub duckdb_file: Option<PathBuf>,
}

impl SqlmeshSettings {
    pub fn gateway_name(&self) -> &'static str {
        gateway_name(self.gateway)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub nats: NatsSettings,
    pub risingwave_url: Option<String>,
    pub warehouse_url: Option<String>,
    pub sqlmesh: Option<SqlmeshSettings>,
    pub lock_timeout: std::time::Duration,
}

/// Every read of the environment is in this file: settings, and the secrets RisingWave is
/// handed (`secret_value`).
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A secret's value: from `$ENV`, or from the file named by `$ENV_FILE` (for mounted secrets).
pub fn secret_value(env: &str) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(env) {
        return Ok(value);
    }
    if let Ok(path) = std::env::var(format!("{env}_FILE")) {
        let text =
            std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read ${env}_FILE (`{path}`): {e}"))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    anyhow::bail!("set ${env} or ${env}_FILE")
}

impl Settings {
    pub fn resolve(args: &ConnectionArgs, spec: &Spec) -> anyhow::Result<Settings> {
        let servers = match &args.nats_url {
            Some(urls) => urls
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => spec.nats.servers.clone(),
        };
        let auth = if let Some(path) = &args.nats_creds {
            NatsAuth::Credentials(path.clone())
        } else if let Some(path) = &args.nats_nkey {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read nkey seed file `{}`: {e}", path.display()))?;
            NatsAuth::Nkey(seed.trim().to_string())
        } else if let Some(user) = &args.nats_user {
            let password = env("IOTCTL_NATS_PASSWORD")
                .ok_or_else(|| anyhow::anyhow!("--nats-user needs the password in IOTCTL_NATS_PASSWORD"))?;
            NatsAuth::UserPassword {
                user: user.clone(),
                password,
            }
        } else {
            NatsAuth::None
        };
        let risingwave_url = args.risingwave_url.clone().or_else(|| env(&spec.risingwave.url_env));
        let warehouse_url = args.warehouse_url.clone().or_else(|| {
            // Built from the spec when its password variable is set.
            let wh = &spec.warehouse;
            env(&wh.password_env).map(|password| {
                let host = env("IOTCTL_WAREHOUSE_HOST").unwrap_or_else(|| wh.host.clone());
                let port = env("IOTCTL_WAREHOUSE_PORT").unwrap_or_else(|| wh.port.to_string());
                let user = env("IOTCTL_WAREHOUSE_USER").unwrap_or_else(|| wh.user.clone());
                let database = env("IOTCTL_WAREHOUSE_DATABASE").unwrap_or_else(|| wh.database.clone());
                format!(
                    "postgresql://{}:{}@{host}:{port}/{database}",
                    percent(&user),
                    percent(&password)
                )
            })
        });
        let sqlmesh = match &args.sqlmesh_dir {
            Some(project_dir) => Some(sqlmesh_settings(args, spec, project_dir, warehouse_url.as_deref())?),
            None => None,
        };
        Ok(Settings {
            nats: NatsSettings {
                servers,
                auth,
                tls_ca: args.nats_tls_ca.clone(),
                tls_required: args.nats_tls,
            },
            risingwave_url,
            warehouse_url,
            sqlmesh,
            lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
        })
    }
}

fn sqlmesh_settings(
    args: &ConnectionArgs,
    spec: &Spec,
    project_dir: &std::path::Path,
    warehouse_url: Option<&str>,
) -> anyhow::Result<SqlmeshSettings> {
    let gateway = match args.sqlmesh_gateway.as_deref() {
        None => spec.sqlmesh.default_gateway,
        Some("duckdb") => Gateway::Duckdb,
        Some("postgres") => Gateway::Postgres,
        Some(other) => {
            anyhow::bail!("--sqlmesh-gateway `{other}` is not a gateway of the daily models (known: duckdb, postgres)")
        }
    };
    // SQLMesh runs inside the project directory: anchor relative paths here first.
    let absolute = |path: &std::path::Path| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let binary = match &args.sqlmesh_bin {
        Some(path) if path.components().count() > 1 && path.is_relative() => absolute(path),
        Some(path) => path.clone(),
        None => PathBuf::from("sqlmesh"),
    };
    let project_dir = absolute(project_dir);
    let duckdb_file = (gateway == Gateway::Duckdb).then(|| project_dir.join(&spec.sqlmesh.duckdb_path));
    let env = match (&duckdb_file, warehouse_url) {
        (Some(file), _) => vec![(DUCKDB_PATH_ENV.to_string(), file.display().to_string())],
        (None, Some(url)) => warehouse_env(url, spec)?,
        (None, None) => Vec::new(),
    };
    Ok(SqlmeshSettings {
        project_dir,
        binary,
        gateway,
        env,
        duckdb_file,
    })
}

/// The variable the rendered SQLMesh config reads the DuckDB file's path from.
pub const DUCKDB_PATH_ENV: &str = "IOTCTL_DUCKDB_PATH";

/// The variables the rendered SQLMesh config reads its PostgreSQL connection from, taken
/// from the warehouse URL iotctl itself uses: one warehouse, however it was configured.
fn warehouse_env(url: &str, spec: &Spec) -> anyhow::Result<Vec<(String, String)>> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| anyhow::anyhow!("the warehouse URL {} is not a PostgreSQL URL: {e}", redact_url(url)))?;
    let mut env = Vec::new();
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        env.push(("IOTCTL_WAREHOUSE_HOST".to_string(), host.clone()));
    }
    if let Some(port) = config.get_ports().first() {
        env.push(("IOTCTL_WAREHOUSE_PORT".to_string(), port.to_string()));
    }
    if let Some(user) = config.get_user() {
        env.push(("IOTCTL_WAREHOUSE_USER".to_string(), user.to_string()));
    }
    if let Some(database) = config.get_dbname() {
        env.push(("IOTCTL_WAREHOUSE_DATABASE".to_string(), database.to_string()));
    }
    if let Some(password) = config.get_password() {
        env.push((
            spec.warehouse.password_env.clone(),
            String::from_utf8_lossy(password).into_owned(),
        ));
    }
    if let Some(mode) = url_sslmode(url) {
        env.push(("IOTCTL_WAREHOUSE_SSLMODE".to_string(), mode));
    }
    Ok(env)
}

/// The `sslmode` a URL names explicitly (tokio-postgres reports its default otherwise).
fn url_sslmode(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("sslmode="))
        .map(str::to_string)
}

impl Settings {
    /// The one warehouse the batch path uses in this run: replay's load, reconcile's batch leg
    /// and SQLMesh's models. PostgreSQL when a warehouse URL is configured, else the SQLMesh
    /// project's embedded DuckDB file; a mix of the two is refused.
    pub fn batch_warehouse(&self, spec: &Spec) -> anyhow::Result<BatchSource> {
        let gateway = self.sqlmesh.as_ref().map(|s| s.gateway);
        match (&self.warehouse_url, gateway) {
            (Some(_), Some(Gateway::Duckdb)) => anyhow::bail!(
                "the warehouse is PostgreSQL (a warehouse URL is set: --warehouse-url, IOTCTL_WAREHOUSE_URL or ${}) but SQLMesh's gateway is duckdb: the load and reconcile would use one warehouse and the daily models another; pass --sqlmesh-gateway postgres, or unset the warehouse URL to use the embedded DuckDB",
                spec.warehouse.password_env
            ),
            (Some(url), _) => Ok(BatchSource::Postgres(url.clone())),
            (None, Some(Gateway::Duckdb)) => {
                let sqlmesh = self.sqlmesh.as_ref().expect("gateway comes from it");
                Ok(BatchSource::Duckdb(DuckDb {
                    python: python_beside(&sqlmesh.binary),
                    database: sqlmesh.duckdb_file.clone().expect("set on the duckdb gateway"),
                }))
            }
            (None, Some(_)) => anyhow::bail!(
                "SQLMesh's gateway is postgres but no warehouse is configured: set --warehouse-url, IOTCTL_WAREHOUSE_URL or ${}",
                spec.warehouse.password_env
            ),
            (None, None) => anyhow::bail!(
                "no warehouse: set --warehouse-url, IOTCTL_WAREHOUSE_URL or ${}, or --sqlmesh-dir with the duckdb gateway for the embedded one",
                spec.warehouse.password_env
            ),
        }
    }

    /// Refuses a run whose warehouse and SQLMesh gateway differ, when both are configured.
    pub fn check_one_warehouse(&self, spec: &Spec) -> anyhow::Result<()> {
        if self.warehouse_url.is_some() && self.sqlmesh.is_some() {
            self.batch_warehouse(spec)?;
        }
        Ok(())
    }
}

/// Percent-encodes a URL userinfo part.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> Spec {
        crate::spec::load::parse("factory.yaml", include_str!("../examples/factory.yaml").as_bytes())
            .unwrap()
            .spec
    }

    /// SQLMesh reaches the warehouse iotctl uses: every part of the URL, sslmode included,
    /// becomes a variable the rendered config reads; the password under the spec's name.
    #[test]
    fn secrets_come_from_env_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        // SAFETY: these variable names belong to this test alone; no other thread reads them.
        unsafe {
            std::env::set_var("IOTCTL_TEST_SECRET_A", "from-env");
            std::env::set_var("IOTCTL_TEST_SECRET_B_FILE", &file);
        }
        assert_eq!(secret_value("IOTCTL_TEST_SECRET_A").unwrap(), "from-env");
        assert_eq!(secret_value("IOTCTL_TEST_SECRET_B").unwrap(), "from-file");
        assert!(secret_value("IOTCTL_TEST_SECRET_NONE").is_err());
    }

    #[test]
    fn the_warehouse_url_becomes_sqlmesh_variables() {
        let spec = factory();
        let env = warehouse_env(
            "postgresql://loader:s%40cret@db.internal:6543/telemetry?sslmode=require",
            &spec,
        )
        .unwrap();
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("IOTCTL_WAREHOUSE_HOST"), Some("db.internal"));
        assert_eq!(get("IOTCTL_WAREHOUSE_PORT"), Some("6543"));
        assert_eq!(get("IOTCTL_WAREHOUSE_USER"), Some("loader"));
        assert_eq!(get("IOTCTL_WAREHOUSE_DATABASE"), Some("telemetry"));
        assert_eq!(get(&spec.warehouse.password_env), Some("s@cret"));
        assert_eq!(get("IOTCTL_WAREHOUSE_SSLMODE"), Some("require"));
        let plain = warehouse_env("postgresql://loader@db:5432/telemetry", &spec).unwrap();
        assert!(
            !plain.iter().any(|(k, _)| k == "IOTCTL_WAREHOUSE_SSLMODE"),
            "the spec's default applies"
        );
    }

    #[test]
    fn one_warehouse_per_run() {
        let spec = factory();
        let sqlmesh = |gateway| SqlmeshSettings {
            project_dir: PathBuf::from("/p"),
            binary: PathBuf::from("sqlmesh"),
            gateway,
            env: Vec::new(),
            duckdb_file: (gateway == Gateway::Duckdb).then(|| PathBuf::from("/p/iotctl.duckdb")),
        };
        let settings = |url: Option<&str>, gateway: Option<Gateway>| Settings {
            nats: NatsSettings {
                servers: Vec::new(),
                auth: NatsAuth::None,
                tls_ca: None,
                tls_required: false,
            },
            risingwave_url: None,
            warehouse_url: url.map(str::to_string),
            sqlmesh: gateway.map(sqlmesh),
            lock_timeout: std::time::Duration::from_secs(1),
        };
        let url = Some("postgresql://u@h/d");
        let Err(mixed) = settings(url, Some(Gateway::Duckdb)).batch_warehouse(&spec) else {
            panic!("a warehouse URL with the duckdb gateway must be refused");
        };
        assert!(mixed.to_string().contains("SQLMesh's gateway is duckdb"), "{mixed}");
        assert!(settings(url, Some(Gateway::Duckdb)).check_one_warehouse(&spec).is_err());
        assert!(matches!(
            settings(url, Some(Gateway::Postgres)).batch_warehouse(&spec),
            Ok(BatchSource::Postgres(_))
        ));
        assert!(matches!(
            settings(None, Some(Gateway::Duckdb)).batch_warehouse(&spec),
            Ok(BatchSource::Duckdb(_))
        ));
        assert!(settings(None, Some(Gateway::Postgres)).batch_warehouse(&spec).is_err());
        assert!(settings(url, None).check_one_warehouse(&spec).is_ok());
    }
}
