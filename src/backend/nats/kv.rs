//! NATS KV buckets: opened or created on first use, and a ledger of JSON records (one per
//! key), which replays checkpoint to and `replay list`/`show` read from any machine.

use std::marker::PhantomData;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, kv, stream};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Opens `bucket`, creating it (file storage, one revision per key) when missing.
pub async fn open_bucket(js: &jetstream::Context, bucket: &str, max_age: Duration) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: bucket.into(),
        history: 1,
        max_age,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another process created it between our get and create.
        Err(_) => js
            .get_key_value(bucket)
            .await
            .with_context(|| format!("cannot open the KV bucket `{bucket}`")),
    }
}

/// One JSON record per key in a KV bucket.
pub struct Ledger<T> {
    store: kv::Store,
    what: &'static str,
    record: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Ledger<T> {
    /// Opens the ledger in `bucket`; `what` names it in errors (`the replay ledger`).
    pub async fn open(
        js: &jetstream::Context,
        bucket: &str,
        max_age: Duration,
        what: &'static str,
    ) -> anyhow::Result<Self> {
        let store = open_bucket(js, bucket, max_age)
            .await
            .with_context(|| format!("cannot open {what}"))?;
        Ok(Ledger {
            store,
            what,
            record: PhantomData,
        })
    }

    /// The ledger in `bucket` when the bucket exists; never creates it (for readers that
    /// must not change the server, such as `status`).
    pub async fn open_existing(js: &jetstream::Context, bucket: &str, what: &'static str) -> Option<Self> {
        let store = js.get_key_value(bucket).await.ok()?;
        Some(Ledger {
            store,
            what,
            record: PhantomData,
        })
    }

    pub async fn save(&self, key: &str, record: &T) -> anyhow::Result<()> {
        self.store
            .put(key, serde_json::to_vec(record)?.into())
            .await
            .with_context(|| format!("cannot write to {}", self.what))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<T>> {
        let Some(value) = self
            .store
            .get(key)
            .await
            .with_context(|| format!("cannot read {}", self.what))?
        else {
            return Ok(None);
        };
        let record =
            serde_json::from_slice(&value).with_context(|| format!("unreadable record `{key}` in {}", self.what))?;
        Ok(Some(record))
    }

    /// Every record, in key order.
    pub async fn list(&self) -> anyhow::Result<Vec<T>> {
        let mut keys: Vec<String> = Vec::new();
        let mut stream = self
            .store
            .keys()
            .await
            .with_context(|| format!("cannot list {}", self.what))?;
        while let Some(key) = stream.next().await {
            keys.push(key?);
        }
        keys.sort();
        let mut records = Vec::new();
        for key in keys {
            if let Some(record) = self.get(&key).await? {
                records.push(record);
            }
        }
        Ok(records)
    }
}
