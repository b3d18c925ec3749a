//! NATS JetStream, every piece iotctl talks to: the connection, streams (observe, execute
//! stream changes), the apply lock, KV ledgers, the ordered reader and the publish window.
//! No decisions: those are in `plan::nats` and the jobs.

pub mod kv;
pub mod lock;
pub mod ordered_read;
pub mod publish_window;
pub mod source_read;
pub mod streams;

pub use lock::{LOCK_BUCKET, Lock};
pub use streams::{observed_from_info, server_config};

use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, stream};
use futures::TryStreamExt;
use streams::storage_hint;

use crate::plan::Change;
use crate::plan::nats::ObservedStream;
use crate::settings::{NatsAuth, NatsSettings};

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
}
