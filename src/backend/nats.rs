//! NATS JetStream: observe streams, execute stream changes, and the apply lock. No decisions.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, kv, stream};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::plan::Change;
use crate::plan::nats::{ObservedStream, Retention, StreamState, managed_metadata};
use crate::settings::{NatsAuth, NatsSettings};
use crate::spec::duration::Duration;
use crate::spec::model::{Compression, Discard, Storage};
use crate::spec::names::StreamName;
use crate::spec::streams::{StreamConfig, StreamRole};
use crate::time::unix_now;

pub const LOCK_BUCKET: &str = "iotctl_locks";
/// A lock older than this is expired by the server even if its holder never released it.
const LOCK_TTL: StdDuration = StdDuration::from_secs(600);

pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

impl Nats {
    pub async fn connect(settings: &NatsSettings) -> anyhow::Result<Nats> {
        let mut options = async_nats::ConnectOptions::new()
            .name("iotctl")
            .connection_timeout(StdDuration::from_secs(5))
            .max_reconnects(None)
            // Room for pipelined publishes: the connection task drains commands in batches.
            .client_capacity(65_536);
        match &settings.auth {
            NatsAuth::None => {}
            NatsAuth::Credentials(path) => {
                options = options
                    .credentials_file(path)
                    .await
                    .with_context(|| format!("cannot read NATS credentials `{}`", path.display()))?;
            }
            NatsAuth::UserPassword { user, password } => {
                options = options.user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Nkey(seed) => options = options.nkey(seed.clone()),
        }
        if let Some(ca) = &settings.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        if settings.tls_required {
            options = options.require_tls(true);
        }
        let addresses: Vec<async_nats::ServerAddr> = settings
            .servers
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .with_context(|| format!("invalid NATS URL in {}", settings.display()))?;
        let client = tokio::time::timeout(StdDuration::from_secs(10), options.connect(addresses))
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("cannot connect to NATS at {}", settings.display()))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(StdDuration::from_secs(10))
            .build(client.clone());
        Ok(Nats { client, js })
    }

    /// Every stream on the server, normalised.
    pub async fn observe(&self) -> anyhow::Result<Vec<ObservedStream>> {
        let infos: Vec<stream::Info> = self
            .js
            .streams()
            .try_collect()
            .await
            .context("cannot list JetStream streams (is JetStream enabled?)")?;
        Ok(infos.into_iter().map(observed_from_info).collect())
    }

    /// Executes one NATS change of the plan.
    pub async fn execute(&self, change: &Change, pipeline: &str) -> anyhow::Result<()> {
        match change {
            Change::CreateStream { name, config } => {
                self.js
                    .create_stream(server_config(config, pipeline))
                    .await
                    .map_err(storage_hint)
                    .with_context(|| format!("failed to create stream `{name}`"))?;
            }
            Change::UpdateStream { name, to, .. } => {
                self.js
                    .update_stream(server_config(to, pipeline))
                    .await
                    .with_context(|| format!("failed to update stream `{name}`"))?;
            }
            Change::ReplaceStream { name, to, .. } => {
                self.delete_if_present(name).await?;
                self.js
                    .create_stream(server_config(to, pipeline))
                    .await
                    .with_context(|| format!("failed to recreate stream `{name}`"))?;
            }
            Change::DeleteStream { name, .. } => self.delete_if_present(name).await?,
            Change::ResetConsumer { stream, consumer, .. } => self.delete_consumer_if_present(stream, consumer).await?,
            other => bail!("not a NATS change: {other:?}"),
        }
        Ok(())
    }

    async fn delete_if_present(&self, name: &str) -> anyhow::Result<()> {
        match self.js.delete_stream(name).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to delete stream `{name}`")),
        }
    }

    /// Deletes a durable consumer; one that does not exist (or a stream that does not) is
    /// already what the caller wants.
    pub async fn delete_consumer_if_present(&self, stream: &str, consumer: &str) -> anyhow::Result<()> {
        let stream = match self.js.get_stream(stream).await {
            Ok(stream) => stream,
            Err(e) if e.to_string().contains("not found") => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read stream `{stream}`")),
        };
        match stream.delete_consumer(consumer).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to delete consumer `{consumer}`")),
        }
    }

    async fn lock_bucket(&self) -> anyhow::Result<kv::Store> {
        if let Ok(store) = self.js.get_key_value(LOCK_BUCKET).await {
            return Ok(store);
        }
        let config = kv::Config {
            bucket: LOCK_BUCKET.into(),
            history: 1,
            max_age: LOCK_TTL,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        match self.js.create_key_value(config).await {
            Ok(store) => Ok(store),
            // Another apply created it between our get and create.
            Err(_) => self
                .js
                .get_key_value(LOCK_BUCKET)
                .await
                .context("cannot open the iotctl lock bucket"),
        }
    }

    /// Takes the pipeline's apply lock, waiting up to `timeout` for another holder. A lock
    /// left by a dead process on this host is taken over at once.
    pub async fn lock(&self, pipeline: &str, timeout: StdDuration) -> anyhow::Result<Lock> {
        let store = self.lock_bucket().await?;
        let me = Holder::current();
        let value: bytes::Bytes = serde_json::to_vec(&me)?.into();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match store.create(pipeline, value.clone()).await {
                Ok(revision) => {
                    return Ok(Lock {
                        store,
                        key: pipeline.to_string(),
                        revision,
                    });
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).context("cannot take the apply lock"),
            }
            let Some(entry) = store.entry(pipeline).await.context("cannot read the apply lock")? else {
                continue;
            };
            let holder: Option<Holder> = serde_json::from_slice(&entry.value).ok();
            if let Some(holder) = &holder
                && holder.is_dead_here()
                && let Ok(revision) = store.update(pipeline, value.clone(), entry.revision).await
            {
                return Ok(Lock {
                    store,
                    key: pipeline.to_string(),
                    revision,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let who = holder.map_or_else(
                    || "another process".to_string(),
                    |h| format!("pid {} on {} since {}", h.pid, h.host, h.since),
                );
                bail!(
                    "another apply of pipeline `{pipeline}` is running ({who}); waited {}s",
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }
}

/// JetStream reserves `max_bytes` up front; say what to do when the server cannot.
fn storage_hint<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    let text = error.to_string();
    let error = anyhow::Error::new(error);
    if text.contains("10047") || text.contains("insufficient storage") {
        error.context("the server cannot reserve the stream's max_bytes: lower max_bytes in the spec or raise the server's JetStream max_store")
    } else {
        error
    }
}

/// Who holds an apply lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    since: String,
}

impl Holder {
    fn current() -> Holder {
        Holder {
            host: hostname(),
            pid: std::process::id(),
            since: crate::time::rfc3339_secs(unix_now()),
        }
    }

    fn is_dead_here(&self) -> bool {
        self.host == hostname()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// A held apply lock; release it explicitly (a crashed holder's lock is reclaimed, see `lock`).
pub struct Lock {
    store: kv::Store,
    key: String,
    revision: u64,
}

impl Lock {
    pub async fn release(self) -> anyhow::Result<()> {
        self.store
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
            .context("cannot release the apply lock")?;
        Ok(())
    }
}

/// The server config for a desired stream, with iotctl's metadata.
pub fn server_config(config: &StreamConfig, pipeline: &str) -> stream::Config {
    stream::Config {
        name: config.name.to_string(),
        description: config.description.clone(),
        subjects: config.subjects.clone(),
        retention: stream::RetentionPolicy::Limits,
        max_age: StdDuration::from_millis(config.max_age.as_millis()),
        max_bytes: config.max_bytes,
        max_messages: config.max_msgs,
        discard: match config.discard {
            Discard::Old => stream::DiscardPolicy::Old,
            Discard::New => stream::DiscardPolicy::New,
        },
        storage: match config.storage {
            Storage::File => stream::StorageType::File,
            Storage::Memory => stream::StorageType::Memory,
        },
        num_replicas: usize::from(config.replicas),
        duplicate_window: StdDuration::from_millis(config.duplicate_window.as_millis()),
        compression: Some(match config.compression {
            Compression::None => stream::Compression::None,
            Compression::S2 => stream::Compression::S2,
        }),
        metadata: managed_metadata(pipeline, config).into_iter().collect(),
        ..Default::default()
    }
}

/// Folds server-filled defaults into the fields iotctl manages.
pub fn observed_from_info(info: stream::Info) -> ObservedStream {
    let c = info.config;
    let metadata: BTreeMap<String, String> = c
        .metadata
        .into_iter()
        .filter(|(k, _)| !k.starts_with("_nats"))
        .collect();
    let role = match metadata.get(crate::plan::nats::META_ROLE).map(String::as_str) {
        Some("replay") => StreamRole::Replay,
        Some("dead_letter") => StreamRole::DeadLetter,
        Some("alerts") => StreamRole::Alerts,
        _ => StreamRole::Telemetry,
    };
    let limit = |v: i64| if v <= 0 { -1 } else { v };
    let timestamp = |t: time::OffsetDateTime| (t.unix_timestamp() > 0).then_some(t.unix_timestamp());
    ObservedStream {
        config: StreamConfig {
            role,
            name: StreamName::new(c.name),
            description: c.description.filter(|d| !d.is_empty()),
            subjects: c.subjects,
            max_age: Duration::from_millis(c.max_age.as_millis() as u64),
            max_bytes: limit(c.max_bytes),
            max_msgs: limit(c.max_messages),
            discard: match c.discard {
                stream::DiscardPolicy::New => Discard::New,
                _ => Discard::Old,
            },
            storage: match c.storage {
                stream::StorageType::Memory => Storage::Memory,
                _ => Storage::File,
            },
            replicas: c.num_replicas.max(1) as u8,
            duplicate_window: if c.duplicate_window.is_zero() {
                Duration::from_secs(120)
            } else {
                Duration::from_millis(c.duplicate_window.as_millis() as u64)
            },
            compression: match c.compression {
                Some(stream::Compression::S2) => Compression::S2,
                _ => Compression::None,
            },
        },
        retention: match c.retention {
            stream::RetentionPolicy::Interest => Retention::Interest,
            stream::RetentionPolicy::WorkQueue => Retention::WorkQueue,
            _ => Retention::Limits,
        },
        metadata,
        state: StreamState {
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_timestamp: if info.state.messages > 0 {
                timestamp(info.state.first_timestamp)
            } else {
                None
            },
            last_timestamp: if info.state.messages > 0 {
                timestamp(info.state.last_timestamp)
            } else {
                None
            },
            consumers: info.state.consumer_count,
        },
    }
}
