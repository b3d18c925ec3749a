//! A PostgreSQL-protocol connection (the warehouse and RisingWave both speak it).

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

use crate::error::redact_url;

/// Connects and drives the connection on a background task.
pub async fn connect(url: &str, what: &str) -> anyhow::Result<Client> {
    let connecting = tokio_postgres::connect(url, NoTls);
    let (client, connection) = tokio::time::timeout(std::time::Duration::from_secs(10), connecting)
        .await
        .map_err(|_| anyhow::anyhow!("timed out after 10s"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("cannot connect to {what} at {}", redact_url(url)))?;
    tokio::spawn(async move {
        // Errors surface on the next query; nothing to report here.
        let _ = connection.await;
    });
    Ok(client)
}
