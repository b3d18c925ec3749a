//! Connection settings, resolved once: a flag beats env (clap reads both), env beats the spec.
//! Passwords come only from env or files, never flags (flags show in `ps`).

use std::path::PathBuf;

use crate::cli::ConnectionArgs;
use crate::error::redact_url;
use crate::spec::Spec;

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
    pub gateway: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub nats: NatsSettings,
    pub risingwave_url: Option<String>,
    pub warehouse_url: Option<String>,
    pub sqlmesh: Option<SqlmeshSettings>,
    pub lock_timeout: std::time::Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
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
        let sqlmesh = args.sqlmesh_dir.clone().map(|project_dir| SqlmeshSettings {
            project_dir,
            // SQLMesh runs inside the project directory: anchor a relative path here first.
            binary: match &args.sqlmesh_bin {
                Some(path) if path.components().count() > 1 && path.is_relative() => std::env::current_dir()
                    .map(|d| d.join(path))
                    .unwrap_or_else(|_| path.clone()),
                Some(path) => path.clone(),
                None => PathBuf::from("sqlmesh"),
            },
            gateway: args.sqlmesh_gateway.clone(),
        });
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
