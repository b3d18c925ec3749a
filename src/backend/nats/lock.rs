//! The apply lock: one KV entry per pipeline, so two applies never interleave. A lock left by
//! a dead process on this host is taken over at once; any other expires after `LOCK_TTL`.

use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use super::Nats;
use crate::time::unix_now;

pub const LOCK_BUCKET: &str = "iotctl_locks";
/// A lock older than this is expired by the server even if its holder never released it.
const LOCK_TTL: StdDuration = StdDuration::from_secs(600);

impl Nats {
    /// Takes the pipeline's apply lock, waiting up to `timeout` for another holder. A lock
    /// left by a dead process on this host is taken over at once.
    pub async fn lock(&self, pipeline: &str, timeout: StdDuration) -> anyhow::Result<Lock> {
        let store = super::kv::open_bucket(&self.js, LOCK_BUCKET, LOCK_TTL).await?;
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
